# WARD-RS-004: the RPO is met by a mechanism that runs at least that often.
package ward.controls.WARD_RS_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-004",
	"title": "The RPO is met by WAL archiving or by snapshots within it",
	"domain": "resilience",
	"severity": "deny",
	"reads": "both",
	"applies": {"stages": ["production"]},
	"rationale": "The RPO is the most data the business accepts to lose. With CloudNativePG it is met by continuous WAL archiving, whose archive_timeout must be at most a third of the RPO; base backups are only the starting points WAL is replayed from and run at their own cadence. Without WAL archiving, Ward's logical snapshots are the only copy and must run at least as often as the RPO.",
	"remediation": "Keep WAL archiving on (the posture's default for tiers 1 and 2) and render the Cluster with the barman-cloud WAL archiver and `archive_timeout` from the posture; without WAL archiving, lower the tier objective's `backupInterval` to the RPO (or relax the RPO with the business owner).",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

# The estate: the posture's mechanism covers the RPO.
findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.walArchiving
	env.posture.archiveTimeoutSeconds * 3 > env.rpoSeconds
	f := lib.env_finding(env, "name", sprintf("%s archives WAL at the latest every %ds, more than a third of its RPO %ds", [env.address, env.posture.archiveTimeoutSeconds, env.rpoSeconds]))
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	not env.posture.walArchiving
	env.posture.backupIntervalSeconds > env.rpoSeconds
	f := lib.env_finding(env, "name", sprintf("%s has no WAL archive and takes logical snapshots every %ds, but its RPO is %ds", [env.address, env.posture.backupIntervalSeconds, env.rpoSeconds]))
}

# The rendered primary Cluster archives WAL, with an archive_timeout within a third of the
# RPO. Replica clusters in the recovery region are not primaries, and drill clusters hold
# only scratch copies.
seconds(text) := to_number(trim_suffix(text, "s")) if endswith(text, "s")

seconds(text) := to_number(trim_suffix(text, "min")) * 60 if endswith(text, "min")

archives(cluster) if {
	some p in object.get(cluster.spec, "plugins", [])
	object.get(p, "isWALArchiver", false)
}

findings contains f if {
	some item in lib.objects({"Cluster"}, metadata.applies)
	startswith(item.object.apiVersion, "postgresql.cnpg.io/")
	not object.get(item.object.spec, ["replica", "enabled"], false)
	not lib.drill_cluster(item.object)
	not archives(item.object)
	f := lib.object_finding(item, sprintf("PostgreSQL Cluster %s does not archive WAL, so nothing meets the RPO between backups", [item.object.metadata.name]))
}

findings contains f if {
	some item in lib.objects({"Cluster"}, metadata.applies)
	startswith(item.object.apiVersion, "postgresql.cnpg.io/")
	not object.get(item.object.spec, ["replica", "enabled"], false)
	not lib.drill_cluster(item.object)
	archives(item.object)
	rpo := item.origin.rpoSeconds
	timeout := object.get(item.object.spec, ["postgresql", "parameters", "archive_timeout"], "5min")
	seconds(timeout) * 3 > rpo
	f := lib.object_finding(item, sprintf("PostgreSQL Cluster %s archives WAL with archive_timeout %s, more than a third of the RPO %ds", [item.object.metadata.name, timeout, rpo]))
}
