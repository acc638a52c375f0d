# WARD-IA-003: integration credentials come from the secret store.
package ward.controls.WARD_IA_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-IA-003",
	"title": "Integration credentials are referenced from a secret store",
	"domain": "identity-and-access",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "A credential that is not in the secret store is copied by hand into pods, where it is neither audited nor rotated.",
	"remediation": "Add `credentialRef: { store: <secret store>, key: <path> }` to the integration.",
	"hipaa": "45 CFR 164.312(d) Person or entity authentication",
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	not i.credentialRef
	f := lib.part_finding(w, i, "name", sprintf("integration %s of %s has no credentialRef", [i.name, w.name]))
}
