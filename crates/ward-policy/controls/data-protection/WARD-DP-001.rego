# WARD-DP-001: PHI never runs in a multi-tenant environment.
package ward.controls.WARD_DP_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-001",
	"title": "PHI is not hosted multi-tenant",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {"hosting": ["multi-tenant"]},
	"rationale": "A multi-tenant environment shares its Odoo processes, database cluster and network with other tenants; protected health information needs its own boundary, in every stage that holds a copy of it.",
	"remediation": "Set `classification.hosting: dedicated` on the workload (or `contractualIsolation: true`), or keep PHI out of the environment and lower its `dataSensitivity`.",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.dataSensitivity == "phi"
	f := lib.env_finding(env, "name", sprintf("%s holds PHI but is hosted multi-tenant", [env.address]))
}
