# WARD-OB-004: workloads name the business services they provide.
package ward.controls.WARD_OB_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-OB-004",
	"title": "Workloads declare their business services",
	"domain": "observability",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Dashboards and incident reports speak of claims and appointments, not pods; without services an outage cannot be reported in the terms the hospital uses.",
	"remediation": "Add `services: [claims, invoicing]` to the workload.",
}

findings contains f if {
	some w in input.workloads
	count(w.services) == 0
	f := lib.workload_finding(w, "name", sprintf("workload %s declares no business services", [w.name]))
}
