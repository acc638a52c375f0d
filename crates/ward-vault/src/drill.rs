//! `drill`: proves a snapshot restores. It restores into a scratch database and folder,
//! checks the result against the manifest (row counts, modules, every blob's sha1), times
//! the restore against the RTO and the snapshot's age against the RPO, then drops it all.
//!
//! Nothing of the environment itself is touched: the scratch names are new and random. A
//! failed restore cleans up after itself (see `restore`), so the drill only drops a
//! scratch copy that was restored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::read_manifest;
use crate::error::{Result, io_err};
use crate::keys::Identities;
use crate::manifest::{SnapshotRef, random_hex};
use crate::pg::{DbConnection, PgTools, db_error, quote_ident};
use crate::progress::Progress;
use crate::restore::{RestoreRequest, RestoreSummary, restore};
use crate::statement::TrustedKeys;
use crate::store::Repository;

/// Where to drill and what to hold the result to.
#[derive(Debug, Clone)]
pub struct DrillRequest {
    /// The server the scratch database is created on; `dbname` is the maintenance
    /// database used to create and drop it. The user needs `CREATEDB`.
    pub server: DbConnection,
    /// The scratch filestore goes in a new folder under this one.
    pub scratch_dir: PathBuf,
    pub jobs: u32,
    pub pg_tools: PgTools,
    /// The recovery time objective the restore must meet.
    pub rto: Option<Duration>,
    /// The recovery point objective the snapshot's age must meet.
    pub rpo: Option<Duration>,
    /// Leave the scratch database and folder for inspection.
    pub keep: bool,
}

/// What a drill measured and whether it passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    pub snapshot: SnapshotRef,
    pub started: jiff::Timestamp,
    pub scratch_database: String,
    pub scratch_filestore: PathBuf,
    /// The scratch database and folder were left in place (`keep`).
    pub kept: bool,
    /// Wall time of the restore, from the first byte read to the checked result.
    pub rto_seconds: f64,
    pub rto_target_seconds: Option<f64>,
    /// The snapshot's age when the drill started: the data a restore now would lose.
    pub rpo_seconds: f64,
    pub rpo_target_seconds: Option<f64>,
    pub restore: RestoreSummary,
    /// Why the drill failed; empty when it passed.
    pub failures: Vec<String>,
}

impl DrillReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one drill of `snapshot`.
#[tracing::instrument(name = "vault.drill", skip_all, fields(snapshot = %snapshot), err(Display))]
pub async fn drill(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    identities: &Identities,
    request: &DrillRequest,
    progress: Arc<dyn Progress>,
) -> Result<DrillReport> {
    let started = jiff::Timestamp::now();
    // A drill of a forged snapshot would record a PASSED that proves nothing: verify first.
    let manifest = read_manifest(repo, snapshot, keys).await?;
    let suffix = random_hex::<6>()?;
    let scratch_database = format!("ward_drill_{suffix}");
    let scratch_root = request.scratch_dir.join(format!("ward-drill-{suffix}"));
    let scratch_filestore = crate::names::filestore_folder(&scratch_root, &scratch_database)?;
    let mut restore_request = RestoreRequest::new(
        request.server.with_dbname(&scratch_database),
        &scratch_filestore,
    );
    restore_request.maintenance_db = request.server.dbname.clone();
    restore_request.jobs = request.jobs;
    restore_request.pg_tools = request.pg_tools.clone();

    let clock = Instant::now();
    let restored = restore(repo, snapshot, keys, identities, &restore_request, progress).await;
    let rto = clock.elapsed();
    // A failed restore has dropped and removed what it created, and says so in its error.
    let restored = restored?;
    if !request.keep {
        cleanup(&request.server, &scratch_database, &scratch_root).await?;
    }

    let rpo = started
        .duration_since(manifest.started)
        .unsigned_abs()
        .as_secs_f64();
    let mut failures = Vec::new();
    for m in &restored.row_count_mismatches {
        failures.push(format!(
            "table {} has {} rows, the manifest says {}",
            m.table,
            m.actual.map_or_else(|| "no".into(), |n| n.to_string()),
            m.expected
        ));
    }
    if !restored.modules_match {
        failures.push("the installed modules differ from the manifest".into());
    }
    if let Some(target) = request.rto
        && rto > target
    {
        failures.push(format!(
            "the restore took {:.1}s, over the RTO of {}s",
            rto.as_secs_f64(),
            target.as_secs()
        ));
    }
    if let Some(target) = request.rpo
        && rpo > target.as_secs_f64()
    {
        failures.push(format!(
            "the newest snapshot was {rpo:.0}s old, over the RPO of {}s: backups are not running often enough",
            target.as_secs()
        ));
    }
    Ok(DrillReport {
        snapshot: snapshot.clone(),
        started,
        scratch_database,
        scratch_filestore,
        kept: request.keep,
        rto_seconds: rto.as_secs_f64(),
        rto_target_seconds: request.rto.map(|d| d.as_secs_f64()),
        rpo_seconds: rpo,
        rpo_target_seconds: request.rpo.map(|d| d.as_secs_f64()),
        restore: restored,
        failures,
    })
}

/// Drops the scratch database and folder; both may already be gone.
async fn cleanup(server: &DbConnection, database: &str, folder: &std::path::Path) -> Result<()> {
    let admin = server.connect().await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(database)
        ))
        .await
        .map_err(db_error)?;
    match std::fs::remove_dir_all(folder) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_err("removing the drill's scratch folder", folder)(e))
        }
        _ => Ok(()),
    }
}
