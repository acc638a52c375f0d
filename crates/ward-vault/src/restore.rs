//! `restore`: a snapshot into a new database (with `pg_restore`) and a filestore folder in
//! Odoo's layout, checking every blob's sha1 and the restored row counts and modules.
//!
//! It refuses to touch an existing database or a non-empty folder unless told to replace,
//! and replaces only a folder Ward restored (its marker); a failed restore drops the
//! database and removes the folders it created, and says so.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::archive_head::HeadWriter;
use crate::catalog::{open_snapshot, read_manifest};
use crate::dump::{DumpCopyError, VerifiedDump};
use crate::error::{Result, VaultError, io_err};
use crate::keys::Identities;
use crate::manifest::{AttachmentEntry, SnapshotContents, SnapshotRef};
use crate::names::{check_component, filestore_file, sha1_of_store_fname};
use crate::pg::{
    DbConnection, PgTools, RestoreSections, collect_stderr, db_error, quote_ident, read_facts,
};
use crate::pipeline::{DecodeDigests, DecodeError, decode_bytes};
use crate::progress::{Phase, Progress};
use crate::spool::PrivateFolder;
use crate::statement::TrustedKeys;
use crate::store::Repository;

/// Where and how to restore.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// Server, credentials and the name of the database to create.
    pub db: DbConnection,
    /// Database used to create/drop the target (usually `postgres`).
    pub maintenance_db: String,
    /// The database's filestore folder (Odoo's `<data_dir>/filestore/<db>`).
    pub filestore: PathBuf,
    /// `pg_restore --jobs` for the post-data section (indexes, constraints); above 1 the
    /// rows still stream into one `pg_restore`, and only the archive's head (no row) is
    /// written to a private temporary file.
    pub jobs: u32,
    /// Drop an existing database and empty the filestore folder first.
    pub replace: bool,
    pub pg_tools: PgTools,
    pub blob_concurrency: usize,
    /// The role that owns the restored database and every object in it: the environment's
    /// own role, so that Odoo, connecting as it, reads every table and finds the database
    /// in its listing (which keeps the databases the current user owns). The database is
    /// created `OWNER` it and `pg_restore --role` creates every object as it; the
    /// connecting user must be allowed to `SET ROLE` to it (a superuser, or a member).
    /// `None`: the connecting user owns what it restores (drills, which drop it after).
    pub owner: Option<String>,
    /// Where the stored dump is spooled and checked before it is decrypted (a private
    /// folder is made inside and removed after); `None`: the system's temporary folder.
    pub spool_dir: Option<PathBuf>,
}

impl RestoreRequest {
    pub fn new(db: DbConnection, filestore: impl Into<PathBuf>) -> RestoreRequest {
        RestoreRequest {
            db,
            maintenance_db: "postgres".into(),
            filestore: filestore.into(),
            jobs: 1,
            replace: false,
            pg_tools: PgTools::default(),
            blob_concurrency: 8,
            owner: None,
            spool_dir: None,
        }
    }
}

/// A table whose restored row count differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowCountMismatch {
    pub table: String,
    pub expected: u64,
    pub actual: Option<u64>,
}

/// The result of a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    pub snapshot: SnapshotRef,
    pub database: String,
    pub filestore: PathBuf,
    /// An existing database or filestore was replaced (record it in the ledger).
    pub replaced: bool,
    pub dump_bytes: u64,
    pub blobs_restored: u64,
    pub blob_bytes: u64,
    pub duration_seconds: f64,
    pub database_seconds: f64,
    pub filestore_seconds: f64,
    /// Empty when every counted table has the manifest's row count.
    pub row_count_mismatches: Vec<RowCountMismatch>,
    /// Whether the installed modules and versions equal the manifest's.
    pub modules_match: bool,
    /// Attachments the snapshot recorded as missing at backup time (not restorable).
    pub missing_at_backup: Vec<String>,
}

impl RestoreSummary {
    /// The restored data matches the manifest.
    pub fn is_consistent(&self) -> bool {
        self.row_count_mismatches.is_empty() && self.modules_match
    }
}

