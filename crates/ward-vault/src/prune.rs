//! Retention (`prune`) and garbage collection (`collect_garbage`).
//!
//! Both act on verified snapshots only (their statement verifies against a pinned key): an
//! unverified one never counts toward retention, never keeps or releases a blob, and is
//! left in place and reported. Prune removes whole snapshots by the tier's counts, statement
//! first so a half-pruned snapshot is simply gone; garbage collection deletes only objects no
//! verified snapshot references and that are older than a grace period.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::{ListedSnapshot, SnapshotFilter, parse_snapshot_path};
use crate::error::{Result, VaultError};
use crate::keys::RepositoryKey;
use crate::lease::{Lease, environment_lease_path, gc_lease_path};
use crate::manifest::{SnapshotManifest, SnapshotRef, StoredObject, environment_dir, tenant_dir};
use crate::statement::TrustedKeys;
use crate::store::{Repository, check_name};

/// How many snapshots to keep, in the manner of restic's `forget`: the newest `keep_last`,
/// plus the newest snapshot of each of the last `hourly` hours, `daily` days, `weekly` ISO
/// weeks and `monthly` months that have one (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub keep_last: u32,
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

/// Why a snapshot stays or goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneDecision {
    pub snapshot: SnapshotRef,
    pub started: Option<jiff::Timestamp>,
    pub keep: bool,
    /// e.g. `last`, `daily 2026-05-20`, `locked until …`, `unreadable manifest`.
    pub reasons: Vec<String>,
}

/// What prune did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    pub dry_run: bool,
    /// Every snapshot of the environment, newest first.
    pub decisions: Vec<PruneDecision>,
    pub removed: Vec<SnapshotRef>,
}

/// Applies `retention` to one environment's snapshots.
#[tracing::instrument(name = "vault.prune", skip_all, fields(tenant = %tenant, workload = %workload, environment = %environment, dry_run = dry_run), err(Display))]
pub async fn prune(
    repo: &Repository,
    tenant: &str,
    workload: &str,
    environment: &str,
    keys: &TrustedKeys,
    retention: &Retention,
    dry_run: bool,
) -> Result<PruneReport> {
    check_name("tenant", tenant)?;
    check_name("workload", workload)?;
    check_name("environment", environment)?;
    if retention.keep_last
        + retention.hourly
        + retention.daily
        + retention.weekly
        + retention.monthly
        == 0
    {
        return Err(VaultError::InvalidInput(
            "this retention keeps no snapshot at all; keep at least one".into(),
        ));
    }
    let lease = if dry_run {
        None
    } else {
        Some(
            Lease::acquire(
                repo,
                environment_lease_path(tenant, workload, environment),
                &format!("{tenant}/{workload}/{environment}"),
                "prune",
                Duration::from_secs(600),
            )
            .await?,
        )
    };
    let result = prune_locked(
        repo,
        tenant,
        workload,
        environment,
        keys,
        retention,
        dry_run,
    )
    .await;
    if let Some(l) = lease {
        l.release().await?;
    }
    result
}

async fn prune_locked(
    repo: &Repository,
    tenant: &str,
    workload: &str,
    environment: &str,
    keys: &TrustedKeys,
    retention: &Retention,
    dry_run: bool,
) -> Result<PruneReport> {
    let filter = SnapshotFilter {
        tenant: Some(tenant.into()),
        workload: Some(workload.into()),
        environment: Some(environment.into()),
    };
    let listed = crate::catalog::list(repo, &filter, keys).await?;
    let mut decisions = decide(&listed, retention, jiff::Timestamp::now());
    let mut removed = Vec::new();
    for d in decisions.iter_mut().filter(|d| !d.keep) {
        if !dry_run {
            // The statement first: from that moment the snapshot does not exist.
            for part in d.snapshot.part_paths() {
                repo.delete(&part).await?;
            }
        }
        removed.push(d.snapshot.clone());
    }
    Ok(PruneReport {
        dry_run,
        decisions,
        removed,
    })
}

/// Names the time bucket (hour, day, ISO week, month) a snapshot falls in.
type BucketOf = fn(&jiff::civil::DateTime) -> String;

