//! Classification: from a workload environment's declared risk to its service tier,
//! hosting model and disaster-recovery posture.
//!
//! [`classify`] is pure and total. Every decision is a [`Rule`] with words and the input
//! values it used, so `ward explain` can show why. Stricter inputs never give a weaker
//! result (see the property tests in `tests/classify_monotone.rs`).

use crate::decode::Cx;
use crate::model::{
    Criticality, DataSensitivity, HostingModel, RetentionSpec, Stage, TierObjective, TierObjectives,
};
use crate::source::{Span, Spanned};
use crate::units::{Duration, Percent};
use serde::Serialize;

/// What classification reads about one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationInputs {
    pub data_sensitivity: DataSensitivity,
    pub integration_criticality: Criticality,
    pub uptime: Percent,
    pub rpo: Duration,
    pub rto: Duration,
    pub contractual_isolation: bool,
    /// The workload's own request for dedicated hosting, if any.
    pub hosting_request: Option<HostingModel>,
    pub stage: Stage,
}

/// The result: tier, hosting model and the posture that follows, with the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub tier: u8,
    pub hosting: HostingModel,
    pub posture: DrPosture,
    /// Every rule that fired, in the order it was applied.
    pub rules: Vec<Rule>,
}

/// One reason, in words, with the values it used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// A stable identifier such as `T1-uptime`.
    pub id: &'static str,
    /// What the rule decided: `tier`, `hosting` or `posture`.
    pub decides: &'static str,
    pub text: String,
}

/// How an environment recovers when its primary site is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryMode {
    /// A replica PostgreSQL cluster runs in the recovery cluster; failover is drilled.
    Standby,
    /// The recovery cluster is provisioned; data is restored from backups on demand.
    Warm,
    /// Restore from backups into whatever cluster is available.
    Restore,
}

/// The disaster-recovery posture a tier demands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrPosture {
    pub min_replicas: u32,
    pub min_zones: u32,
    pub postgres_instances: u32,
    pub synchronous_replication: bool,
    /// Continuous WAL archiving, for point-in-time recovery between backups: where the
    /// environment runs on CloudNativePG, this is what meets the RPO.
    pub wal_archiving: bool,
    /// PostgreSQL's `archive_timeout`: the longest a WAL segment waits before it is
    /// archived, so the most committed data an archive can lack. At most a third of the
    /// RPO ([`archive_timeout_for`]).
    pub archive_timeout: Duration,
    /// How often CloudNativePG takes a physical base backup (the `ScheduledBackup`): the
    /// starting points WAL is replayed from. Its own cadence, never the RPO: daily for
    /// tier 1, weekly below.
    pub base_backup_interval: Duration,
    /// How far back point-in-time recovery reaches: the barman-cloud retention of base
    /// backups and WAL. Longer history is Ward's logical snapshots' (`retention`).
    pub pitr_window: Duration,
    /// How often Ward's own logical snapshots (`ward backup`: database dump, filestore)
    /// run. Where WAL archiving meets the RPO they are the long-term, portable copy (daily
    /// for every tier); without WAL archiving they are the only copy and run within the
    /// RPO (rule `P-rpo`). They read from a standby where one exists
    /// ([`crate::resolve::DatabaseEndpoint::snapshot_host`]).
    pub backup_interval: Duration,
    /// What Ward's logical snapshots keep.
    pub retention: Retention,
    /// Backups written under object lock so that no one can delete them early.
    pub immutable_copies: bool,
    pub cross_region_copy: bool,
    pub drill_every: Duration,
    pub recovery: RecoveryMode,
}

/// Snapshot counts to keep, per period, as in pgBackRest or `restic forget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    pub keep_last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

// Thresholds of the tier rules. Changing one changes every estate's tiers: document it
// in docs/classification.md in the same change.
const T1_UPTIME: Percent = Percent(999_000); // 99.9%
const T1_RPO: Duration = Duration::hours(1);
const T1_RTO: Duration = Duration::hours(4);
const T2_UPTIME: Percent = Percent(995_000); // 99.5%
const T2_RPO: Duration = Duration::hours(12);
const T2_RTO: Duration = Duration::hours(24);

