//! `restore`: a snapshot into a new PostgreSQL database and its filestore into Odoo's
//! layout `<data_dir>/filestore/<db>/`, checked against the manifest; or its filestore
//! only; or Odoo's own backup zip. Each is recorded in the ledger, success or failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_vault::{
    FilestoreRestoreSummary, OdooZipSummary, Progress, Repository, RestoreSummary, SnapshotRef,
    TrustedKeys,
};

use crate::vault::{
    Login, PgSettings, db_connection, identities, locate_snapshot, newest_verified_snapshot,
    record_result, round, runtime, vault_error,
};
use crate::{Error, Workspace, environment, event};

/// Which snapshot a restore reads.
#[derive(Clone, Debug)]
pub enum SnapshotChoice {
    /// An id, a unique id prefix, or `tenant/workload/environment/id`.
    Named(String),
    /// The newest snapshot of this environment (`workload/environment`) whose signed
    /// statement verifies: a forged newer one is never restored.
    Latest(String),
}

impl SnapshotChoice {
    /// What was asked for, for the ledger until the snapshot is known.
    fn requested(&self) -> String {
        match self {
            SnapshotChoice::Named(id) => id.clone(),
            SnapshotChoice::Latest(env) => format!("{env}/latest"),
        }
    }
}

/// Where a restore reads from and with which key.
#[derive(Clone, Debug)]
pub struct Source {
    pub snapshot: SnapshotChoice,
    /// A local repository folder instead of the estate's object stores.
    pub repo: Option<PathBuf>,
    /// An age identity file instead of `WARD_IDENTITY` or the state folder's.
    pub identity: Option<PathBuf>,
}

/// A restore into a database server.
#[derive(Clone, Debug)]
pub struct DatabaseRestore {
    pub source: Source,
    /// The database to create.
    pub to_db: String,
    /// Odoo's data_dir: the blobs go to `<data_dir>/filestore/<to_db>/`.
    pub data_dir: PathBuf,
    /// pg_restore jobs for the post-data section.
    pub jobs: u32,
    /// Replace an existing database and the filestore folder Ward restored.
    pub replace: bool,
    /// The server to restore into instead of the snapshot environment's.
    pub db_url: Option<String>,
    /// The role that owns what is restored instead of the environment's owner.
    pub owner: Option<String>,
    pub pg: PgSettings,
}

/// A restore of the filestore alone.
#[derive(Clone, Debug)]
pub struct FilestoreRestore {
    pub source: Source,
    /// The database whose filestore folder it is.
    pub database: String,
    pub data_dir: PathBuf,
    pub replace: bool,
}

/// An export as Odoo's own backup zip.
#[derive(Clone, Debug)]
pub struct ZipExport {
    pub source: Source,
    pub path: PathBuf,
    pub replace: bool,
    pub pg: PgSettings,
}

/// `<data_dir>/filestore/<database>`, once the database name is one safe component.
pub fn filestore_folder(data_dir: &Path, database: &str) -> Result<PathBuf, Error> {
    ward_vault::filestore_folder(data_dir, database).map_err(|e| {
        vault_error(
            e,
            "--to-db takes a database name such as billing_check, not a path",
        )
    })
}

