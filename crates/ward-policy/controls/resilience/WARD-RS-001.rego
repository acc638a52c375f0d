# WARD-RS-001: an environment declares at least the replicas its tier demands.
package ward.controls.WARD_RS_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-001",
	"title": "Declared replicas meet the tier minimum",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"stages": ["production"]},
	"rationale": "Tier-1 and tier-2 production needs at least two Odoo replicas so that a node loss or a rolling update does not take the service down.",
	"remediation": "Raise `replicas` to the tier minimum shown by `ward explain`, or remove it to get the minimum.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(C) Emergency mode operation plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.replicas != null
	env.replicas < env.posture.minReplicas
	f := lib.env_finding(env, "replicas", sprintf("%s is tier %d and needs at least %d replicas, but declares %d", [env.address, env.tier, env.posture.minReplicas, env.replicas]))
}
