# WARD-DG-001: the workload's Odoo image is pinned by digest.
package ward.controls.WARD_DG_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-001",
	"title": "Workload image is pinned by digest",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "A tag can be moved to other bytes after review; only a digest makes what was reviewed, scanned and approved the same as what runs, and what a restore drill runs.",
	"remediation": "Write the image as `registry/repo@sha256:<64 hex>` (e.g. from `crane digest`).",
	"hipaa": "45 CFR 164.312(c)(1) Integrity",
}

findings contains f if {
	some w in input.workloads
	not lib.pinned(w.odoo.image)
	f := lib.workload_finding(w, "image", sprintf("image %s of %s is not pinned by digest", [w.odoo.image, w.name]))
}
