# WARD-RS-002: the rendered Odoo web Deployment runs the tier's replicas.
package ward.controls.WARD_RS_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-002",
	"title": "Rendered Odoo web replicas meet the tier minimum",
	"domain": "resilience",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "What runs is what the rendered Deployment says; a hand edit or an overlay that drops it to one replica undoes the tier's availability.",
	"remediation": "Render the web Deployment with `replicas` at least the environment's minimum (and keep HPA minimums there too).",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(C) Emergency mode operation plan",
}

findings contains f if {
	some item in lib.objects({"Deployment", "StatefulSet"}, metadata.applies)
	lib.odoo_web(item.object)
	minimum := item.origin.minReplicas
	replicas := running(item)
	replicas < minimum
	f := lib.object_finding(item, sprintf("%s %s runs %d Odoo web replica(s); tier %d needs %d", [item.object.kind, item.object.metadata.name, replicas, item.origin.tier, minimum]))
}

# The replicas a web Deployment runs at the least: with an HPA scaling it, the HPA's
# `minReplicas` (Ward then renders no `replicas`, so that Argo CD does not undo the HPA's
# scaling); without one, the Deployment's own `replicas`.
# Only the HPAs of the object's own namespace are visited: an HPA scales a workload of
# its namespace, and scanning every HPA of the estate for every Deployment is quadratic.
running(item) := n if {
	some i in object.get(input.objectsByNamespace, object.get(item.object.metadata, "namespace", ""), [])
	hpa := input.objects[i]
	hpa.kind == "HorizontalPodAutoscaler"
	lib.applies(metadata.applies, lib.origin(i))
	hpa.spec.scaleTargetRef.kind == item.object.kind
	hpa.spec.scaleTargetRef.name == item.object.metadata.name
	n := object.get(hpa.spec, "minReplicas", 1)
} else := object.get(item.object.spec, "replicas", 1)
