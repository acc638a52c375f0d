# WARD-DP-006: production Odoo does not list or manage databases over the web.
package ward.controls.WARD_DP_006

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-006",
	"title": "list_db is disabled in production",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "With `list_db` on (Odoo's default), the database manager at /web/database lists every database on the server and lets anyone holding the master password back up, duplicate or drop them.",
	"remediation": "Set `list_db = False` in the rendered odoo.conf.",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

findings contains f if {
	some item in lib.odoo_configs(metadata.applies)
	lib.truthy(object.get(item.conf, "list_db", "True"))
	f := lib.object_finding(item, sprintf("odoo.conf in ConfigMap %s leaves list_db enabled in production", [item.object.metadata.name]))
}
