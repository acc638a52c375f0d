# WARD-AS-002: an environment runs on a cluster meant for its hosting model.
package ward.controls.WARD_AS_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-002",
	"title": "Environment runs on a cluster of its hosting model",
	"domain": "architecture-standardization",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Classification decides whether an environment needs its own network and database boundary; pinning a dedicated environment to a shared cluster, or any environment to the recovery cluster, silently undoes that decision.",
	"remediation": "Remove `cluster:` from the environment so Ward places it, or name a cluster whose role matches its hosting model (`dedicated` for dedicated environments).",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

clusters := {c.name: c | some c in input.platform.clusters}

cluster(name) := clusters[name]

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.hosting == "dedicated"
	c := cluster(env.cluster)
	c.role != "dedicated"
	f := lib.env_finding(env, "cluster", sprintf("%s is dedicated but runs on %s cluster %s", [env.address, c.role, c.name]))
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	c := cluster(env.cluster)
	c.role == "recovery"
	env.hosting != "dedicated"
	f := lib.env_finding(env, "cluster", sprintf("%s runs on recovery cluster %s, which is kept for disaster recovery", [env.address, c.name]))
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.hosting == "multi-tenant"
	c := cluster(env.cluster)
	c.role == "dedicated"
	f := lib.env_finding(env, "cluster", sprintf("%s is multi-tenant but runs on dedicated cluster %s", [env.address, c.name]))
}
