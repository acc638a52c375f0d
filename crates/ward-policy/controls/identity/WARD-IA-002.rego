# WARD-IA-002: every integration names the person who owns its credential.
package ward.controls.WARD_IA_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-002",
	"title": "Integration credentials have an owner",
	"domain": "identity-and-access",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "A partner credential nobody owns is never rotated and never revoked when staff leave; the owner is who the platform calls when it leaks.",
	"remediation": "Add `credentialOwner: <person>` to the integration, naming a person from a Team document.",
	"hipaa": "45 CFR 164.308(a)(3)(ii)(A) Authorization and/or supervision",
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	object.get(i, "credentialOwner", null) == null
	f := lib.part_finding(w, i, "name", sprintf("integration %s of %s has no credentialOwner", [i.name, w.name]))
}
