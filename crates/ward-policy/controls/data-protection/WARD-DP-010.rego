# WARD-DP-010: production PHI is never copied into development.
package ward.controls.WARD_DP_010

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-010",
	"title": "PHI is not refreshed into development",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {"stages": ["development"]},
	"rationale": "Odoo's neutralization disables mail and crons, not patient records: a development copy of a PHI database puts real patients in the least protected environment.",
	"remediation": "Remove `refreshFrom` from the development environment and seed it with synthetic data, or refresh a `test` environment with its own controls.",
	"hipaa": "45 CFR 164.308(a)(4)(ii)(A) Isolating health care clearinghouse functions",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.dataSensitivity == "phi"
	env.refreshFrom != null
	f := lib.env_finding(env, "refreshFrom", sprintf("%s is a development environment refreshed from %s, which holds PHI", [env.address, env.refreshFrom]))
}
