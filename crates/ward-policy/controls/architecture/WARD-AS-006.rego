# WARD-AS-006: a production environment declares the hostnames it is served on.
package ward.controls.WARD_AS_006

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-006",
	"title": "Production environments declare their hostnames",
	"domain": "architecture-standardization",
	"severity": "warn",
	"reads": "estate",
	"applies": {"stages": ["production"]},
	"rationale": "Routes, certificates and the certificate-expiry alert are rendered from `hosts`; a production environment without one is unreachable, or reached by hand-made routes nobody reviews.",
	"remediation": "Add `hosts: [app.tenant.example]` to the environment.",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	count(env.hosts) == 0
	f := lib.env_finding(env, "name", sprintf("%s is a production environment without hosts", [env.address]))
}