fn decide(
    listed: &[ListedSnapshot],
    retention: &Retention,
    now: jiff::Timestamp,
) -> Vec<PruneDecision> {
    let mut decisions: Vec<(PruneDecision, Option<&SnapshotManifest>)> = listed
        .iter()
        .map(|l| match l {
            ListedSnapshot::Verified { manifest: m, .. } => (
                PruneDecision {
                    snapshot: m.snapshot.clone(),
                    started: Some(m.started),
                    keep: false,
                    reasons: Vec::new(),
                },
                Some(m.as_ref()),
            ),
            // Never counted toward retention (a flood of forged manifests cannot push the
            // real snapshots out) and never deleted: reported, by name, with the reason.
            ListedSnapshot::Unverified {
                snapshot, reason, ..
            } => (
                PruneDecision {
                    snapshot: snapshot.clone(),
                    started: None,
                    keep: true,
                    reasons: vec![format!(
                        "unverified ({reason}): never counted, never pruned automatically"
                    )],
                },
                None,
            ),
        })
        .collect();
    // Newest first.
    decisions.sort_by(|a, b| {
        b.0.started
            .cmp(&a.0.started)
            .then(b.0.snapshot.id.cmp(&a.0.snapshot.id))
    });

    let mut last = 0u32;
    let rules: [(&str, u32, BucketOf); 4] = [
        ("hourly", retention.hourly, |z| {
            z.strftime("%Y-%m-%d %H:00").to_string()
        }),
        ("daily", retention.daily, |z| {
            z.strftime("%Y-%m-%d").to_string()
        }),
        ("weekly", retention.weekly, |z| {
            let w = z.date().iso_week_date();
            format!("{}-W{:02}", w.year(), w.week())
        }),
        ("monthly", retention.monthly, |z| {
            z.strftime("%Y-%m").to_string()
        }),
    ];
    let mut seen: Vec<(Option<String>, u32)> = vec![(None, 0); rules.len()];
    for (d, m) in decisions.iter_mut() {
        let Some(m) = m else { continue };
        if last < retention.keep_last {
            last += 1;
            d.keep = true;
            d.reasons.push("last".into());
        }
        let z = jiff::tz::TimeZone::UTC.to_datetime(m.started);
        for (i, (name, limit, bucket)) in rules.iter().enumerate() {
            let b = bucket(&z);
            let (prev, count) = &mut seen[i];
            if *count < *limit && prev.as_deref() != Some(b.as_str()) {
                *count += 1;
                *prev = Some(b.clone());
                d.keep = true;
                d.reasons.push(format!("{name} {b}"));
            }
        }
        if !d.keep
            && let Some(lock) = m.object_lock
            && lock.retain_until > now
        {
            d.keep = true;
            d.reasons
                .push(format!("locked until {}", lock.retain_until));
        }
    }
    decisions.into_iter().map(|(d, _)| d).collect()
}

/// What garbage collection did (or would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub dry_run: bool,
    pub snapshots: u64,
    pub referenced_blobs: u64,
    /// Deleted (or, in a dry run, deletable) objects.
    pub deleted: Vec<String>,
    pub deleted_bytes: u64,
    /// Unreferenced but younger than the grace period.
    pub kept_fresh: u64,
    /// Unreferenced but still under object lock.
    pub kept_locked: u64,
    /// Snapshots that do not verify (`<snapshot>: <reason>`): their own objects are left in
    /// place, and their blob lists neither keep nor release a blob.
    pub unverified: Vec<String>,
    /// Packs with a readable index.
    pub packs: u64,
    /// Packs deleted (or, in a dry run, to delete): unreferenced, or repacked.
    pub packs_deleted: u64,
    /// Packs whose live objects were copied into new packs.
    pub packs_repacked: u64,
    /// New packs the repacking wrote, and their bytes.
    pub packs_written: u64,
    pub written_bytes: u64,
    /// Pack indexes that do not open, and packs with a live object whose bytes are not the
    /// signed ones: left as they are.
    pub packs_damaged: Vec<String>,
    /// No tenant key was given: packs were neither read nor collected.
    pub packs_unchecked: bool,
    /// No tenant key was given and a snapshot's object list is sealed: which blobs are
    /// live is not known, so no blob (and no pack) was collected.
    #[serde(default)]
    pub blobs_unchecked: bool,
}

