# WARD-OB-001: production environments are alerted when their last backup is too old.
package ward.controls.WARD_OB_001

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-OB-001",
	"title": "Production has a backup-age alert",
	"domain": "observability",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "Backups fail silently: an expired credential or a full bucket stops them without any user noticing. Only an alert on the age of the last good backup tells someone before the RPO is already lost.",
	"remediation": "Render a PrometheusRule with an alert on backup age (e.g. `time() - cnpg_collector_last_available_backup_timestamp > <interval>`) for the environment, or one platform-wide.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

alerts(o) := [r | some g in object.get(o.spec, "groups", []); some r in object.get(g, "rules", []); r.alert]

matches(r) if contains(lower(r.alert), "backup")

matches(r) if {
	is_string(r.expr)
	contains(r.expr, "last_available_backup")
}

# Whether the rule object has a matching alert, asked once per object: a stack's rule
# object carries an alert per environment, and its origin every address of the stack.
alerting(o) if {
	some r in alerts(o)
	matches(r)
}

covered contains address if {
	some i in object.get(input.objectsByKind, "PrometheusRule", [])
	alerting(input.objects[i])
	some address in object.get(lib.origin(i), "addresses", ["*"])
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	lib.is_rendered(env)
	not env.address in covered
	not "*" in covered
	f := lib.env_finding(env, "name", sprintf("%s has no PrometheusRule alert for backup age", [env.address]))
}
