# WARD-DG-007: a waiver runs at most 180 days.
package ward.controls.WARD_DG_007

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-007",
	"title": "Waivers last at most 180 days",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"waivable": false,
	"rationale": "An open-ended waiver is a permanent exception nobody reviews; 180 days forces the risk back in front of a reviewer at least twice a year.",
	"remediation": "Set `expires` at most 180 days after `created`; renew it with a new approval if still needed.",
	"hipaa": "45 CFR 164.308(a)(8) Evaluation",
}

findings contains f if {
	some w in input.waivers
	w.days > 180
	f := object.union(
		lib.estate_finding(w, "expires", sprintf("waiver %s runs %d days (%s to %s); the maximum is 180", [w.name, w.days, w.created, w.expires])),
		{"waiver": w.name},
	)
}
