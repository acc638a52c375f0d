# WARD-DP-008: integrations talk TLS.
package ward.controls.WARD_DP_008

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-008",
	"title": "Integration endpoints use HTTPS",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Claims, identity and document integrations carry PHI and credentials; over plain HTTP both can be read and altered on the way.",
	"remediation": "Use the partner's `https://` endpoint (and health-check URL).",
	"hipaa": "45 CFR 164.312(e)(1) Transmission security",
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	not startswith(lower(i.endpoint), "https://")
	f := lib.part_finding(w, i, "endpoint", sprintf("integration %s of %s uses %s, which is not HTTPS", [i.name, w.name, i.endpoint]))
}

findings contains f if {
	some w in input.workloads
	some i in w.integrations
	url := i.healthCheck.url
	not startswith(lower(url), "https://")
	f := lib.part_finding(w, i, "healthCheck", sprintf("health check of integration %s of %s uses %s, which is not HTTPS", [i.name, w.name, url]))
}
