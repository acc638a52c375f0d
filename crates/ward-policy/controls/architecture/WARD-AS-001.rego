# WARD-AS-001: every workload runs an Odoo version of the platform baseline.
package ward.controls.WARD_AS_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-001",
	"title": "Odoo version is in the platform baseline",
	"domain": "architecture-standardization",
	"severity": "deny",
	"reads": "estate",
	"applies": {},
	"rationale": "The platform patches, backs up, restores and supports only the Odoo versions of its baseline; any other version falls outside tested upgrades and security fixes.",
	"remediation": "Set `spec.odoo.version` to a version listed in the platform's `baseline.odooVersions`, or add the version to the baseline once the platform supports it.",
	"hipaa": "45 CFR 164.308(a)(1)(ii)(B) Risk management",
}

findings contains f if {
	baseline := input.platform.baseline.odooVersions
	count(baseline) > 0
	some w in input.workloads
	not w.odoo.version in baseline
	f := lib.workload_finding(w, "version", sprintf("Odoo %s is not in the platform baseline %v", [w.odoo.version, baseline]))
}
