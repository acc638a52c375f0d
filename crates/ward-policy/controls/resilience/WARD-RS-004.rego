# WARD-RS-004: backups run at least as often as the RPO allows.
package ward.controls.WARD_RS_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-004",
	"title": "Backup interval is within the RPO",
	"domain": "resilience",
	"severity": "deny",
	"reads": "both",
	"applies": {"stages": ["production"]},
	"rationale": "The RPO is the most data the business accepts to lose; backups further apart than it lose more than that in the worst case.",
	"remediation": "Lower the tier objective's `backupInterval`, or render the ScheduledBackup at least as often as the RPO (or relax the RPO with the business owner).",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.backupIntervalSeconds > env.rpoSeconds
	f := lib.env_finding(env, "name", sprintf("%s backs up every %ds but its RPO is %ds", [env.address, env.posture.backupIntervalSeconds, env.rpoSeconds]))
}

# Seconds between runs of a CloudNativePG schedule (six fields, seconds first): a step
# (`*/15`, `1-59/15`) or a list (`0,30`) in the minute or hour field, or an hourly or daily
# schedule. Other shapes are left alone.
fields(schedule) := f if {
	f := split(trim_space(schedule), " ")
	count(f) == 6
}

step(field, _) := to_number(split(field, "/")[1]) if contains(field, "/")

step(field, period) := period / count(split(field, ",")) if {
	not contains(field, "/")
	contains(field, ",")
}

interval(schedule) := seconds if {
	f := fields(schedule)
	seconds := step(f[1], 60) * 60
} else := seconds if {
	f := fields(schedule)
	seconds := step(f[2], 24) * 3600
} else := 3600 if {
	f := fields(schedule)
	f[2] == "*"
} else := 86400 if {
	f := fields(schedule)
	f[3] == "*"
	f[5] == "*"
}

findings contains f if {
	some item in lib.objects({"ScheduledBackup"}, metadata.applies)
	seconds := interval(item.object.spec.schedule)
	rpo := item.origin.rpoSeconds
	seconds > rpo
	f := lib.object_finding(item, sprintf("ScheduledBackup %s runs every %ds (%s) but the RPO is %ds", [item.object.metadata.name, seconds, item.object.spec.schedule, rpo]))
}