/// Restores `snapshot` as described by `request`, once its statement verifies against the
/// keys pinned for its environment.
#[tracing::instrument(name = "vault.restore", skip_all, fields(snapshot = %snapshot), err(Display))]
pub async fn restore(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    identities: &Identities,
    request: &RestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<RestoreSummary> {
    restore_unlocated(repo, snapshot, keys, identities, request, progress)
        .await
        .map_err(|e| request.db.locate(e))
}

async fn restore_unlocated(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    identities: &Identities,
    request: &RestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<RestoreSummary> {
    let clock = Instant::now();
    if request.blob_concurrency == 0 {
        return Err(VaultError::InvalidInput(
            "blob concurrency must be at least 1".into(),
        ));
    }
    // Nothing is read before the statement verifies: an unsigned or forged snapshot stops here.
    let manifest = read_manifest(repo, snapshot, keys).await?;
    // Open the sealed part before touching anything: a wrong key fails here, harmlessly.
    let contents = open_snapshot(repo, &manifest, identities).await?;

    check_component("database name", &request.db.dbname)?;
    let admin = request
        .db
        .with_dbname(&request.maintenance_db)
        .connect()
        .await?;
    let server_major: u32 = {
        let v: String = admin
            .query_one("SHOW server_version_num", &[])
            .await
            .map_err(db_error)?
            .get(0);
        v.parse::<u32>().map(|n| n / 10000).unwrap_or(0)
    };
    let pg_restore = request.pg_tools.check("pg_restore", server_major)?;
    let exists = !admin
        .query(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&request.db.dbname],
        )
        .await
        .map_err(db_error)?
        .is_empty();
    let folder = FolderState::of(&request.filestore)?;
    if exists && !request.replace {
        return Err(VaultError::DatabaseExists(request.db.dbname.clone()));
    }
    match folder {
        FolderState::Restored if !request.replace => {
            return Err(VaultError::FilestoreNotEmpty(request.filestore.clone()));
        }
        FolderState::Foreign => {
            return Err(VaultError::FilestoreNotWard(request.filestore.clone()));
        }
        _ => {}
    }

    // From here on every change is tracked, so that a failure undoes what it made.
    let mut made = Made::default();
    let restored = restore_tracked(
        repo,
        snapshot,
        &contents,
        identities,
        request,
        &admin,
        &pg_restore,
        exists,
        folder,
        &mut made,
        progress,
    )
    .await;
    let (dump_bytes, (blobs_restored, blob_bytes), db_time, files_time) = match restored {
        Ok(done) => done,
        Err(cause) => return Err(made.undo(&admin, &request.db.dbname, cause).await),
    };

    // Check the result against the manifest.
    let checked = async {
        let restored = request.db.connect().await?;
        restored
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db_error)?;
        let facts = read_facts(&restored).await?;
        let _ = restored.batch_execute("COMMIT").await;
        Ok::<_, VaultError>(facts)
    }
    .await;
    let facts = match checked {
        Ok(facts) => facts,
        Err(cause) => return Err(made.undo(&admin, &request.db.dbname, cause).await),
    };
    let row_count_mismatches = compare_counts(&contents.sealed.row_counts, &facts.row_counts);
    Ok(RestoreSummary {
        snapshot: snapshot.clone(),
        database: request.db.dbname.clone(),
        filestore: request.filestore.clone(),
        replaced: exists || folder == FolderState::Restored,
        dump_bytes,
        blobs_restored,
        blob_bytes,
        duration_seconds: clock.elapsed().as_secs_f64(),
        database_seconds: db_time.as_secs_f64(),
        filestore_seconds: files_time.as_secs_f64(),
        row_count_mismatches,
        modules_match: facts.modules == contents.sealed.modules,
        missing_at_backup: contents
            .sealed
            .missing
            .iter()
            .map(|p| p.store_fname.clone())
            .collect(),
    })
}

/// The file Ward writes into every filestore folder it restores (with the snapshot it came
/// from): `replace` deletes only a folder that has it, so it never empties a folder Ward
/// did not fill.
pub const RESTORED_MARKER: &str = ".ward-restored";

