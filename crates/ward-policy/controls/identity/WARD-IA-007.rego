# WARD-IA-007: DBAs hold a restore key.
package ward.controls.WARD_IA_007

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-007",
	"title": "DBAs have an age recipient for restores",
	"domain": "identity-and-access",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Backups are encrypted to the DBAs' age recipients; a DBA without one cannot restore, and the organisation depends on the break-glass key alone.",
	"remediation": "Add `keys.age` (the `age1…` line of `age-keygen`) to the person.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(B) Disaster recovery plan",
}

findings contains f if {
	some p in lib.people
	"dba" in p.roles
	not p.ageRecipient
	f := lib.estate_finding(p, "name", sprintf("DBA %s has no age recipient, so cannot decrypt backups", [p.name]))
}
