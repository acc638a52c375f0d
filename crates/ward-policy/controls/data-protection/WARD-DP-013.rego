# WARD-DP-013: object stores are reached over TLS.
package ward.controls.WARD_DP_013

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-013",
	"title": "S3 object store endpoints use HTTPS",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Backups, WAL and base backups travel to the object store with the store's credentials in every request's signature context; over plain HTTP the traffic, and the encrypted snapshots' names and sizes, can be read and altered on the way, and a man in the middle can answer in the store's place.",
	"remediation": "Use the store's `https://` endpoint (or leave `endpoint` out for AWS S3, which is HTTPS).",
	"hipaa": "45 CFR 164.312(e)(1) Transmission security",
}

findings contains f if {
	some s in input.platform.objectStores
	s.type == "s3"
	endpoint := object.get(s, "endpoint", null)
	endpoint != null
	not startswith(lower(endpoint), "https://")
	f := lib.estate_finding(s, "endpoint", sprintf("object store %s is reached at %s, which is not HTTPS", [s.name, endpoint]))
}
