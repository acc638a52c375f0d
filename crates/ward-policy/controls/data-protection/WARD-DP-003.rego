# WARD-DP-003: immutable-posture backups on a local folder cannot be immutable.
package ward.controls.WARD_DP_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-003",
	"title": "Tier-1 and tier-2 backups are not kept only in a local folder",
	"domain": "data-protection",
	"severity": "warn",
	"reads": "estate",
	"applies": {"tiers": [1, 2]},
	"rationale": "A local store is for trying Ward: it has no object lock, no versioning and no copy in another region, so it cannot meet a tier-1 or tier-2 posture.",
	"remediation": "Add an S3 object store with object lock and versioning and set it as the environment's `objectStore`.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.immutableCopies
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.type == "local"
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier %d but backs up to local folder store %s", [env.address, env.tier, s.name]))
}
