# WARD-DP-002: backups that must be immutable go to an S3 store with object lock.
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
	"rationale": "Ransomware and mistaken retention jobs delete backups first; object lock makes a snapshot undeletable until its retention ends, which tier-1 and tier-2 postures require (immutable copies). A local folder cannot hold a lock at all.",
	"remediation": "Point the environment's `objectStore` at an S3 store with `objectLock: { mode: compliance, days: 35 }` (or enable the lock on the store it uses); keep local folder stores for tier 3 and for trying Ward (`--object-store <local store>`).",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

# Why a store cannot hold an immutable copy, if it cannot.
shortfall(s) := sprintf("backs up to local folder store %s, which cannot hold an object lock", [s.name]) if {
	s.type != "s3"
}

shortfall(s) := sprintf("its object store %s has no object lock", [s.name]) if {
	s.type == "s3"
	object.get(s, "objectLock", null) == null
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.immutableCopies
	some s in input.platform.objectStores
	s.name == env.objectStore
	msg := shortfall(s)
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier %d but %s", [env.address, env.tier, msg]))
}
