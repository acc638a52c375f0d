# WARD-DP-012: an external database's password comes from the secret store.
package ward.controls.WARD_DP_012

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-012",
	"title": "External databases use a password from the secret store",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Backups and Odoo reach an external database with its password; without a secret-store reference it ends up typed into scripts and pods.",
	"remediation": "Add `database.passwordRef: { store: <secret store>, key: <path> }` to the environment.",
	"hipaa": "45 CFR 164.312(d) Person or entity authentication",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.database.external
	not env.database.passwordRef
	f := lib.env_finding(env, "databaseHost", sprintf("%s uses external database %s without a passwordRef", [env.address, env.database.host]))
}
