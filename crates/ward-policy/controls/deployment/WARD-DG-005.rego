# WARD-DG-005: containers run unprivileged.
package ward.controls.WARD_DG_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-005",
	"title": "Containers run as non-root without privilege escalation",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "Odoo needs no privileges; a root or privileged container turns an Odoo remote-code bug into a node compromise that reaches every tenant on it.",
	"remediation": "Set `runAsNonRoot: true` (pod or container), `allowPrivilegeEscalation: false`, and never `privileged: true`.",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

non_root(pod, c) if c.securityContext.runAsNonRoot == true

non_root(pod, c) if {
	pod.securityContext.runAsNonRoot == true
	not c.securityContext.runAsNonRoot == false
}

problems(pod, c) := {p |
	some p in ["runs as root (runAsNonRoot is not true)", "privileged", "allows privilege escalation"]
	problem(pod, c, p)
}

problem(pod, c, "runs as root (runAsNonRoot is not true)") if not non_root(pod, c)

problem(_, c, "privileged") if c.securityContext.privileged == true

problem(_, c, "allows privilege escalation") if not c.securityContext.allowPrivilegeEscalation == false

# The common case, tested first: every container of the estate is visited.
unprivileged(pod, c) if {
	c.securityContext.allowPrivilegeEscalation == false
	not c.securityContext.privileged == true
	non_root(pod, c)
}

findings contains f if {
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	pod := lib.pod_spec(item.object)
	some c in lib.pod_containers(pod)
	not unprivileged(pod, c)
	found := problems(pod, c)
	count(found) > 0
	f := lib.object_finding(item, sprintf("container %s of %s %s: %s", [c.name, item.object.kind, item.object.metadata.name, concat(", ", sort(found))]))
}