/// What is at the filestore folder before a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FolderState {
    Missing,
    Empty,
    /// Not empty, and Ward's marker is there.
    Restored,
    /// Not empty and not restored by Ward: never deleted.
    Foreign,
}

impl FolderState {
    pub(crate) fn of(folder: &Path) -> Result<FolderState> {
        let meta = match std::fs::symlink_metadata(folder) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FolderState::Missing),
            other => other.map_err(io_err("inspecting the filestore folder", folder))?,
        };
        if !meta.is_dir() {
            // A symlink could lead anywhere, a file is not a filestore.
            return Err(VaultError::InvalidInput(format!(
                "filestore folder {} is {}, not a folder; restore into a plain folder",
                folder.display(),
                if meta.file_type().is_symlink() {
                    "a symbolic link"
                } else {
                    "a file"
                }
            )));
        }
        let mut entries =
            std::fs::read_dir(folder).map_err(io_err("reading the filestore folder", folder))?;
        if entries.next().is_none() {
            return Ok(FolderState::Empty);
        }
        let marker = std::fs::symlink_metadata(folder.join(RESTORED_MARKER));
        Ok(if marker.is_ok_and(|m| m.is_file()) {
            FolderState::Restored
        } else {
            FolderState::Foreign
        })
    }
}

/// What a restore changed so far, to undo on failure and to say truthfully what it did.
#[derive(Debug, Default)]
struct Made {
    /// The existing database was dropped (`replace`).
    dropped_existing: bool,
    /// Ward ran CREATE DATABASE.
    created_database: bool,
    /// The outermost folder Ward created (the filestore folder or an ancestor).
    created_folder: Option<PathBuf>,
    /// The filestore folder existed empty: on failure it is emptied again, not removed.
    emptied_folder: Option<PathBuf>,
}

impl Made {
    fn anything(&self) -> bool {
        self.dropped_existing
            || self.created_database
            || self.created_folder.is_some()
            || self.emptied_folder.is_some()
    }

    /// Drops the database and removes the folder this restore created, and wraps `cause`
    /// with what was (and was not) cleaned up.
    async fn undo(
        self,
        admin: &tokio_postgres::Client,
        database: &str,
        cause: VaultError,
    ) -> VaultError {
        if !self.anything() {
            return cause;
        }
        let mut cleanup = Cleanup {
            database: database.to_string(),
            dropped_existing: self.dropped_existing,
            ..Cleanup::default()
        };
        if self.created_database {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(database)
            );
            match admin.batch_execute(&sql).await {
                Ok(()) => cleanup.dropped_created = true,
                Err(e) => cleanup.left_behind.push(format!(
                    "the database {database:?} it created could not be dropped ({}): drop it by hand",
                    db_error(e)
                )),
            }
        }
        if let Some(folder) = &self.created_folder {
            match std::fs::remove_dir_all(folder) {
                Ok(()) => cleanup.removed_folders.push(folder.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => cleanup.left_behind.push(format!(
                    "the folder {} it created could not be removed ({e}): remove it by hand",
                    folder.display()
                )),
            }
        }
        if let Some(folder) = &self.emptied_folder {
            match empty_folder(folder) {
                Ok(()) => cleanup.emptied_folders.push(folder.clone()),
                Err(e) => cleanup.left_behind.push(format!(
                    "what it wrote into {} could not be removed ({e}): empty it by hand",
                    folder.display()
                )),
            }
        }
        VaultError::RestoreFailed {
            cause: Box::new(cause),
            cleanup,
        }
    }
}

/// Removes everything inside `folder` (which may be a mount point, so it stays).
pub(crate) fn empty_folder(folder: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// What a failed restore cleaned up: only what it created itself, and it says so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cleanup {
    pub database: String,
    /// The database existed and was dropped before the restore (`replace`).
    pub dropped_existing: bool,
    /// The database this restore created was dropped again.
    pub dropped_created: bool,
    /// Folders this restore created, removed again.
    pub removed_folders: Vec<PathBuf>,
    /// Folders that existed empty, emptied again.
    pub emptied_folders: Vec<PathBuf>,
    /// What could not be cleaned up, and what to do.
    pub left_behind: Vec<String>,
}

