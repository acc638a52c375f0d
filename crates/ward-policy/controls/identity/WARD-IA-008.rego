# WARD-IA-008: rendered RBAC never grants cluster-admin.
package ward.controls.WARD_IA_008

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-008",
	"title": "No binding grants cluster-admin",
	"domain": "identity-and-access",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "cluster-admin reaches every tenant's secrets and databases; application teams and service accounts get namespaced roles only.",
	"remediation": "Bind a namespaced Role (or `edit`/`view`) instead of `cluster-admin`.",
	"hipaa": "45 CFR 164.308(a)(4)(ii)(B) Access authorization",
}

findings contains f if {
	some item in lib.objects({"RoleBinding", "ClusterRoleBinding"}, metadata.applies)
	item.object.roleRef.name == "cluster-admin"
	f := lib.object_finding(item, sprintf("%s %s grants cluster-admin", [item.object.kind, item.object.metadata.name]))
}
