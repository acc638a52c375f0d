# WARD-RS-003: tier-1 production has somewhere to recover to.
package ward.controls.WARD_RS_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-003",
	"title": "Tier-1 production has a recovery cluster",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"tiers": [1], "stages": ["production"]},
	"rationale": "A tier-1 RTO of hours cannot be met by provisioning a cluster after the region is lost; the standby must already exist.",
	"remediation": "Add a cluster with `role: recovery` (in another region) to the platform.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(B) Disaster recovery plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	object.get(env, "recoveryCluster", null) == null
	f := lib.env_finding(env, "name", sprintf("%s is tier-1 production without a recovery cluster", [env.address]))
}
