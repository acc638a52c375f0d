# WARD-DG-008: a waiver names a control that exists.
package ward.controls.WARD_DG_008

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-008",
	"title": "Waivers name a known control",
	"domain": "deployment-governance",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"waivable": false,
	"rationale": "A waiver for a misspelt control waives nothing, while its authors believe the risk is accepted.",
	"remediation": "Use an ID from `ward controls`, or `policy:<package>.<rule>` for the estate's own policies.",
}

findings contains f if {
	some w in input.waivers
	not w.control in input.controls
	not startswith(w.control, "policy:")
	f := lib.estate_finding(w, "control", sprintf("waiver %s names %s, which is not a control", [w.name, w.control]))
}