/// Deletes a tenant's objects that no verified snapshot references and that are older than
/// `grace`. Stops without deleting anything if the tenant has snapshots of an environment
/// with no pinned key (their blobs would look unreferenced).
///
/// Packs are collected only with the tenant key (`tenant_key`), which opens their indexes;
/// without it they are left alone and the report says so.
#[tracing::instrument(name = "vault.collect_garbage", skip_all, err(Display))]
pub async fn collect_garbage(
    repo: &Repository,
    tenant: &str,
    keys: &TrustedKeys,
    tenant_key: Option<&RepositoryKey>,
    grace: Duration,
    dry_run: bool,
) -> Result<GcReport> {
    check_name("tenant", tenant)?;
    let lease = if dry_run {
        None
    } else {
        Some(
            Lease::acquire(
                repo,
                gc_lease_path(tenant),
                &format!("{tenant} (garbage collection)"),
                "gc",
                Duration::from_secs(600),
            )
            .await?,
        )
    };
    let result = gc_locked(repo, tenant, keys, tenant_key, grace, dry_run).await;
    if let Some(l) = lease {
        l.release().await?;
    }
    result
}

async fn gc_locked(
    repo: &Repository,
    tenant: &str,
    keys: &TrustedKeys,
    tenant_key: Option<&RepositoryKey>,
    grace: Duration,
    dry_run: bool,
) -> Result<GcReport> {
    let now = jiff::Timestamp::now();
    let grace = jiff::SignedDuration::try_from(grace)
        .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
    let cutoff = now
        .checked_sub(grace)
        .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
    let objects = repo.list(&tenant_dir(tenant)).await?;

    // Only verified snapshots make the live set; an environment whose keys the caller did not
    // pin would have all its snapshots unverified and its blobs collected: refuse instead.
    if let Some(unpinned) = objects
        .iter()
        .filter_map(|(rel, _)| parse_snapshot_path(rel))
        .find(|s| keys.for_snapshot(s).is_empty())
    {
        return Err(VaultError::GcUnsafe {
            object: unpinned.statement_path(),
            reason: format!(
                "no backup signing key is pinned for {}/{}, so none of its snapshots verifies and its blobs would look unreferenced; pin its keys (backup.signingKeys) or remove the environment's snapshots first",
                unpinned.workload, unpinned.environment
            ),
        });
    }
    let filter = SnapshotFilter {
        tenant: Some(tenant.into()),
        ..SnapshotFilter::default()
    };
    let mut referenced: HashSet<String> = HashSet::new();
    let mut live: HashMap<String, StoredObject> = HashMap::new();
    let mut committed_dirs: HashSet<String> = HashSet::new();
    let mut snapshots = 0u64;
    let mut unverified = Vec::new();
    // Sealed object lists open with the index key; without the tenant key the live set is
    // not known, and no blob or pack is collected.
    let index_ids = tenant_key.map(crate::pack::index_identities);
    let mut blobs_unchecked = false;
    for listed in crate::catalog::list(repo, &filter, keys).await? {
        // Either way the snapshot's folder is not a crashed backup's leftovers: an
        // unverified one is left in place, for a person to look at.
        committed_dirs.insert(listed.snapshot().dir());
        match listed {
            ListedSnapshot::Verified { manifest, .. } => {
                snapshots += 1;
                referenced.extend(manifest.dump.iter().map(|d| d.object.clone()));
                referenced.insert(manifest.sealed.object.clone());
                referenced.extend(manifest.objects.iter().map(|o| o.object.clone()));
                let objects =
                    match crate::objects::read_if_key(repo, &manifest, index_ids.as_ref()).await {
                        Ok(Some(objects)) => objects,
                        Ok(None) => {
                            blobs_unchecked = true;
                            continue;
                        }
                        // A genuine snapshot whose list is damaged: its blobs are unknown.
                        Err(VaultError::Corrupted { object, reason }) => {
                            return Err(VaultError::GcUnsafe {
                                object,
                                reason: format!(
                                    "snapshot {} is signed but its object list {reason}",
                                    manifest.snapshot
                                ),
                            });
                        }
                        Err(e) => return Err(e),
                    };
                referenced.extend(objects.shared().map(|b| b.object.clone()));
                for o in objects.shared() {
                    live.entry(o.object.clone()).or_insert_with(|| o.clone());
                }
            }
            // A genuine statement whose manifest is damaged: its blobs are unknown, and a
            // rewritten blob list must not make them look unreferenced. Stop.
            ListedSnapshot::Unverified {
                snapshot,
                damaged: true,
                reason,
                ..
            } => {
                return Err(VaultError::GcUnsafe {
                    object: snapshot.manifest_path(),
                    reason: format!("snapshot {snapshot} is signed but {reason}"),
                });
            }
            ListedSnapshot::Unverified {
                snapshot, reason, ..
            } => unverified.push(format!("{snapshot}: {reason}")),
        }
    }
    let blob_prefix = format!("{}/blobs/", tenant_dir(tenant));
    let snapshot_prefix = format!("{}/snapshots/", tenant_dir(tenant));
    let lock_days = repo.object_lock().map(|l| l.days);

    let mut report = GcReport {
        dry_run,
        snapshots,
        referenced_blobs: referenced
            .iter()
            .filter(|r| r.starts_with(&blob_prefix))
            .count() as u64,
        unverified,
        blobs_unchecked,
        ..Default::default()
    };
    let live_envs = live_environment_leases(repo, tenant).await?;
    for (rel, meta) in &objects {
        let is_blob = rel.starts_with(&blob_prefix);
        let is_orphan_part = rel.starts_with(&snapshot_prefix)
            && !rel.ends_with("/manifest.json")
            && !rel.ends_with("/statement.json")
            && rel
                .rsplit_once('/')
                .is_some_and(|(dir, _)| !committed_dirs.contains(dir));
        // Only these two: never a data key (data-keys/), whose run's blobs later snapshots
        // may still reuse long after the snapshot that wrote them is pruned; never the
        // tenant key.
        if !(is_blob || is_orphan_part) || referenced.contains(rel) || (is_blob && blobs_unchecked)
        {
            continue;
        }
        if is_orphan_part && live_envs.iter().any(|e| rel.starts_with(e)) {
            report.kept_fresh += 1;
            continue;
        }
        let modified = jiff::Timestamp::from_second(meta.last_modified.timestamp()).unwrap_or(now);
        if modified > cutoff {
            report.kept_fresh += 1;
            continue;
        }
        if let Some(days) = lock_days {
            let until = modified
                .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
                .unwrap_or(now);
            if until > now {
                report.kept_locked += 1;
                continue;
            }
        }
        if !dry_run {
            repo.delete(rel).await?;
        }
        report.deleted_bytes += meta.size;
        report.deleted.push(rel.clone());
    }
    match tenant_key.filter(|_| !blobs_unchecked) {
        Some(key) => {
            crate::repack::PackGc {
                repo,
                tenant,
                key,
                live: &live,
                cutoff,
                now,
                lock_days,
                dry_run,
            }
            .run(&mut report)
            .await?
        }
        None => report.packs_unchecked = true,
    }
    // Staging files of a local folder (`<object>#<n>`): listings never show them, and a
    // killed backup leaves its dump's and blobs' there. No manifest references one; a
    // write in progress keeps touching its file, so the grace period protects it, and a
    // snapshot part's in an environment whose backup lease is live is kept as its object is.
    // A leftover of a write (staging file or upload) that may still be in progress.
    let keep_leftover = |object: &str, written: jiff::Timestamp| {
        let in_live_env =
            object.starts_with(&snapshot_prefix) && live_envs.iter().any(|e| object.starts_with(e));
        in_live_env || written > cutoff
    };
    for staged in repo.local_staging_files(&tenant_dir(tenant))? {
        if keep_leftover(&staged.object, staged.modified) {
            report.kept_fresh += 1;
            continue;
        }
        if !dry_run {
            match std::fs::remove_file(&staged.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(crate::error::io_err(
                        "deleting a staging file",
                        &staged.path,
                    )(e));
                }
                _ => {}
            }
        }
        report.deleted_bytes += staged.size;
        report.deleted.push(staged.rel);
    }
    // On S3 the same leftovers are multipart uploads never completed: not objects, so only
    // the uploads listing shows them. Aborting one deletes its parts.
    for upload in repo.pending_uploads(&tenant_dir(tenant)).await? {
        if keep_leftover(&upload.object, upload.initiated) {
            report.kept_fresh += 1;
            continue;
        }
        if !dry_run {
            repo.abort_upload(&upload).await?;
        }
        report.deleted.push(format!(
            "{} (incomplete upload {})",
            upload.object, upload.upload_id
        ));
    }
    Ok(report)
}

