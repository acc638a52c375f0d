# WARD-AS-005: containers declare CPU and memory requests and a memory limit.
package ward.controls.WARD_AS_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-005",
	"title": "Containers declare resource requests and a memory limit",
	"domain": "architecture-standardization",
	"severity": "warn",
	"reads": "objects",
	"applies": {},
	"rationale": "Without requests the scheduler packs pods blindly and a noisy tenant starves its neighbours; without a memory limit one Odoo worker leak takes the node down with every environment on it.",
	"remediation": "Set `resources.requests.cpu`, `resources.requests.memory` and `resources.limits.memory` on every container (the renderer derives them from `size`).",
}

required := {
	"requests.cpu": ["resources", "requests", "cpu"],
	"requests.memory": ["resources", "requests", "memory"],
	"limits.memory": ["resources", "limits", "memory"],
}

missing(c) := {name | some name, path in required; object.get(c, path, null) == null}

# The common case, tested first: every container of the estate is visited.
complete(c) if {
	c.resources.requests.cpu != null
	c.resources.requests.memory != null
	c.resources.limits.memory != null
}

findings contains f if {
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	some c in lib.containers(item.object)
	not complete(c)
	gaps := missing(c)
	count(gaps) > 0
	f := lib.object_finding(item, sprintf("container %s of %s %s lacks resources %v", [c.name, item.object.kind, item.object.metadata.name, sort(gaps)]))
}
