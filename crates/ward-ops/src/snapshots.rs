//! The snapshots already in the vault: listing them (verified against the pinned signing
//! keys, no key needed) and pruning them by the tier's retention, then collecting the
//! blobs no snapshot references. `ward backup list|prune` and the server's daily prune.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use std::sync::Arc;
use ward_estate::Estate;
use ward_ledger::Outcome;

use ward_vault::{
    GcReport, ListedSnapshot, Progress, PruneReport, Retention, SnapshotFilter, StoreLocation,
    VerifyDepth, VerifyReport,
};

use crate::vault::{
    identities, local_config, locate_snapshot, open_repository, record_result, repository_config,
    runtime, stores_in_use, tenant_key_if_held, trusted_keys, vault_error,
};
use crate::{Error, Workspace, environment, event};

/// Every committed snapshot of the estate's object stores (or of `repo`, a local
/// repository folder), or of one environment (`target`).
pub fn list(
    ws: &Workspace,
    estate: &Estate,
    target: Option<&str>,
    repo: Option<&Path>,
) -> Result<Vec<ListedSnapshot>, Error> {
    let keys = trusted_keys(estate)?;
    let (filter, configs) = match target {
        Some(t) => {
            let env = environment(estate, t)?;
            let filter = SnapshotFilter {
                tenant: Some(env.tenant.clone()),
                workload: Some(env.workload.clone()),
                environment: Some(env.environment.clone()),
            };
            let config = match repo {
                Some(dir) => local_config(dir),
                None => repository_config(ws, estate, &ws.store_of(env))?,
            };
            (filter, vec![config])
        }
        None => {
            let configs = match repo {
                Some(dir) => vec![local_config(dir)],
                None => stores_in_use(ws, estate)
                    .iter()
                    .map(|n| repository_config(ws, estate, n))
                    .collect::<Result<_, _>>()?,
            };
            (SnapshotFilter::default(), configs)
        }
    };
    runtime()?.block_on(async {
        let mut all = Vec::new();
        for config in &configs {
            if let StoreLocation::Local(dir) = &config.store
                && !dir.exists()
            {
                continue; // nothing backed up there yet
            }
            let repo = open_repository(config).await?;
            let found = ward_vault::list(&repo, &filter, &keys)
                .await
                .map_err(|e| vault_error(e, "check the object store"))?;
            all.extend(found);
        }
        Ok::<_, Error>(all)
    })
}

/// What a prune does.
#[derive(Debug, Clone)]
pub struct PruneRequest {
    /// `workload/environment`.
    pub address: String,
    pub dry_run: bool,
    /// Unreferenced blobs younger than this are kept (a backup running now keeps its
    /// fresh blobs), as written (`24h`).
    pub grace: String,
    /// A DBA identity to unlock the tenant key when it is not cached.
    pub identity: Option<PathBuf>,
}

impl PruneRequest {
    pub fn new(address: impl Into<String>) -> PruneRequest {
        PruneRequest {
            address: address.into(),
            dry_run: false,
            grace: "24h".to_string(),
            identity: None,
        }
    }
}

