# WARD-OB-005: Odoo web containers are probed on /web/health.
package ward.controls.WARD_OB_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-OB-005",
	"title": "Odoo web containers probe /web/health",
	"domain": "observability",
	"severity": "warn",
	"reads": "objects",
	"applies": {},
	"rationale": "Without readiness and liveness probes on Odoo's health endpoint, traffic reaches workers that are still loading the registry and hung workers are never restarted.",
	"remediation": "Give the container `readinessProbe` and `livenessProbe` with `httpGet.path: /web/health` on port 8069.",
}

web(c) if {
	lib.is_odoo(c)
	some p in object.get(c, "ports", [])
	p.containerPort == 8069
}

probed(c, kind) if c[kind].httpGet.path == "/web/health"

findings contains f if {
	some item in lib.objects({"Deployment", "StatefulSet"}, metadata.applies)
	lib.odoo_web(item.object)
	some c in lib.containers(item.object)
	web(c)
	some kind in ["readinessProbe", "livenessProbe"]
	not probed(c, kind)
	f := lib.object_finding(item, sprintf("Odoo container %s of %s %s has no %s on /web/health", [c.name, item.object.kind, item.object.metadata.name, kind]))
}
