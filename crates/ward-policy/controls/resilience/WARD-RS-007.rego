# WARD-RS-007: tier-1 backups are copied to another region.
package ward.controls.WARD_RS_007

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-007",
	"title": "Tier-1 backups are replicated to another region",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"tiers": [1]},
	"rationale": "Backups in the same region as the database are lost with it; the tier-1 posture requires a cross-region copy.",
	"remediation": "Set `replicateTo: <store in another region>` on the object store the environment uses.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.crossRegionCopy
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.type == "s3"
	object.get(s, "replicateTo", null) == null
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier 1 but object store %s does not replicate to another region", [env.address, s.name]))
}