impl std::fmt::Display for Cleanup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut said = Vec::new();
        if self.dropped_existing {
            said.push(format!(
                "the existing database {:?} had been dropped first (replace)",
                self.database
            ));
        }
        if self.dropped_created {
            said.push(format!(
                "Ward dropped the database {:?} it had created",
                self.database
            ));
        }
        for folder in &self.removed_folders {
            said.push(format!(
                "removed the folder {} it had created",
                folder.display()
            ));
        }
        for folder in &self.emptied_folders {
            said.push(format!("emptied {} again", folder.display()));
        }
        said.extend(self.left_behind.iter().cloned());
        write!(f, "{}", said.join("; "))
    }
}

/// The filestore folder's first ancestor (or itself) that does not exist yet: what
/// `create_dir_all` is about to create, and so what a failure removes.
fn first_missing(folder: &Path) -> Option<PathBuf> {
    let mut missing = None;
    let mut at = Some(folder);
    while let Some(p) = at {
        if std::fs::symlink_metadata(p).is_ok() {
            break;
        }
        missing = Some(p.to_path_buf());
        at = p.parent();
    }
    missing
}

/// The part of a restore that changes things, recording each change in `made`.
#[allow(clippy::too_many_arguments)]
async fn restore_tracked(
    repo: &Repository,
    snapshot: &SnapshotRef,
    contents: &SnapshotContents,
    identities: &Identities,
    request: &RestoreRequest,
    admin: &tokio_postgres::Client,
    pg_restore: &Path,
    exists: bool,
    folder: FolderState,
    made: &mut Made,
    progress: Arc<dyn Progress>,
) -> Result<(u64, (u64, u64), std::time::Duration, std::time::Duration)> {
    let target = quote_ident(&request.db.dbname);
    if exists {
        admin
            .batch_execute(&format!("DROP DATABASE {target} WITH (FORCE)"))
            .await
            .map_err(db_error)?;
        made.dropped_existing = true;
    }
    let filestore = &request.filestore;
    match folder {
        FolderState::Restored => {
            std::fs::remove_dir_all(filestore)
                .map_err(io_err("emptying the filestore folder", filestore))?;
            made.created_folder = first_missing(filestore);
        }
        FolderState::Missing => made.created_folder = first_missing(filestore),
        FolderState::Empty => made.emptied_folder = Some(filestore.clone()),
        FolderState::Foreign => return Err(VaultError::FilestoreNotWard(filestore.clone())),
    }
    std::fs::create_dir_all(filestore)
        .map_err(io_err("creating the filestore folder", filestore))?;
    let marker =
        serde_json::json!({ "snapshot": snapshot.to_string(), "database": request.db.dbname });
    write_atomically(
        &filestore.join(RESTORED_MARKER),
        marker.to_string().as_bytes(),
    )?;
    admin
        .batch_execute(&match &request.owner {
            Some(owner) => format!(
                "CREATE DATABASE {target} OWNER {} TEMPLATE template0",
                quote_ident(owner)
            ),
            None => format!("CREATE DATABASE {target} TEMPLATE template0"),
        })
        .await
        .map_err(db_error)?;
    made.created_database = true;

    // While the database restores, the filestore's decrypting and writing takes half the
    // cores: its threads, many and always runnable, would crowd out the one backend that
    // loads the rows. Once the database is done it takes them all.
    let shared = (cores() / 2).max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(shared));
    let db_fut = async {
        let t = Instant::now();
        progress.start(Phase::RestoreDatabase, Some(contents.sealed.dump_size));
        let r = restore_database(
            repo,
            contents,
            identities,
            request,
            pg_restore,
            progress.clone(),
        )
        .await;
        progress.finish(Phase::RestoreDatabase);
        slots.add_permits(cores().saturating_sub(shared));
        (r, t.elapsed())
    };
    let files_fut = async {
        let t = Instant::now();
        progress.start(
            Phase::RestoreFilestore,
            Some(contents.sealed.attachments.len() as u64),
        );
        let r = write_blobs(
            repo,
            contents,
            identities,
            &request.filestore,
            request.blob_concurrency,
            slots.clone(),
            progress.clone(),
        )
        .await;
        progress.finish(Phase::RestoreFilestore);
        (r, t.elapsed())
    };
    let ((db_result, db_time), (files_result, files_time)) = tokio::join!(db_fut, files_fut);
    Ok((db_result?, files_result?, db_time, files_time))
}

