# WARD-DP-011: PHI backups stay recoverable if every DBA key is lost.
package ward.controls.WARD_DP_011

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-011",
	"title": "The platform has a break-glass recipient when it holds PHI",
	"domain": "data-protection",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Backups are encrypted to the DBAs' keys; if those are lost or the people gone, an offline break-glass key is what keeps the backups restorable.",
	"remediation": "Set `breakGlassRecipient: age1…` on the platform and keep its identity offline, split between two custodians.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(C) Emergency mode operation plan",
}

findings contains f if {
	some w in input.workloads
	w.classification.dataSensitivity == "phi"
	object.get(input.platform, "breakGlassRecipient", null) == null
	f := lib.estate_finding(input.platform, "name", sprintf("the platform holds PHI (workload %s) but declares no breakGlassRecipient", [w.name]))
}
