//! `restore`: a snapshot into a new database (with `pg_restore`) and a filestore folder in
//! Odoo's layout, checking every blob's sha1 and the restored row counts and modules.
//!
//! It refuses to touch an existing database or a non-empty folder unless told to replace;
//! a failed restore drops the database it created.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::backup::sha1_of_store_fname;
use crate::catalog::{open_snapshot, read_manifest};
use crate::error::{Result, VaultError, io_err};
use crate::keys::Identities;
use crate::manifest::{AttachmentEntry, SnapshotContents, SnapshotRef, random_hex};
use crate::pg::{DbConnection, PgTools, collect_stderr, db_error, quote_ident, read_facts};
use crate::pipeline::{DecodeDigests, DecodeError, StreamReader, decode_bytes, decode_into};
use crate::progress::{Phase, Progress};
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
    /// `pg_restore --jobs`; above 1 the dump is first decrypted to a temporary file.
    pub jobs: u32,
    /// Drop an existing database and empty the filestore folder first.
    pub replace: bool,
    pub pg_tools: PgTools,
    pub blob_concurrency: usize,
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
        }
    }
}

/// A table whose restored row count differs from the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCountMismatch {
    pub table: String,
    pub expected: u64,
    pub actual: Option<u64>,
}

/// The result of a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Restores `snapshot` as described by `request`.
pub async fn restore(
    repo: &Repository,
    snapshot: &SnapshotRef,
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
    let manifest = read_manifest(repo, snapshot).await?;
    // Open the sealed part before touching anything: a wrong key fails here, harmlessly.
    let contents = open_snapshot(repo, &manifest, identities).await?;

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
    let folder_busy = std::fs::read_dir(&request.filestore)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if exists && !request.replace {
        return Err(VaultError::DatabaseExists(request.db.dbname.clone()));
    }
    if folder_busy && !request.replace {
        return Err(VaultError::FilestoreNotEmpty(request.filestore.clone()));
    }
    let target = quote_ident(&request.db.dbname);
    if exists {
        admin
            .batch_execute(&format!("DROP DATABASE {target} WITH (FORCE)"))
            .await
            .map_err(db_error)?;
    }
    if folder_busy {
        std::fs::remove_dir_all(&request.filestore)
            .map_err(io_err("emptying the filestore folder", &request.filestore))?;
    }
    std::fs::create_dir_all(&request.filestore)
        .map_err(io_err("creating the filestore folder", &request.filestore))?;
    admin
        .batch_execute(&format!("CREATE DATABASE {target} TEMPLATE template0"))
        .await
        .map_err(db_error)?;

    let db_fut = async {
        let t = Instant::now();
        progress.start(Phase::RestoreDatabase, Some(contents.sealed.dump_size));
        let r = restore_database(
            repo,
            &contents,
            identities,
            request,
            &pg_restore,
            progress.clone(),
        )
        .await;
        progress.finish(Phase::RestoreDatabase);
        (r, t.elapsed())
    };
    let files_fut = async {
        let t = Instant::now();
        progress.start(
            Phase::RestoreFilestore,
            Some(contents.sealed.attachments.len() as u64),
        );
        let r = restore_filestore(repo, &contents, identities, request, progress.clone()).await;
        progress.finish(Phase::RestoreFilestore);
        (r, t.elapsed())
    };
    let ((db_result, db_time), (files_result, files_time)) = tokio::join!(db_fut, files_fut);
    let (dump_bytes, (blobs_restored, blob_bytes)) = match (db_result, files_result) {
        (Ok(d), Ok(f)) => (d, f),
        (Err(e), _) | (_, Err(e)) => {
            // Leave nothing that looks like a usable restore.
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {target} WITH (FORCE)"))
                .await;
            return Err(e);
        }
    };

    // Check the result against the manifest.
    let restored = request.db.connect().await?;
    restored
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db_error)?;
    let facts = read_facts(&restored).await?;
    let _ = restored.batch_execute("COMMIT").await;
    let row_count_mismatches = compare_counts(&contents.sealed.row_counts, &facts.row_counts);
    Ok(RestoreSummary {
        snapshot: snapshot.clone(),
        database: request.db.dbname.clone(),
        filestore: request.filestore.clone(),
        replaced: exists || folder_busy,
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
    let object = contents.manifest.dump.object.clone();
    let reader = open_dump(repo, contents).await?;
    let ids = identities.clone();
    let expected_sha = contents.sealed.dump_checksum.to_string();
    // The dump's stored checksum is verify's business; restore checks what it restores.
    let digests = DecodeDigests::checksummed(Some(&contents.sealed.dump_checksum), None);
    let tools = request.pg_tools.clone();
    let db = request.db.clone();
    let jobs = request.jobs.max(1);
    let pg_restore = pg_restore.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<u64> {
        let check = |d: &crate::pipeline::Decoded| {
            if d.plain_digest != expected_sha {
                Err(VaultError::Corrupted {
                    object: object.clone(),
                    reason: "the decrypted dump does not match the manifest's checksum".into(),
                })
            } else {
                Ok(())
            }
        };
        let decode_err = |e: DecodeError| stored_object_error(e, &object);
        let progress_ref: Option<(&dyn Progress, Phase)> =
            Some((progress.as_ref(), Phase::RestoreDatabase));
        if jobs > 1 {
            // pg_restore only runs jobs in parallel from a seekable file.
            let tmp = tempfile_path()?;
            let result = (|| {
                let mut file = std::fs::File::create(&tmp)
                    .map_err(io_err("creating a temporary dump file", &tmp))?;
                let decoded = decode_into(reader, &ids, digests, &mut file, progress_ref)
                    .map_err(decode_err)?;
                file.sync_all()
                    .map_err(io_err("writing a temporary dump file", &tmp))?;
                check(&decoded)?;
                let child = tools.spawn_restore(&pg_restore, &db, jobs, Some(&tmp))?;
                wait_restore(child)?;
                Ok(decoded.plain_size)
            })();
            let _ = std::fs::remove_file(&tmp);
            result
        } else {
            let mut child = tools.spawn_restore(&pg_restore, &db, 1, None)?;
            let stderr = collect_stderr(&mut child);
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| VaultError::InvalidInput("pg_restore has no input pipe".into()))?;
            let decoded = decode_into(reader, &ids, digests, &mut stdin, progress_ref);
            let _ = stdin.flush();
            drop(stdin);
            let status = child
                .wait()
                .map_err(io_err("waiting for pg_restore", &pg_restore))?;
            let stderr = stderr.join().unwrap_or_default();
            let decoded = match decoded {
                Ok(d) => d,
                // A pg_restore that died first shows up as a broken pipe: report pg_restore.
                Err(DecodeError::Io(_)) if !status.success() => {
                    return Err(VaultError::ToolFailed {
                        program: "pg_restore".into(),
                        status: status.to_string(),
                        stderr,
                    });
                }
                Err(e) => return Err(decode_err(e)),
            };
            check(&decoded)?;
            if !status.success() {
                return Err(VaultError::ToolFailed {
                    program: "pg_restore".into(),
                    status: status.to_string(),
                    stderr,
                });
            }
            Ok(decoded.plain_size)
        }
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))?
}

