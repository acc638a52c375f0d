# WARD-DP-004: PHI backups are locked in compliance mode.
package ward.controls.WARD_DP_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-004",
	"title": "PHI backups use object lock in compliance mode",
	"domain": "data-protection",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Governance-mode locks can be lifted by anyone with a special permission, including an attacker holding a stolen admin key; compliance mode cannot be shortened by anyone.",
	"remediation": "Set `objectLock: { mode: compliance, days: 35 }` on the S3 store that holds PHI backups, or point the environment at one that has it (a local folder store cannot hold a lock).",
	"hipaa": "45 CFR 164.312(c)(1) Integrity",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.dataSensitivity == "phi"
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.objectLock.mode == "governance"
	f := lib.estate_finding(s, "objectLock", sprintf("object store %s holds PHI backups of %s under a governance-mode lock", [s.name, env.address]))
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.dataSensitivity == "phi"
	some s in input.platform.objectStores
	s.name == env.objectStore
	object.get(s, "objectLock", null) == null
	f := lib.env_finding(env, "objectStore", sprintf("%s holds PHI but its object store %s has no object lock", [env.address, s.name]))
}
