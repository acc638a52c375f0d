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

# Seconds between runs of a CloudNativePG schedule (six fields, seconds first); only the
# regular shapes Ward renders are understood, anything else is left alone.
field_every(field, unit) := to_number(substring(field, 2, -1)) * unit if startswith(field, "*/")

interval(schedule) := seconds if {
	fields := split(trim_space(schedule), " ")
	count(fields) == 6
	seconds := field_every(fields[1], 60)
} else := seconds if {
	fields := split(trim_space(schedule), " ")
	count(fields) == 6
	seconds := field_every(fields[2], 3600)
} else := 3600 if {
	fields := split(trim_space(schedule), " ")
	count(fields) == 6
	fields[2] == "*"
} else := 86400 if {
	fields := split(trim_space(schedule), " ")
	count(fields) == 6
	fields[3] == "*"
	fields[5] == "*"
}

findings contains f if {
	some item in lib.objects({"ScheduledBackup"}, metadata.applies)
	seconds := interval(item.object.spec.schedule)
	rpo := item.origin.rpoSeconds
	seconds > rpo
	f := lib.object_finding(item, sprintf("ScheduledBackup %s runs every %ds (%s) but the RPO is %ds", [item.object.metadata.name, seconds, item.object.spec.schedule, rpo]))
}