fn wait_restore(mut child: std::process::Child) -> Result<()> {
    let stderr = collect_stderr(&mut child);
    let status = child
        .wait()
        .map_err(io_err("waiting for pg_restore", "pg_restore"))?;
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(VaultError::ToolFailed {
            program: "pg_restore".into(),
            status: status.to_string(),
            stderr,
        })
    }
}

fn tempfile_path() -> Result<PathBuf> {
    Ok(std::env::temp_dir().join(format!("ward-restore-{}.dump", random_hex::<8>()?)))
}

async fn restore_filestore(
    repo: &Repository,
    contents: &SnapshotContents,
    identities: &Identities,
    request: &RestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<(u64, u64)> {
    let root = request.filestore.clone();
    let results = futures::stream::iter(contents.sealed.attachments.iter().cloned())
        .map(|entry| {
            let ids = identities.clone();
            let root = root.clone();
            let progress = progress.clone();
            async move {
                let path = root.join(&entry.store_fname);
                let plain = fetch_blob(repo, contents, entry, ids).await?;
                let written = plain.len() as u64;
                tokio::task::spawn_blocking(move || write_atomically(&path, &plain))
                    .await
                    .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))??;
                progress.advance(Phase::RestoreFilestore, 1);
                Ok::<u64, VaultError>(written)
            }
        })
        .buffer_unordered(request.blob_concurrency);
    futures::pin_mut!(results);
    let (mut count, mut bytes) = (0u64, 0u64);
    while let Some(r) = results.next().await {
        bytes += r?;
        count += 1;
    }
    Ok((count, bytes))
}

/// Opens the snapshot's dump object as a reader of its stored (encrypted) bytes.
pub(crate) async fn open_dump(
    repo: &Repository,
    contents: &SnapshotContents,
) -> Result<StreamReader> {
    let object = &contents.manifest.dump.object;
    let stream = repo
        .get_stream(object)
        .await?
        .ok_or_else(|| VaultError::Corrupted {
            object: object.clone(),
            reason: "the dump object is missing".into(),
        })?;
    Ok(StreamReader::spawn(stream))
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
    let sha1 = sha1_of_store_fname(&entry.store_fname)
        .ok_or_else(|| VaultError::Corrupted {
            object: contents.manifest.sealed.object.clone(),
            reason: format!("invalid store_fname {:?}", entry.store_fname),
        })?
        .to_string();
    let bytes = repo
        .get_bytes(&entry.object)
        .await?
        .ok_or_else(|| VaultError::Corrupted {
            object: entry.object.clone(),
            reason: format!("blob of {} is missing", entry.store_fname),
        })?;
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
        let (decoded, plain) = decode_bytes(&bytes, &ids, DecodeDigests::blob(None))
            .map_err(|e| stored_object_error(e, &entry.object))?;
        if decoded.plain_digest != sha1 {
            return Err(VaultError::Corrupted {
                object: entry.object,
                reason: format!(
                    "content of {} hashes to {}",
                    entry.store_fname, decoded.plain_digest
                ),
            });
        }
        Ok(plain)
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))?
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
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
