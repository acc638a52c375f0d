# WARD-DP-005: object stores holding tier-1/2 backups keep versions.
package ward.controls.WARD_DP_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-005",
	"title": "Object stores for tier-1 and tier-2 backups have versioning",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {"tiers": [1, 2]},
	"rationale": "S3 object lock requires versioning, and versioning keeps an overwritten manifest recoverable.",
	"remediation": "Set `versioning: true` on the object store (and enable it on the bucket).",
	"hipaa": "45 CFR 164.312(c)(1) Integrity",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	some s in input.platform.objectStores
	s.name == env.objectStore
	s.type == "s3"
	not s.versioning
	f := lib.env_finding(env, "objectStore", sprintf("%s backs up to object store %s, which has no versioning", [env.address, s.name]))
}
