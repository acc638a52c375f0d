# WARD-RS-010: the posture's recovery mechanisms can do what it asks of them.
package ward.controls.WARD_RS_010

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-010",
	"title": "Backups are feasible for the declared database size and RPO",
	"domain": "resilience",
	"severity": "deny",
	"reads": "estate",
	"applies": {"stages": ["production"]},
	"rationale": "A schedule is only a promise if each run fits. Ward estimates a logical dump at its one documented job throughput, 20 MiB/s (each environment's dumpBytesPerSecond, from ward_estate::classify::DUMP_BYTES_PER_SECOND, which also sizes the rendered backup jobs: one pg_dump stream through zstd and age, kept well below what docs/BENCHMARKS.md measures for the reasons in docs/rendering.md, Sizing Ward's jobs); a dump that takes more than half the logical interval overlaps the next run or loads the database most of the day. Without a WAL archive (no S3 archive store, or Docker Compose, which has none) only the snapshots protect the data, and a tier-1 RPO shorter than what they can deliver is not met. WAL archiving cannot meet an RPO under 90 seconds (archive_timeout is never below 30s).",
	"remediation": "Lengthen the tier objective's `backupInterval` (WAL archiving meets the RPO in the meantime), split the database, or declare a realistic `size.database`; give the platform an S3 `rendering.archiveStore` for tier-1 environments, or relax the RPO with the business owner.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(A) Data backup plan",
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	dump := object.get(env, "dumpSecondsEstimate", null)
	dump != null
	dump * 2 > env.posture.backupIntervalSeconds
	f := lib.env_finding(env, "name", sprintf("%s: a logical dump of %d bytes takes about %ds at %s, more than half its snapshot interval of %ds", [env.address, env.databaseBytes, dump, throughput(env), env.posture.backupIntervalSeconds]))
}

# The throughput the estimate assumes, as people read it.
throughput(env) := sprintf("%d MiB/s", [round(env.dumpBytesPerSecond / 1048576)]) if {
	env.dumpBytesPerSecond >= 1048576
} else := sprintf("%d bytes/s", [env.dumpBytesPerSecond])

# Without a WAL archive a tier-1 environment relies on snapshots: they must run within the
# RPO, and each must finish within half of it.
no_wal_archive(env) if not env.posture.walArchiving

no_wal_archive(_) if input.platform.archiveStore == null

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.tier == 1
	no_wal_archive(env)
	some problem in snapshot_shortfalls(env)
	f := lib.env_finding(env, "name", sprintf("%s is tier 1 without a WAL archive: %s", [env.address, problem]))
}

snapshot_shortfalls(env) := {p |
	env.posture.backupIntervalSeconds > env.rpoSeconds
	p := sprintf("snapshots every %ds cannot meet its RPO of %ds", [env.posture.backupIntervalSeconds, env.rpoSeconds])
} | {p |
	dump := object.get(env, "dumpSecondsEstimate", 0)
	dump * 2 > env.rpoSeconds
	p := sprintf("a dump takes about %ds, more than half its RPO of %ds", [dump, env.rpoSeconds])
}

findings contains f if {
	some env in lib.environments(metadata.applies)
	env.posture.walArchiving
	env.rpoSeconds < 90
	f := lib.env_finding(env, "name", sprintf("%s has an RPO of %ds, which WAL archiving cannot meet (archive_timeout is at least 30s); it needs synchronous replication to a standby in another region, which Ward does not render", [env.address, env.rpoSeconds]))
}
