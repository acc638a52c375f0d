# WARD-OB-003: integrations declare a health check.
package ward.controls.WARD_OB_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-OB-003",
	"title": "Integrations declare a health check",
	"domain": "observability",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "A partner outage looks like an Odoo bug to users; probing the partner lets the platform tell them apart and trigger the declared failure behaviour.",
	"remediation": "Add `healthCheck: { url: https://…/health, interval: 1m }` to the integration.",
	"hipaa": "45 CFR 164.308(a)(1)(ii)(D) Information system activity review",
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	object.get(i, "healthCheck", null) == null
	f := lib.part_finding(w, i, "name", sprintf("integration %s of %s has no healthCheck", [i.name, w.name]))
}