fn compare_counts(
    expected: &BTreeMap<String, u64>,
    actual: &BTreeMap<String, u64>,
) -> Vec<RowCountMismatch> {
    expected
        .iter()
        .filter(|(t, n)| actual.get(*t) != Some(n))
        .map(|(t, n)| RowCountMismatch {
            table: t.clone(),
            expected: *n,
            actual: actual.get(t).copied(),
        })
        .collect()
}

async fn restore_database(
    repo: &Repository,
    contents: &SnapshotContents,
    identities: &Identities,
    request: &RestoreRequest,
    pg_restore: &Path,
    progress: Arc<dyn Progress>,
) -> Result<u64> {
    // Every byte is checked against the signed statement before pg_restore sees it.
    let dump = VerifiedDump::open(repo, contents, identities, request.spool_dir.as_deref()).await?;
    let ids = identities.clone();
    let tools = request.pg_tools.clone();
    let db = request.db.clone();
    let jobs = request.jobs.max(1);
    let owner = request.owner.clone();
    let spool_dir = request.spool_dir.clone();
    let pg_restore = pg_restore.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<u64> {
        let progress_ref: Option<(&dyn Progress, Phase)> =
            Some((progress.as_ref(), Phase::RestoreDatabase));
        if jobs == 1 {
            let child = tools.spawn_restore(
                &pg_restore,
                &db,
                owner.as_deref(),
                1,
                None,
                RestoreSections::All,
            )?;
            return stream_into_restore(child, dump, &ids, &db, None, progress_ref);
        }
        // pg_restore runs jobs only from a seekable file, and finds rows in a streamed
        // archive (which records no data offsets) only by reading through it. So the rows
        // stream, checked, into one pg_restore (definitions and data), while the archive's
        // head (its table of contents, no row) goes to a private file; from that file
        // pg_restore -j N then builds the indexes and constraints. No row reaches the disk.
        let folder = PrivateFolder::create(spool_dir.as_deref())?;
        let head_path = folder.path().join("head.dump");
        let head_file = std::fs::File::create(&head_path)
            .map_err(io_err("creating the archive head file", &head_path))?;
        let mut head = HeadWriter::new(std::io::BufWriter::new(head_file));
        let child = tools.spawn_restore(
            &pg_restore,
            &db,
            owner.as_deref(),
            1,
            None,
            RestoreSections::PreDataAndData,
        )?;
        let size = stream_into_restore(child, dump, &ids, &db, Some(&mut head), progress_ref)?;
        head.finish()
            .map_err(io_err("writing the archive head file", &head_path))?;
        let child = tools.spawn_restore(
            &pg_restore,
            &db,
            owner.as_deref(),
            jobs,
            Some(&head_path),
            RestoreSections::PostData,
        )?;
        wait_restore(child, &db)?;
        Ok(size)
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))?
}

