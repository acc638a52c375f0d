# WARD-DG-006: a waiver past its expiry is a finding, and waives nothing.
package ward.controls.WARD_DG_006

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-006",
	"title": "Waivers have not expired",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"waivable": false,
	"rationale": "A waiver accepts a risk for a bounded time; once past its expiry the risk is unaccepted again and must be fixed or re-approved.",
	"remediation": "Fix what the waiver covered and delete the waiver, or have a security reviewer approve a new one.",
	"hipaa": "45 CFR 164.308(a)(8) Evaluation",
}

findings contains f if {
	some w in input.waivers
	w.expires < input.today
	f := object.union(
		lib.estate_finding(w, "expires", sprintf("waiver %s for %s expired on %s", [w.name, w.control, w.expires])),
		{"waiver": w.name},
	)
}
