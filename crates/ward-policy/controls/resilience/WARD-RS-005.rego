# WARD-RS-005: the cluster spans the zones the tier needs.
package ward.controls.WARD_RS_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-005",
	"title": "Cluster spans the tier's availability zones",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"stages": ["production"]},
	"rationale": "Replicas in one zone fail together; tier 1 needs its replicas and database instances spread over at least two zones.",
	"remediation": "Place the environment on a cluster with enough `zones`, or add zones to its cluster.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(C) Emergency mode operation plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	some c in input.platform.clusters
	c.name == env.cluster
	count(c.zones) < env.posture.minZones
	msg := sprintf("%s needs %d zones but cluster %s has %d", [env.address, env.posture.minZones, c.name, count(c.zones)])
	f := object.union(lib.env_finding(env, "cluster", msg), {"at": object.get(c.at, "zones", c.at.name)})
}