/// Restores into a new database and filestore and checks them against the manifest; a
/// restore whose row counts or modules differ is recorded as findings and returned with
/// `is_consistent()` false.
#[tracing::instrument(name = "ops.restore", skip_all, fields(snapshot = %request.source.snapshot.requested(), to_db = %request.to_db, actor = %ws.actor))]
pub fn to_database(
    ws: &Workspace,
    estate: &Estate,
    request: &DatabaseRestore,
    progress: Arc<dyn Progress>,
) -> Result<RestoreSummary, Error> {
    let to_db = &request.to_db;
    let filestore = filestore_folder(&request.data_dir, to_db)?;
    let mut details = event::Restore {
        to_db: to_db.clone(),
        filestore: filestore.display().to_string(),
        replace: request.replace,
        ..Default::default()
    };
    let mut subject = request.source.snapshot.requested();
    let result = (|| {
        if request.jobs == 0 {
            return Err(Error::bad_input(
                "--jobs must be at least 1",
                "use --jobs 1",
            ));
        }
        let ids = identities(ws, estate, request.source.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(ws, estate, &request.source).await?;
            let snapshot = found.snapshot.clone();
            subject = snapshot.to_string();
            let env =
                estate.environment(&format!("{}/{}", snapshot.workload, snapshot.environment));
            let mut target = db_connection(ws, env.map(Login::owner), request.db_url.as_deref())?;
            target.db.timeouts = request.pg.timeouts(estate, env)?;
            request.pg.tls.apply(
                &mut target.db,
                env,
                request.db_url.as_deref(),
                ws.env.home.as_deref(),
            )?;
            let mut vault_request =
                ward_vault::RestoreRequest::new(target.db.with_dbname(to_db), &filestore);
            vault_request.jobs = request.jobs;
            vault_request.replace = request.replace;
            vault_request.pg_tools = request.pg.tools(&ws.env);
            vault_request.owner = request
                .owner
                .clone()
                .or_else(|| env.map(|e| e.database.owner().to_string()));
            ward_vault::restore(
                &found.repo,
                &snapshot,
                &found.keys,
                &ids,
                &vault_request,
                progress,
            )
            .await
            .map_err(|e| target.failure(e, "fix the cause and run it again"))
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.replaced = Some(summary.replaced);
            details.dump_bytes = Some(summary.dump_bytes);
            details.blobs_restored = Some(summary.blobs_restored);
            details.blob_bytes = Some(summary.blob_bytes);
            details.duration_seconds = Some(round(summary.duration_seconds));
            details.consistent = Some(summary.is_consistent());
            let outcome = if summary.is_consistent() {
                Outcome::Ok
            } else {
                details.row_count_mismatches =
                    serde_json::to_value(&summary.row_count_mismatches).ok();
                details.modules_match = Some(summary.modules_match);
                Outcome::Findings
            };
            Ok((summary, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}

/// Restores the snapshot's filestore into `<data_dir>/filestore/<database>`, checked blob
/// by blob; no database server is needed or touched.
#[tracing::instrument(name = "ops.restore_filestore", skip_all, fields(snapshot = %request.source.snapshot.requested(), actor = %ws.actor))]
pub fn filestore_only(
    ws: &Workspace,
    estate: &Estate,
    request: &FilestoreRestore,
    progress: Arc<dyn Progress>,
) -> Result<FilestoreRestoreSummary, Error> {
    let filestore = filestore_folder(&request.data_dir, &request.database)?;
    let mut details = event::RestoreFilestore {
        filestore: filestore.display().to_string(),
        replace: request.replace,
        ..Default::default()
    };
    let mut subject = request.source.snapshot.requested();
    let result = (|| {
        let ids = identities(ws, estate, request.source.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(ws, estate, &request.source).await?;
            subject = found.snapshot.to_string();
            let vault_request = ward_vault::FilestoreRestoreRequest {
                folder: filestore.clone(),
                replace: request.replace,
                blob_concurrency: 8,
            };
            ward_vault::restore_filestore(
                &found.repo,
                &found.snapshot,
                &found.keys,
                &ids,
                &vault_request,
                progress,
            )
            .await
            .map_err(|e| vault_error(e, "fix the cause and run it again"))
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.replaced = Some(summary.replaced);
            details.blobs_restored = Some(summary.blobs_restored);
            details.blob_bytes = Some(summary.blob_bytes);
            details.duration_seconds = Some(round(summary.duration_seconds));
            Ok((summary, Outcome::Ok, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}

/// Writes the snapshot as Odoo's backup zip; needs no database server.
#[tracing::instrument(name = "ops.restore_zip", skip_all, fields(snapshot = %request.source.snapshot.requested(), actor = %ws.actor))]
pub fn to_zip(
    ws: &Workspace,
    estate: &Estate,
    request: &ZipExport,
    progress: Arc<dyn Progress>,
) -> Result<OdooZipSummary, Error> {
    let path = &request.path;
    let mut details = event::RestoreZip {
        to_zip: path.display().to_string(),
        replace: request.replace,
        ..Default::default()
    };
    let mut subject = request.source.snapshot.requested();
    let result = (|| {
        let ids = identities(ws, estate, request.source.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(ws, estate, &request.source).await?;
            let snapshot = found.snapshot.clone();
            subject = snapshot.to_string();
            let vault_request = ward_vault::OdooZipRequest {
                path: path.to_path_buf(),
                replace: request.replace,
                pg_tools: request.pg.tools(&ws.env),
                blob_concurrency: 8,
            };
            ward_vault::export_odoo_zip(
                &found.repo,
                &snapshot,
                &found.keys,
                &ids,
                &vault_request,
                progress,
            )
            .await
            .map_err(|e| vault_error(e, "no zip was written; fix the cause and run it again"))
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.sql_bytes = Some(summary.sql_bytes);
            details.blobs = Some(summary.blobs);
            details.zip_bytes = Some(summary.zip_bytes);
            Ok((summary, Outcome::Ok, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}

/// The snapshot a restore reads, in the repository that holds it.
struct Found {
    repo: Repository,
    snapshot: SnapshotRef,
    keys: TrustedKeys,
}

/// The named snapshot, or the newest of the environment whose statement verifies against
/// the estate's pinned keys, in the environment's store (the workspace's object-store
/// override replaces it, a local `repo` folder is read instead).
async fn locate(ws: &Workspace, estate: &Estate, source: &Source) -> Result<Found, Error> {
    let address = match &source.snapshot {
        SnapshotChoice::Named(id) => {
            let found = locate_snapshot(ws, estate, id, source.repo.as_deref()).await?;
            return Ok(Found {
                repo: found.repo,
                snapshot: found.manifest.snapshot,
                keys: found.keys,
            });
        }
        SnapshotChoice::Latest(address) => address,
    };
    let env = environment(estate, address)?;
    let (repo, newest, keys) =
        newest_verified_snapshot(ws, estate, env, source.repo.as_deref()).await?;
    let Some(snapshot) = newest else {
        return Err(Error::operational(
            format!(
                "{} has no verified snapshot in {} (`ward backup list` shows why each one does not verify)",
                env.address(),
                repo.describe()
            ),
            "check --object-store, or run `ward backup run` for it first",
        ));
    };
    Ok(Found {
        repo,
        snapshot,
        keys,
    })
}