/// CloudNativePG's own `archive_timeout`: Ward never sets a longer one.
pub const MAX_ARCHIVE_TIMEOUT: Duration = Duration::minutes(5);
/// The shortest `archive_timeout` Ward renders: every timeout switches to a new 16 MB WAL
/// segment, so shorter ones fill the archive with near-empty segments. An RPO under three
/// times this cannot be met by WAL archiving (control WARD-RS-010 says so).
pub const MIN_ARCHIVE_TIMEOUT: Duration = Duration::secs(30);

/// The `archive_timeout` an RPO needs: a third of it, so that a segment waiting for the
/// timeout, its upload and one retry all fit in the RPO; never above CloudNativePG's
/// default nor below [`MIN_ARCHIVE_TIMEOUT`].
pub fn archive_timeout_for(rpo: Duration) -> Duration {
    Duration::secs(rpo.as_secs() / 3).clamp(MIN_ARCHIVE_TIMEOUT, MAX_ARCHIVE_TIMEOUT)
}

/// The RPO a tier promises when the stage does not bind the workload's own: the tier
/// thresholds (tier 3: a day).
pub fn tier_rpo(tier: u8) -> Duration {
    match tier {
        1 => T1_RPO,
        2 => T2_RPO,
        _ => Duration::hours(24),
    }
}

/// The throughput Ward assumes for one backup or restore job (`pg_dump` or `pg_restore`
/// through zstd and age, and the filestore's blobs): 20 MiB of declared data per second.
/// The one owner of the figure: the renderer sizes its jobs' deadlines with it, control
/// WARD-RS-010 gets it in its input (`dumpBytesPerSecond`) and the backup alerts allow
/// for it. Conservative on purpose: docs/BENCHMARKS.md measures Ward's dump of a 1 GB
/// database at 100–230 MB/s and its restore at about 70 MB/s, but on two vCPUs and a local
/// disk, where a job in the cluster may have half a core, network storage and a busy
/// database.
pub const DUMP_BYTES_PER_SECOND: u64 = 20 << 20;
/// The throughput Ward assumes for a physical base backup (barman-cloud, compressed):
/// 50 MiB/s, as the upload, not the disk read, bounds it (no pg_dump, no age).
pub const BASE_BACKUP_BYTES_PER_SECOND: u64 = 50 << 20;

/// How long a logical dump of `database_bytes` takes at [`DUMP_BYTES_PER_SECOND`].
pub fn dump_time(database_bytes: u64) -> Duration {
    Duration::secs(database_bytes.div_ceil(DUMP_BYTES_PER_SECOND))
}

/// How long a base backup of `database_bytes` takes at [`BASE_BACKUP_BYTES_PER_SECOND`].
pub fn base_backup_time(database_bytes: u64) -> Duration {
    Duration::secs(database_bytes.div_ceil(BASE_BACKUP_BYTES_PER_SECOND))
}

/// Ward's default postures per tier, before the platform tightens them.
pub struct TierDefaults;

impl TierDefaults {
    pub fn posture(tier: u8) -> DrPosture {
        match tier {
            1 => DrPosture {
                min_replicas: 2,
                min_zones: 2,
                postgres_instances: 3,
                synchronous_replication: true,
                wal_archiving: true,
                archive_timeout: MAX_ARCHIVE_TIMEOUT,
                base_backup_interval: Duration::days(1),
                pitr_window: Duration::days(14),
                backup_interval: Duration::days(1),
                retention: Retention {
                    keep_last: 24,
                    hourly: 48,
                    daily: 35,
                    weekly: 12,
                    monthly: 12,
                },
                immutable_copies: true,
                cross_region_copy: true,
                drill_every: Duration::days(30),
                recovery: RecoveryMode::Standby,
            },
            2 => DrPosture {
                min_replicas: 2,
                min_zones: 1,
                postgres_instances: 2,
                synchronous_replication: false,
                wal_archiving: true,
                archive_timeout: MAX_ARCHIVE_TIMEOUT,
                base_backup_interval: Duration::days(7),
                pitr_window: Duration::days(7),
                backup_interval: Duration::days(1),
                retention: Retention {
                    keep_last: 6,
                    hourly: 0,
                    daily: 14,
                    weekly: 8,
                    monthly: 6,
                },
                immutable_copies: true,
                cross_region_copy: false,
                drill_every: Duration::days(90),
                recovery: RecoveryMode::Warm,
            },
            _ => DrPosture {
                min_replicas: 1,
                min_zones: 1,
                postgres_instances: 1,
                synchronous_replication: false,
                wal_archiving: false,
                archive_timeout: MAX_ARCHIVE_TIMEOUT,
                base_backup_interval: Duration::days(7),
                pitr_window: Duration::days(7),
                backup_interval: Duration::days(1),
                retention: Retention {
                    keep_last: 3,
                    hourly: 0,
                    daily: 7,
                    weekly: 4,
                    monthly: 0,
                },
                immutable_copies: false,
                cross_region_copy: false,
                drill_every: Duration::days(180),
                recovery: RecoveryMode::Restore,
            },
        }
    }

