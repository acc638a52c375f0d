# WARD-IA-006: security reviewers can sign approvals.
package ward.controls.WARD_IA_006

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-006",
	"title": "Security reviewers have an SSH key for signed approvals",
	"domain": "identity-and-access",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Production approvals are signed with the reviewer's SSH key so the ledger proves who approved; a reviewer without a key can only approve unsigned.",
	"remediation": "Add `keys.ssh` (the one line of the reviewer's `.pub` file) to the person.",
	"hipaa": "45 CFR 164.312(d) Person or entity authentication",
}

findings contains f if {
	some p in lib.people
	"security-reviewer" in p.roles
	not p.sshKey
	f := lib.estate_finding(p, "name", sprintf("security reviewer %s has no SSH key to sign approvals", [p.name]))
}