/// Snapshot folders of environments whose backup lease is live right now.
async fn live_environment_leases(repo: &Repository, tenant: &str) -> Result<Vec<String>> {
    let prefix = format!("{}/leases/", tenant_dir(tenant));
    let mut live = Vec::new();
    for (rel, meta) in repo.list(&prefix).await? {
        let Some(rest) = rel.strip_prefix(&prefix) else {
            continue;
        };
        let Some((workload, env_file)) = rest.split_once('/') else {
            continue;
        };
        let Some(environment) = env_file.strip_suffix(".json") else {
            continue;
        };
        let age = jiff::Timestamp::now().as_second() - meta.last_modified.timestamp();
        // Leases are renewed every few minutes; an untouched one for a day is dead.
        if age < 24 * 3600 {
            live.push(format!(
                "{}/",
                environment_dir(tenant, workload, environment)
            ));
        }
    }
    Ok(live)
}

/// Lists, per environment of a tenant, how many snapshots exist (for reports).
pub async fn snapshot_counts(
    repo: &Repository,
    tenant: &str,
) -> Result<HashMap<(String, String), u64>> {
    check_name("tenant", tenant)?;
    let mut out = HashMap::new();
    for (rel, _) in repo.list(&tenant_dir(tenant)).await? {
        if let Some(s) = rel
            .strip_suffix("/statement.json")
            .and_then(|_| parse_snapshot_path(&rel))
        {
            *out.entry((s.workload, s.environment)).or_insert(0) += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{BlobStats, MANIFEST_FORMAT, StoredObject};

    fn snap(ts: &str) -> ListedSnapshot {
        let started: jiff::Timestamp = ts.parse().expect("ts");
        let id = format!("{}-00000000", started.strftime("%Y%m%dT%H%M%SZ"));
        let obj = |o: &str| StoredObject {
            object: o.into(),
            stored_size: 0,
            stored_checksum: None,
        };
        ListedSnapshot::Verified {
            statement: Box::new(crate::statement::test_verified()),
            manifest: Box::new(SnapshotManifest {
                format: MANIFEST_FORMAT.into(),
                snapshot: SnapshotRef {
                    tenant: "t".into(),
                    workload: "w".into(),
                    environment: "e".into(),
                    id,
                },
                started,
                finished: started,
                estate_commit: None,
                postgres_version: "15".into(),
                odoo_version: None,
                key_id: "k".into(),
                recipients: vec![],
                object_lock: None,
                data_key: None,
                dump: None,
                dump_chunks: vec![obj("d")],
                sealed: obj("s"),
                objects: None,
                dump_stats: None,
                blob_stats: BlobStats::default(),
                blobs: vec![],
                source: None,
            }),
        }
    }

    #[test]
    fn keeps_last_and_one_per_day() {
        let listed = vec![
            snap("2026-05-01T01:00:00Z"),
            snap("2026-05-01T02:00:00Z"),
            snap("2026-05-02T01:00:00Z"),
            snap("2026-05-02T05:00:00Z"),
            snap("2026-05-03T01:00:00Z"),
        ];
        let r = Retention {
            keep_last: 1,
            daily: 2,
            ..Default::default()
        };
        let d = decide(&listed, &r, jiff::Timestamp::now());
        let kept: Vec<_> = d
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.snapshot.id.clone())
            .collect();
        assert_eq!(
            kept,
            vec!["20260503T010000Z-00000000", "20260502T050000Z-00000000"]
        );
        assert_eq!(d.iter().filter(|d| !d.keep).count(), 3);
    }

    #[test]
    fn unverified_snapshots_are_never_pruned_nor_counted() {
        let forged = |id: &str| ListedSnapshot::Unverified {
            snapshot: format!("t/w/e/{id}").parse().expect("ref"),
            manifest: None,
            unsigned: false,
            damaged: false,
            reason: "its signature does not verify".into(),
        };
        // A flood of newer forgeries does not push the real snapshot out of keep-last 1.
        let listed = vec![
            snap("2026-05-01T01:00:00Z"),
            forged("20270101T000000Z-deadbeef"),
            forged("20270101T000001Z-deadbeef"),
        ];
        let d = decide(
            &listed,
            &Retention {
                keep_last: 1,
                ..Default::default()
            },
            jiff::Timestamp::now(),
        );
        assert!(d.iter().all(|d| d.keep));
        let real = d
            .iter()
            .find(|d| d.snapshot.id == "20260501T010000Z-00000000")
            .expect("real");
        assert_eq!(real.reasons, ["last"]);
    }
}