    /// Reports every objective that would loosen a default: the platform may only tighten.
    pub(crate) fn check_objectives(objectives: &TierObjectives, cx: &mut Cx) {
        type Found = Option<(String, Span)>;
        let longer = |x: &Option<Spanned<Duration>>, def: Duration| -> Found {
            x.as_ref()
                .filter(|v| v.value > def)
                .map(|v| (v.value.to_string(), v.span))
        };
        let fewer = |x: &Option<Spanned<u32>>, def: u32| -> Found {
            x.as_ref()
                .filter(|v| v.value < def)
                .map(|v| (v.value.to_string(), v.span))
        };
        for tier in 1..=3u8 {
            let Some(o) = objectives.get(tier) else {
                continue;
            };
            let d = Self::posture(tier);
            let (r, dr) = (o.retention.clone().unwrap_or_default(), d.retention);
            let checks: [(&str, Found, String, &str); 11] = [
                (
                    "baseBackupInterval",
                    longer(&o.base_backup_interval, d.base_backup_interval),
                    d.base_backup_interval.to_string(),
                    "at most",
                ),
                (
                    "backupInterval",
                    longer(&o.backup_interval, d.backup_interval),
                    d.backup_interval.to_string(),
                    "at most",
                ),
                (
                    "drillEvery",
                    longer(&o.drill_every, d.drill_every),
                    d.drill_every.to_string(),
                    "at most",
                ),
                (
                    "minReplicas",
                    fewer(&o.min_replicas, d.min_replicas),
                    d.min_replicas.to_string(),
                    "at least",
                ),
                (
                    "minZones",
                    fewer(&o.min_zones, d.min_zones),
                    d.min_zones.to_string(),
                    "at least",
                ),
                (
                    "postgresInstances",
                    fewer(&o.postgres_instances, d.postgres_instances),
                    d.postgres_instances.to_string(),
                    "at least",
                ),
                (
                    "retention.keepLast",
                    fewer(&r.keep_last, dr.keep_last),
                    dr.keep_last.to_string(),
                    "at least",
                ),
                (
                    "retention.hourly",
                    fewer(&r.hourly, dr.hourly),
                    dr.hourly.to_string(),
                    "at least",
                ),
                (
                    "retention.daily",
                    fewer(&r.daily, dr.daily),
                    dr.daily.to_string(),
                    "at least",
                ),
                (
                    "retention.weekly",
                    fewer(&r.weekly, dr.weekly),
                    dr.weekly.to_string(),
                    "at least",
                ),
                (
                    "retention.monthly",
                    fewer(&r.monthly, dr.monthly),
                    dr.monthly.to_string(),
                    "at least",
                ),
            ];
            for (field, found, default, how) in checks {
                if let Some((value, span)) = found {
                    cx.error(
                        span,
                        format!("tierObjectives.tier{tier}.{field} `{value}` is looser than Ward's tier-{tier} default `{default}`"),
                        format!("tierObjectives may only tighten a tier: remove it or set it {how} {default}"),
                    );
                }
            }
        }
    }
}

/// Classifies one environment. Pure: the same inputs always give the same result.
pub fn classify(inputs: &ClassificationInputs, objectives: &TierObjectives) -> Classification {
    let mut rules = Vec::new();
    let tier = decide_tier(inputs, &mut rules);
    let hosting = decide_hosting(inputs, &mut rules);
    let posture = decide_posture(tier, inputs, objectives.get(tier), &mut rules);
    Classification {
        tier,
        hosting,
        posture,
        rules,
    }
}

