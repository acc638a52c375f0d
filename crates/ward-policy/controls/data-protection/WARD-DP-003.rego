# WARD-DP-003: production backups below tier 2 still leave the machine that takes them.
package ward.controls.WARD_DP_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-003",
	"title": "Tier-3 production backups are not kept only in a local folder",
	"domain": "data-protection",
	"severity": "warn",
	"reads": "estate",
	"applies": {"tiers": [3], "stages": ["production"]},
	"rationale": "A local store is for trying Ward: it has no object lock, no versioning and no copy in another region, and is lost with the machine or volume it is on. Tiers 1 and 2 are held to an S3 store with object lock (WARD-DP-002); a tier-3 production environment still needs its backups somewhere that outlives its host.",
	"remediation": "Add an S3 object store (with versioning, ideally object lock) and set it as the environment's `objectStore`.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.type == "local"
	f := lib.env_finding(env, "objectStore", sprintf("%s is tier-3 production but backs up only to local folder store %s", [env.address, s.name]))
}
