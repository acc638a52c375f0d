# WARD-AS-008: a shared (multi-tenant) Odoo restricts each host to its tenant's database.
package ward.controls.WARD_AS_008

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-008",
	"title": "Multi-tenant odoo.conf sets a restrictive dbfilter",
	"domain": "architecture-standardization",
	"severity": "deny",
	"reads": "objects",
	"applies": {"hosting": ["multi-tenant"]},
	"rationale": "A shared Odoo serves one database per tenant; without `dbfilter` (or with `.*`) any tenant's hostname can open any other tenant's database.",
	"remediation": "Render `dbfilter = ^%d$` (or an explicit per-host pattern) in the shared odoo.conf.",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

findings contains f if {
	some item in lib.odoo_configs(metadata.applies)
	filter := object.get(item.conf, "dbfilter", "")
	filter in {"", ".*", "^.*$", ".+"}
	f := lib.object_finding(item, sprintf("odoo.conf in ConfigMap %s serves several tenants without a restrictive dbfilter (found \"%s\")", [item.object.metadata.name, filter]))
}