/// Feeds the verified dump into `child` (a pg_restore reading its stdin), and, when given,
/// into `head`; returns the dump's size once pg_restore succeeded.
fn stream_into_restore(
    mut child: std::process::Child,
    dump: VerifiedDump,
    ids: &Identities,
    db: &DbConnection,
    head: Option<&mut HeadWriter<std::io::BufWriter<std::fs::File>>>,
    progress: Option<(&dyn Progress, Phase)>,
) -> Result<u64> {
    let stderr = collect_stderr(&mut child);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| VaultError::InvalidInput("pg_restore has no input pipe".into()))?;
    let mut out = RestoreInput {
        stdin,
        head,
        head_error: None,
    };
    let copied = dump.copy_to(ids, &mut out, progress);
    let _ = out.stdin.flush();
    let RestoreInput {
        stdin, head_error, ..
    } = out;
    drop(stdin);
    if copied.is_err() && !matches!(copied, Err(DumpCopyError::Write(_))) || head_error.is_some() {
        // A dump that failed its check: pg_restore must not commit what it read.
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(io_err("waiting for pg_restore", "pg_restore"))?;
    let stderr = stderr.join().unwrap_or_default();
    if let Some(e) = head_error {
        return Err(VaultError::Io {
            what: "writing the archive head file",
            path: "head.dump".into(),
            source: e,
        });
    }
    let size = match copied {
        Ok(size) => size,
        // A pg_restore that died first shows up as a broken pipe: report pg_restore.
        Err(DumpCopyError::Write(_)) if !status.success() => {
            return Err(db.tool_error("pg_restore", status.to_string(), stderr));
        }
        Err(e) => return Err(e.into_vault("feeding pg_restore")),
    };
    if !status.success() {
        return Err(db.tool_error("pg_restore", status.to_string(), stderr));
    }
    Ok(size)
}

/// pg_restore's input, and the archive head file beside it. A failure to write the head
/// is kept apart, so that it is not taken for pg_restore stopping.
struct RestoreInput<'a> {
    stdin: std::process::ChildStdin,
    head: Option<&'a mut HeadWriter<std::io::BufWriter<std::fs::File>>>,
    head_error: Option<std::io::Error>,
}

impl Write for RestoreInput<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stdin.write_all(buf)?;
        if let Some(head) = self.head.as_mut()
            && self.head_error.is_none()
            && let Err(e) = head.take(buf)
        {
            let message = e.to_string();
            self.head_error = Some(e);
            return Err(std::io::Error::other(message));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stdin.flush()
    }
}

fn wait_restore(mut child: std::process::Child, db: &DbConnection) -> Result<()> {
    let stderr = collect_stderr(&mut child);
    let status = child
        .wait()
        .map_err(io_err("waiting for pg_restore", "pg_restore"))?;
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(db.tool_error("pg_restore", status.to_string(), stderr))
    }
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Writes every attachment of `contents` under `root` in Odoo's layout, each once its
/// sha1 checks; attachments sharing one file are fetched once. `concurrency` blobs are
/// fetched at a time, and as many as `slots` has permits decrypted, checked and written.
/// Returns the files and bytes written.
pub(crate) async fn write_blobs(
    repo: &Repository,
    contents: &SnapshotContents,
    identities: &Identities,
    root: &Path,
    concurrency: usize,
    slots: Arc<tokio::sync::Semaphore>,
    progress: Arc<dyn Progress>,
) -> Result<(u64, u64)> {
    let mut seen = std::collections::BTreeSet::new();
    let entries: Vec<AttachmentEntry> = contents
        .sealed
        .attachments
        .iter()
        .filter(|e| seen.insert(e.store_fname.as_str()))
        .cloned()
        .collect();
    // After the first failure no new blob is started, but every one in flight is awaited:
    // a decrypt-and-write runs on a blocking thread that dropping its future would not
    // stop, and a file written after the caller cleaned up would outlive the failed restore.
    let failed = std::sync::atomic::AtomicBool::new(false);
    let failed = &failed;
    let results = futures::stream::iter(entries)
        .map(|entry| {
            let ids = identities.clone();
            let progress = progress.clone();
            let slots = slots.clone();
            async move {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(None);
                }
                let path = filestore_file(root, &entry.store_fname).ok_or_else(|| {
                    VaultError::Corrupted {
                        object: contents.manifest.sealed.object.clone(),
                        reason: format!("invalid store_fname {:?}", entry.store_fname),
                    }
                })?;
                let stored = fetch_stored_blob(repo, contents, &entry).await?;
                let _slot = slots
                    .acquire()
                    .await
                    .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))?;
                let written = tokio::task::spawn_blocking(move || -> Result<u64> {
                    let plain = open_blob(&stored, &ids, &entry)?;
                    write_atomically(&path, &plain)?;
                    Ok(plain.len() as u64)
                })
                .await
                .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))??;
                progress.advance(Phase::RestoreFilestore, 1);
                Ok::<Option<u64>, VaultError>(Some(written))
            }
        })
        .buffer_unordered(concurrency.max(1));
    futures::pin_mut!(results);
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut first_error = None;
    while let Some(r) = results.next().await {
        match r {
            Ok(Some(written)) => {
                bytes += written;
                count += 1;
            }
            Ok(None) => {}
            Err(e) => {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok((count, bytes)),
    }
}

/// A stored object that cannot be read back: with a key that opened the manifest, an
/// undecryptable header means damage, not a wrong key.
pub(crate) fn stored_object_error(e: DecodeError, object: &str) -> VaultError {
    match e {
        DecodeError::WrongKey => VaultError::Corrupted {
            object: object.to_string(),
            reason: "cannot be decrypted (damaged header)".into(),
        },
        other => other.into_vault(object),
    }
}

/// Fetches one attachment's blob, decrypts it and checks that it hashes to its name.
pub(crate) async fn fetch_blob(
    repo: &Repository,
    contents: &SnapshotContents,
    entry: AttachmentEntry,
    ids: Identities,
) -> Result<Vec<u8>> {
    let stored = fetch_stored_blob(repo, contents, &entry).await?;
    tokio::task::spawn_blocking(move || open_blob(&stored, &ids, &entry))
        .await
        .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))?
}

