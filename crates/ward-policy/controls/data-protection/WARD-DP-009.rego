# WARD-DP-009: every route is served over TLS.
package ward.controls.WARD_DP_009

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-009",
	"title": "Routes are served over TLS",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "Odoo session cookies and patient records cross the network on every request; a route without TLS exposes both.",
	"remediation": "Give the IngressRoute a `tls` section (cert-manager certificate), or list every host of the Ingress under `spec.tls[].hosts`.",
	"hipaa": "45 CFR 164.312(e)(1) Transmission security",
}

findings contains f if {
	some item in lib.objects({"IngressRoute"}, metadata.applies)
	not item.object.spec.tls
	f := lib.object_finding(item, sprintf("IngressRoute %s has no tls section", [item.object.metadata.name]))
}

findings contains f if {
	some item in lib.objects({"Ingress"}, metadata.applies)
	tls_hosts := {h | some t in object.get(item.object.spec, "tls", []); some h in object.get(t, "hosts", [])}
	some rule in object.get(item.object.spec, "rules", [])
	not rule.host in tls_hosts
	f := lib.object_finding(item, sprintf("Ingress %s serves %s without TLS", [item.object.metadata.name, object.get(rule, "host", "*")]))
}
