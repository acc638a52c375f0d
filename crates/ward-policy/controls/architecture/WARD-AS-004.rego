# WARD-AS-004: Odoo behind the ingress runs with proxy_mode, so it trusts X-Forwarded-*.
package ward.controls.WARD_AS_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-004",
	"title": "odoo.conf enables proxy_mode",
	"domain": "architecture-standardization",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "Every Ward environment is served through the ingress. Without `proxy_mode = True` Odoo sees the proxy's address instead of the client's, builds http:// URLs behind TLS, and logs the wrong source for every request.",
	"remediation": "Set `proxy_mode = True` in the rendered odoo.conf (Ward's renderer does so; check any override).",
	"hipaa": "45 CFR 164.312(b) Audit controls",
}

findings contains f if {
	some item in lib.odoo_configs(metadata.applies)
	not lib.truthy(object.get(item.conf, "proxy_mode", "False"))
	f := lib.object_finding(item, sprintf("odoo.conf in ConfigMap %s does not set proxy_mode = True", [item.object.metadata.name]))
}