fn decide_tier(i: &ClassificationInputs, rules: &mut Vec<Rule>) -> u8 {
    let mut fire = |id, tier: u8, text: String| {
        rules.push(Rule {
            id,
            decides: "tier",
            text,
        });
        tier
    };
    // Each candidate is a tier the workload's declared needs demand; the strictest wins.
    let mut candidates = Vec::new();
    if i.uptime >= T1_UPTIME {
        candidates.push(fire(
            "T1-uptime",
            1,
            format!("tier 1 because uptime objective {} ≥ {T1_UPTIME}", i.uptime),
        ));
    } else if i.uptime >= T2_UPTIME {
        candidates.push(fire(
            "T2-uptime",
            2,
            format!("tier 2 because uptime objective {} ≥ {T2_UPTIME}", i.uptime),
        ));
    }
    if i.rpo <= T1_RPO {
        candidates.push(fire(
            "T1-rpo",
            1,
            format!("tier 1 because RPO {} ≤ {T1_RPO}", i.rpo),
        ));
    } else if i.rpo <= T2_RPO {
        candidates.push(fire(
            "T2-rpo",
            2,
            format!("tier 2 because RPO {} ≤ {T2_RPO}", i.rpo),
        ));
    }
    if i.rto <= T1_RTO {
        candidates.push(fire(
            "T1-rto",
            1,
            format!("tier 1 because RTO {} ≤ {T1_RTO}", i.rto),
        ));
    } else if i.rto <= T2_RTO {
        candidates.push(fire(
            "T2-rto",
            2,
            format!("tier 2 because RTO {} ≤ {T2_RTO}", i.rto),
        ));
    }
    match i.integration_criticality {
        Criticality::High => candidates.push(fire(
            "T1-integration",
            1,
            "tier 1 because integration criticality is high (critical partner workflows)".into(),
        )),
        Criticality::Medium => candidates.push(fire(
            "T2-integration",
            2,
            "tier 2 because integration criticality is medium".into(),
        )),
        Criticality::Low => {}
    }
    if i.data_sensitivity >= DataSensitivity::Confidential {
        candidates.push(fire(
            "T2-sensitivity",
            2,
            format!(
                "at least tier 2 because data sensitivity is {}",
                i.data_sensitivity
            ),
        ));
    }
    let needed = candidates.into_iter().min().unwrap_or_else(|| {
        fire(
            "T3-default",
            3,
            "tier 3 because no tier-1 or tier-2 rule applies".into(),
        )
    });
    match i.stage {
        Stage::Production => needed,
        Stage::Test if needed < 2 => fire(
            "S-test",
            2,
            format!(
                "tier 2, not {needed}, because the stage is test: a test environment needs warm recovery, not an HA stack"
            ),
        ),
        Stage::Development if needed < 3 => fire(
            "S-development",
            3,
            format!(
                "tier 3, not {needed}, because the stage is development: development, training and sandboxes get scheduled backups and simple recovery"
            ),
        ),
        _ => needed,
    }
}

fn decide_hosting(i: &ClassificationInputs, rules: &mut Vec<Rule>) -> HostingModel {
    let mut dedicated = false;
    let mut fire = |id, text: String| {
        rules.push(Rule {
            id,
            decides: "hosting",
            text,
        });
        dedicated = true;
    };
    if i.data_sensitivity == DataSensitivity::Phi && i.stage == Stage::Production {
        fire(
            "H-phi-production",
            "dedicated because the environment holds PHI in production".into(),
        );
    }
    if i.contractual_isolation {
        fire(
            "H-contractual",
            "dedicated because the contract requires isolation".into(),
        );
    }
    if i.hosting_request == Some(HostingModel::Dedicated) {
        fire(
            "H-requested",
            "dedicated because the workload asks for it (`classification.hosting`)".into(),
        );
    }
    if dedicated {
        HostingModel::Dedicated
    } else {
        rules.push(Rule {
            id: "H-default",
            decides: "hosting",
            text: format!("multi-tenant because data sensitivity is {} in stage {}, and no contract requires isolation",
                i.data_sensitivity, i.stage),
        });
        HostingModel::MultiTenant
    }
}

