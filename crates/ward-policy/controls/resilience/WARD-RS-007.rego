# WARD-RS-007: tier-1 backups and WAL are copied to another region.
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
	"rationale": "Backups in the same region as the database are lost with it; the tier-1 posture requires a cross-region copy, of Ward's snapshots and of the WAL archive the recovery standby reads and archives to.",
	"remediation": "Set `replicateTo: <store in another region>` on the object store the environment uses and on `rendering.archiveStore`, and give both stores their `region`.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

store(name) := s if {
	some s in input.platform.objectStores
	s.name == name
}

# The problem with a store as a tier-1 copy, if any.
shortfall(s) := sprintf("object store %s does not replicate to another region", [s.name]) if {
	object.get(s, "replicateTo", null) == null
}

shortfall(s) := sprintf("object store %s replicates to %s, in the same region %s", [s.name, s.replicateTo, s.region]) if {
	target := store(s.replicateTo)
	s.region != null
	target.region == s.region
}

shortfall(s) := sprintf("object store %s replicates to %s, which is not an object store of the platform", [s.name, s.replicateTo]) if {
	object.get(s, "replicateTo", null) != null
	not store(s.replicateTo)
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.crossRegionCopy
	s := store(env.objectStore)
	s.type == "s3"
	msg := shortfall(s)
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier 1 but %s", [env.address, msg]))
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.crossRegionCopy
	env.posture.walArchiving
	s := store(input.platform.archiveStore)
	msg := shortfall(s)
	f := object.union(lib.env_finding(env, "name", sprintf("%s is tier 1 but its WAL archive: %s", [env.address, msg])), {"at": object.get(s.at, "replicateTo", s.at.name)})
}
