# WARD-DP-002: backups that must be immutable go to an object store with object lock.
package ward.controls.WARD_DP_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-002",
	"title": "Tier-1 and tier-2 backups go to an S3 store with object lock",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {"tiers": [1, 2]},
	"rationale": "Ransomware and mistaken retention jobs delete backups first; object lock makes a snapshot undeletable until its retention ends, which tier-1 and tier-2 postures require (immutable copies).",
	"remediation": "Enable `objectLock: { mode: compliance, days: 35 }` on the object store, or point the environment's `objectStore` at a store that has it.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.immutableCopies
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.type == "s3"
	s.objectLock == null
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier %d but its object store %s has no object lock", [env.address, env.tier, s.name]))
}
