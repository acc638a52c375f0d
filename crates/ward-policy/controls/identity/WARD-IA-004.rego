# WARD-IA-004: the estate has someone who can approve waivers and production changes.
package ward.controls.WARD_IA_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-004",
	"title": "At least one security reviewer is assigned",
	"domain": "identity-and-access",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Waivers, production approvals and ledger verification need a named security reviewer; without one, security responsibility is assigned to nobody.",
	"remediation": "Give `security-reviewer` to a person in a Team document who does not hold `platform-ops`.",
	"hipaa": "45 CFR 164.308(a)(2) Assigned security responsibility",
}

findings contains f if {
	count(lib.holders("security-reviewer")) == 0
	f := lib.estate_finding(input.platform, "name", "no person in the estate holds security-reviewer")
}