/// Applies the tier's retention to one environment's snapshots, then collects garbage
/// older than the grace period, and records it (`backup.prune`).
#[tracing::instrument(name = "ops.prune", skip_all, fields(environment = %request.address, actor = %ws.actor))]
pub fn prune(
    ws: &Workspace,
    estate: &Estate,
    request: &PruneRequest,
) -> Result<(PruneReport, GcReport), Error> {
    let env = environment(estate, &request.address)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let r = &env.classification.posture.retention;
    let retention = Retention {
        keep_last: r.keep_last,
        hourly: r.hourly,
        daily: r.daily,
        weekly: r.weekly,
        monthly: r.monthly,
    };
    let mut details = event::BackupPrune {
        dry_run: request.dry_run,
        grace: request.grace.clone(),
        retention: json!({"keepLast": r.keep_last, "hourly": r.hourly, "daily": r.daily, "weekly": r.weekly, "monthly": r.monthly}),
        ..Default::default()
    };
    let result = (|| {
        let grace = ward_estate::units::Duration::parse(&request.grace).map_err(|e| {
            Error::bad_input(
                format!("--grace {}: {e}", request.grace),
                "e.g. 30m, 6h, 1d",
            )
        })?;
        let config = repository_config(ws, estate, &ws.store_of(env))?;
        let keys = trusted_keys(estate)?;
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            let pruned = ward_vault::prune(
                &repo,
                &env.tenant,
                &env.workload,
                &env.environment,
                &keys,
                &retention,
                request.dry_run,
            )
            .await
            .map_err(|e| vault_error(e, "nothing more was removed; run prune again"))?;
            let tenant_key =
                tenant_key_if_held(&repo, ws, estate, &env.tenant, request.identity.as_deref())
                    .await;
            let gc = ward_vault::collect_garbage(
                &repo,
                &env.tenant,
                &keys,
                tenant_key.as_ref(),
                Duration::from_secs(grace.as_secs()),
                request.dry_run,
            )
            .await
            .map_err(|e| {
                vault_error(
                    e,
                    "snapshots were pruned; run prune again to collect garbage",
                )
            })?;
            Ok::<_, Error>((pruned, gc))
        })
    })();
    let result = match result {
        Ok((pruned, gc)) => {
            details.removed = Some(pruned.removed.iter().map(|s| s.to_string()).collect());
            details.kept = Some((pruned.decisions.len() - pruned.removed.len()) as u64);
            details.deleted_objects = Some(gc.deleted.len() as u64);
            details.unverified = Some(gc.unverified.clone());
            details.deleted_bytes = Some(gc.deleted_bytes);
            details.packs_repacked = Some(gc.packs_repacked);
            details.packs_unchecked = Some(gc.packs_unchecked);
            details.blobs_unchecked = Some(gc.blobs_unchecked);
            Ok(((pruned, gc), Outcome::Ok, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}

/// What a verify checks.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// Snapshot id, unique id prefix, or `tenant/workload/environment/id`.
    pub snapshot: String,
    /// Every byte decrypted and every checksum checked (needs an identity).
    pub read_data: bool,
    pub identity: Option<PathBuf>,
    /// A local repository folder instead of the estate's object stores.
    pub repo: Option<PathBuf>,
}

/// Checks one snapshot (every object present with its size, or with `read_data` every
/// byte) and records it (`backup.verify`); bad objects are findings.
#[tracing::instrument(name = "ops.verify", skip_all, fields(snapshot = %args.snapshot, actor = %ws.actor))]
pub fn verify(
    ws: &Workspace,
    estate: &Estate,
    args: &VerifyRequest,
    progress: Arc<dyn Progress>,
) -> Result<VerifyReport, Error> {
    let mut details = event::BackupVerify {
        read_data: args.read_data,
        ..Default::default()
    };
    let mut subject = args.snapshot.clone();
    let result = runtime()?.block_on(async {
        let ids = if args.read_data {
            Some(identities(ws, estate, args.identity.as_deref())?)
        } else {
            None
        };
        let found = locate_snapshot(ws, estate, &args.snapshot, args.repo.as_deref()).await?;
        subject = found.manifest.snapshot.to_string();
        let tenant_key = match &ids {
            Some(_) => None,
            None => {
                tenant_key_if_held(
                    &found.repo,
                    ws,
                    estate,
                    &found.manifest.snapshot.tenant,
                    args.identity.as_deref(),
                )
                .await
            }
        };
        let depth = match (&ids, &tenant_key) {
            (Some(ids), _) => VerifyDepth::ReadData(ids),
            (None, Some(key)) => VerifyDepth::Located(key),
            (None, None) => VerifyDepth::Metadata,
        };
        ward_vault::verify(
            &found.repo,
            &found.manifest.snapshot,
            &found.keys,
            depth,
            progress,
        )
        .await
        .map_err(|e| vault_error(e, "check the object store"))
    });
    let result = match result {
        Ok(report) => {
            details.objects_checked = Some(report.objects_checked);
            details.stored_bytes_read = Some(report.stored_bytes_read);
            details.objects_unlocated = Some(report.objects_unlocated);
            details.faults = Some(
                report
                    .faults
                    .iter()
                    .map(|f| json!({"object": f.object, "problem": f.problem}))
                    .collect(),
            );
            let outcome = if report.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Findings
            };
            Ok((report, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}
