# WARD-DG-002: the workload's Odoo image comes from a baseline registry.
package ward.controls.WARD_DG_002

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-002",
	"title": "Workload image comes from a baseline registry",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "Baseline registries scan images and keep them available for restores; an image from elsewhere may vanish or change, and nobody scanned it.",
	"remediation": "Push the image to a registry in `baseline.registries` and reference it from there.",
	"hipaa": "45 CFR 164.308(a)(5)(ii)(B) Protection from malicious software",
}

findings contains f if {
	registries := input.platform.baseline.registries
	count(registries) > 0
	some w in input.workloads
	not lib.registry(w.odoo.image) in registries
	f := lib.workload_finding(w, "image", sprintf("image %s of %s comes from %s, outside the baseline registries %v", [w.odoo.image, w.name, lib.registry(w.odoo.image), registries]))
}