fn decide_posture(
    tier: u8,
    i: &ClassificationInputs,
    objective: Option<&TierObjective>,
    rules: &mut Vec<Rule>,
) -> DrPosture {
    let mut p = TierDefaults::posture(tier);
    rules.push(Rule {
        id: "P-tier",
        decides: "posture",
        text: format!(
            "tier {tier} posture: ≥{} replicas over ≥{} zones, {} PostgreSQL instance(s), {}base backups every {}, logical snapshots every {}, drills every {}, {} recovery",
            p.min_replicas, p.min_zones, p.postgres_instances,
            if p.wal_archiving { "continuous WAL archiving, " } else { "" },
            p.base_backup_interval, p.backup_interval, p.drill_every,
            match p.recovery { RecoveryMode::Standby => "standby", RecoveryMode::Warm => "warm", RecoveryMode::Restore => "restore-from-backup" }
        ),
    });
    if let Some(o) = objective {
        let mut tighten = |field: &str, from: String, to: String| {
            rules.push(Rule {
                id: "P-platform",
                decides: "posture",
                text: format!("the platform tightens tier {tier} {field} from {from} to {to}"),
            });
        };
        if let Some(v) = o
            .base_backup_interval
            .as_ref()
            .filter(|v| v.value < p.base_backup_interval)
        {
            tighten(
                "baseBackupInterval",
                p.base_backup_interval.to_string(),
                v.value.to_string(),
            );
            p.base_backup_interval = v.value;
        }
        if let Some(v) = o
            .backup_interval
            .as_ref()
            .filter(|v| v.value < p.backup_interval)
        {
            tighten(
                "backupInterval",
                p.backup_interval.to_string(),
                v.value.to_string(),
            );
            p.backup_interval = v.value;
        }
        if let Some(v) = o.drill_every.as_ref().filter(|v| v.value < p.drill_every) {
            tighten("drillEvery", p.drill_every.to_string(), v.value.to_string());
            p.drill_every = v.value;
        }
        let mut raise = |field: &str, slot: &mut u32, v: &Option<Spanned<u32>>| {
            if let Some(v) = v.as_ref().filter(|v| v.value > *slot) {
                tighten(field, slot.to_string(), v.value.to_string());
                *slot = v.value;
            }
        };
        raise("minReplicas", &mut p.min_replicas, &o.min_replicas);
        raise("minZones", &mut p.min_zones, &o.min_zones);
        raise(
            "postgresInstances",
            &mut p.postgres_instances,
            &o.postgres_instances,
        );
        if let Some(RetentionSpec {
            keep_last,
            hourly,
            daily,
            weekly,
            monthly,
        }) = &o.retention
        {
            raise("retention.keepLast", &mut p.retention.keep_last, keep_last);
            raise("retention.hourly", &mut p.retention.hourly, hourly);
            raise("retention.daily", &mut p.retention.daily, daily);
            raise("retention.weekly", &mut p.retention.weekly, weekly);
            raise("retention.monthly", &mut p.retention.monthly, monthly);
        }
    }
    // The workload's RPO binds production only: other stages copy production's data and
    // get the tier's RPO.
    let rpo = if i.stage == Stage::Production {
        i.rpo
    } else {
        tier_rpo(tier)
    };
    if p.wal_archiving {
        // WAL archiving meets the RPO: a segment is archived at the latest every
        // `archive_timeout`. Base backups and logical snapshots keep their own cadence.
        p.archive_timeout = archive_timeout_for(rpo);
        rules.push(Rule {
            id: "P-rpo",
            decides: "posture",
            text: format!(
                "RPO {rpo} met by continuous WAL archiving with archive_timeout {} (at most a third of the RPO); base backups every {} and logical snapshots every {} are not bound by it",
                p.archive_timeout, p.base_backup_interval, p.backup_interval
            ),
        });
    } else if rpo < p.backup_interval {
        // Without a WAL archive the logical snapshots are the only copy.
        rules.push(Rule {
            id: "P-rpo",
            decides: "posture",
            text: format!(
                "logical snapshots every {rpo} instead of {} because there is no WAL archive and the RPO is {rpo}",
                p.backup_interval
            ),
        });
        p.backup_interval = rpo;
    }
    p
}
