# WARD-IA-005: a waiver is approved by a security reviewer.
package ward.controls.WARD_IA_005

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-005",
	"title": "Waivers are approved by a security reviewer",
	"domain": "identity-and-access",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"waivable": false,
	"rationale": "A waiver accepts a risk on the organisation's behalf; only the role accountable for security may accept it. A waiver without such an approver covers nothing.",
	"remediation": "Have a person holding `security-reviewer` approve the waiver and name them in `approver`.",
	"hipaa": "45 CFR 164.308(a)(1)(ii)(B) Risk management",
}

findings contains f if {
	some w in input.waivers
	not w.approver in lib.holders("security-reviewer")
	f := object.union(
		lib.estate_finding(w, "approver", sprintf("waiver %s is approved by %s, who does not hold security-reviewer", [w.name, w.approver])),
		{"waiver": w.name},
	)
}