/// The stored bytes of one attachment's blob, once they are the ones its record in the
/// snapshot's signed index names (nothing decrypts them before).
async fn fetch_stored_blob(
    repo: &Repository,
    contents: &SnapshotContents,
    entry: &AttachmentEntry,
) -> Result<bytes::Bytes> {
    sha1_of_store_fname(&entry.store_fname).ok_or_else(|| VaultError::Corrupted {
        object: contents.manifest.sealed.object.clone(),
        reason: format!("invalid store_fname {:?}", entry.store_fname),
    })?;
    let record = contents
        .objects
        .blob(&entry.object)
        .ok_or_else(|| VaultError::Corrupted {
            object: entry.object.clone(),
            reason: format!(
                "blob of {} is not in the snapshot's signed blob index",
                entry.store_fname
            ),
        })?;
    let bytes = crate::pack::read_object(repo, &contents.packs, record)
        .await?
        .ok_or_else(|| VaultError::Corrupted {
            object: entry.object.clone(),
            reason: format!("blob of {} is missing", entry.store_fname),
        })?;
    if !record.is_recorded(&bytes) {
        return Err(VaultError::Corrupted {
            object: entry.object.clone(),
            reason: format!(
                "stored bytes of the blob of {} are not the ones the signed blob index names",
                entry.store_fname
            ),
        });
    }
    Ok(bytes)
}

/// Decrypts a blob's checked stored bytes, on a blocking thread, and checks that they hash
/// to the attachment's name.
fn open_blob(stored: &[u8], ids: &Identities, entry: &AttachmentEntry) -> Result<Vec<u8>> {
    let sha1 = sha1_of_store_fname(&entry.store_fname).ok_or_else(|| VaultError::Corrupted {
        object: entry.object.clone(),
        reason: format!("invalid store_fname {:?}", entry.store_fname),
    })?;
    let (decoded, plain) = decode_bytes(stored, ids, DecodeDigests::blob(None))
        .map_err(|e| stored_object_error(e, &entry.object))?;
    if decoded.plain_digest != sha1 {
        return Err(VaultError::Corrupted {
            object: entry.object.clone(),
            reason: format!(
                "content of {} hashes to {}",
                entry.store_fname, decoded.plain_digest
            ),
        });
    }
    Ok(plain)
}

pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("creating a filestore folder", parent))?;
    }
    let tmp = path.with_extension("ward-tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err("writing a filestore blob", &tmp))?;
    f.write_all(data)
        .map_err(io_err("writing a filestore blob", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("writing a filestore blob", path))
}
