# WARD-RS-008: every integration says what happens when the partner is down.
package ward.controls.WARD_RS_008

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-008",
	"title": "Integrations declare a failure behaviour",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "When a clearinghouse or identity provider fails, Odoo must queue, degrade or block on purpose; undeclared, it does whichever the code happens to do, usually losing messages.",
	"remediation": "Add `onFailure: queue | degrade | block` to the integration.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(C) Emergency mode operation plan",
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	object.get(i, "onFailure", null) == null
	f := lib.part_finding(w, i, "name", sprintf("integration %s of %s declares no onFailure behaviour", [i.name, w.name]))
}
