# WARD-IA-001: nobody both operates the platform and reviews its security.
package ward.controls.WARD_IA_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-001",
	"title": "Separation of duties: platform-ops and security-reviewer",
	"domain": "identity-and-access",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "A security reviewer approves production changes and waivers made by platform operators; one person holding both roles approves their own work.",
	"remediation": "Give the person only one of `platform-ops` and `security-reviewer`; add another reviewer if needed.",
	"hipaa": "45 CFR 164.308(a)(4)(ii)(B) Access authorization",
}

findings contains f if {
	some p in lib.people
	"platform-ops" in p.roles
	"security-reviewer" in p.roles
	f := lib.estate_finding(p, "roles", sprintf("%s holds both platform-ops and security-reviewer", [p.name]))
}
