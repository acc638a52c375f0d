# WARD-OB-002: production environments are alerted before their certificates expire.
package ward.controls.WARD_OB_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-OB-002",
	"title": "Production has a certificate-expiry alert",
	"domain": "observability",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "An expired certificate takes a hospital application offline for every user at once; renewal breaks quietly (DNS, rate limits), so expiry must alert days ahead.",
	"remediation": "Render a PrometheusRule alerting on `certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 86400` for the environment, or one platform-wide.",
	"hipaa": "45 CFR 164.312(e)(1) Transmission security",
}

alerts(o) := [r | some g in object.get(o.spec, "groups", []); some r in object.get(g, "rules", []); r.alert]

matches(r) if contains(lower(r.alert), "cert")

matches(r) if contains(sprintf("%v", [r.expr]), "certificate_expiration")

# Whether the rule object has a matching alert, asked once per object: a stack's rule
# object carries an alert per environment, and its origin every address of the stack.
alerting(o) if {
	some r in alerts(o)
	matches(r)
}

covered contains address if {
	some i in object.get(input.objectsByKind, "PrometheusRule", [])
	alerting(input.objects[i])
	some address in object.get(lib.origin(i), "addresses", ["*"])
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	lib.is_rendered(env)
	not env.address in covered
	not "*" in covered
	f := lib.env_finding(env, "hosts", sprintf("%s has no PrometheusRule alert for certificate expiry", [env.address]))
}
