# WARD-RS-006: tier-1 recovery happens in another region.
package ward.controls.WARD_RS_006

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-006",
	"title": "Tier-1 recovery cluster is in another region",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"tiers": [1], "stages": ["production"]},
	"rationale": "A regional outage takes out every cluster in the region; a standby there recovers nothing.",
	"remediation": "Give the platform a `role: recovery` cluster in a different region from the environment's cluster.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(B) Disaster recovery plan",
}

cluster(name) := c if {
	some c in input.platform.clusters
	c.name == name
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.recoveryCluster != null
	recovery := cluster(env.recoveryCluster)
	recovery.region == cluster(env.cluster).region
	msg := sprintf("%s recovers to %s, in the same region %s as %s", [env.address, recovery.name, recovery.region, env.cluster])
	f := object.union(lib.env_finding(env, "name", msg), {"at": object.get(recovery.at, "region", recovery.at.name)})
}
