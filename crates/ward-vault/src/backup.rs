//! `backup`: one consistent snapshot of an Odoo database and the filestore blobs it
//! references, streamed to the repository and committed by writing its signed statement
//! (`statement.json`) last.
//!
//! The dump and the attachment list come from one exported `REPEATABLE READ` snapshot, so
//! they describe the same instant; on a hot standby when the target names one, once it
//! has replayed past the garbage-collection barrier taken on the primary (see
//! [`open_standby_snapshot`]). Only blobs the repository lacks are read and uploaded.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::TenantCatalog;
use crate::chunks::{ChunkSink, ChunkedDump, store_chunks};
use crate::error::{Result, VaultError, io_err};
use crate::keys::{Recipients, RepositoryKey};
use crate::lease::{Lease, environment_lease_path};
use crate::manifest::{
    AttachmentEntry, BlobStats, DumpRole, DumpSource, DumpStats, MANIFEST_FORMAT, SealedManifest,
    SnapshotLock, SnapshotManifest, SnapshotRef, StoredObject, blob_path, new_snapshot_id,
};
use crate::names::sha1_of_store_fname;
use crate::objects::SnapshotObjects;
use crate::pack::PackWriter;
use crate::pg::{DbConnection, PgTools, collect_stderr, db_error, read_facts};
use crate::pipeline::{
    BlobEncoder, Encoded, PlainDigest, WHOLE_BLOB_LIMIT, encode_blob_into, encode_to_vec,
    upload_stream,
};
use crate::progress::{Phase, Progress};
use crate::statement::{BackupSigningKey, TrustedKeys, encode_signed, statement_for};
use crate::store::{Repository, StagedFile, check_name};
use crate::tenant;

/// One environment's database and filestore to back up.
#[derive(Debug, Clone)]
pub struct BackupTarget {
    pub tenant: String,
    pub workload: String,
    pub environment: String,
    pub db: DbConnection,
    /// A hot standby of `db` to read the snapshot from (same database and login, another
    /// host or port), so that a long dump does not load the primary. The barrier against
    /// Odoo's attachment garbage collection is still taken on `db`.
    pub standby: Option<DbConnection>,
    /// The database's filestore folder (Odoo's `<data_dir>/filestore/<db>`).
    pub filestore: PathBuf,
}

/// How to run a backup.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Every DBA plus the break-glass recovery recipient.
    pub recipients: Recipients,
    /// The estate's Git commit, recorded in the manifest.
    pub estate_commit: Option<String>,
    /// Commit the snapshot even if referenced blobs are missing or corrupted (they are
    /// listed in the manifest and the summary).
    pub allow_missing_blobs: bool,
    pub pg_tools: PgTools,
    /// Blobs read and uploaded at once.
    pub blob_concurrency: usize,
    /// Lease lifetime; renewed every third of it while the backup runs.
    pub lease_ttl: Duration,
    /// Fail when the target's standby cannot serve the snapshot, instead of reading
    /// from the primary (pgBackRest's `backup-standby=y` against `prefer`).
    pub require_standby: bool,
    /// How long the standby may take to replay up to the primary's position.
    pub standby_catch_up: Duration,
    /// Signs the snapshot's statement; its public half must be pinned for the environment.
    pub signing_key: BackupSigningKey,
    /// The pinned keys of the tenant's environments: only their verified snapshots vouch
    /// for blobs to reuse and for the tenant key, and the chain links to the newest one.
    pub trusted: TrustedKeys,
    /// Stops the backup at its next safe point, always before the commit point.
    pub cancel: crate::Cancel,
}

impl BackupOptions {
    pub fn new(
        recipients: Recipients,
        signing_key: BackupSigningKey,
        trusted: TrustedKeys,
    ) -> BackupOptions {
        BackupOptions {
            signing_key,
            trusted,
            recipients,
            estate_commit: None,
            allow_missing_blobs: false,
            pg_tools: PgTools::default(),
            blob_concurrency: 8,
            lease_ttl: Duration::from_secs(15 * 60),
            require_standby: false,
            standby_catch_up: Duration::from_secs(60),
            cancel: crate::Cancel::new(),
        }
    }
}

/// What is wrong with one referenced filestore blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlobProblemKind {
    /// No file at `<filestore>/<store_fname>`.
    Missing,
    /// The file's sha1 is not its name.
    HashMismatch { actual_sha1: String },
    /// `store_fname` is not Odoo's `<sha1[:2]>/<sha1>` (never read: it could point anywhere).
    InvalidName,
    /// The file exists but cannot be read.
    Unreadable { reason: String },
}

/// A referenced blob that could not be stored as it should.
/// Part of the sealed manifest (`SealedManifest::missing`): its field names are the
/// manifest format's, Odoo's `store_fname` among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProblem {
    pub store_fname: String,
    #[serde(flatten)]
    pub kind: BlobProblemKind,
}

impl fmt::Display for BlobProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BlobProblemKind::Missing => write!(f, "{} is missing", self.store_fname),
            BlobProblemKind::HashMismatch { actual_sha1 } => {
                write!(
                    f,
                    "{} has content with sha1 {actual_sha1}",
                    self.store_fname
                )
            }
            BlobProblemKind::InvalidName => {
                write!(f, "{:?} is not a filestore name", self.store_fname)
            }
            BlobProblemKind::Unreadable { reason } => {
                write!(f, "{} is unreadable ({reason})", self.store_fname)
            }
        }
    }
}

/// Wall time of each phase. Dump and filestore run at the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTimes {
    pub dump_seconds: f64,
    pub filestore_seconds: f64,
    pub manifest_seconds: f64,
}

/// A standby the target named that the snapshot was not read from, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StandbySkipped {
    /// The standby's `host:port`.
    pub server: String,
    pub reason: String,
}

/// The result of a committed backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    pub snapshot: SnapshotRef,
    /// Where the dump and the attachment list were read from (also in the manifest).
    pub source: DumpSource,
    /// Set when the target named a standby and the backup read from the primary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standby_skipped: Option<StandbySkipped>,
    pub started: jiff::Timestamp,
    pub finished: jiff::Timestamp,
    pub duration_seconds: f64,
    pub phases: PhaseTimes,
    /// Plaintext size of the dump.
    pub dump_bytes: u64,
    /// Stored (compressed, encrypted) size of the dump's distinct chunks, new or reused.
    pub dump_stored_bytes: u64,
    /// Chunks the dump was cut into, and how many of them this backup stored (the others
    /// were already in the repository).
    pub dump_chunks: u64,
    pub dump_chunks_uploaded: u64,
    pub attachments: u64,
    pub blobs_uploaded: u64,
    pub blobs_reused: u64,
    /// Stored bytes written by this backup (dump, sealed manifest part, new blobs).
    pub new_bytes: u64,
    /// Plaintext bytes read per second of wall time.
    pub throughput_bytes_per_second: f64,
    /// Missing or corrupted blobs (non-empty only with allow_missing_blobs).
    pub problems: Vec<BlobProblem>,
}

/// Backs up `target` into `repo` and commits a snapshot. On any error no snapshot exists
/// (objects already written are unreferenced and collected by `collect_garbage`).
#[tracing::instrument(name = "vault.backup", skip_all, fields(tenant = %target.tenant, workload = %target.workload, environment = %target.environment), err(Display))]
pub async fn backup(
    repo: &Repository,
    target: &BackupTarget,
    key: &RepositoryKey,
    options: &BackupOptions,
    progress: Arc<dyn Progress>,
) -> Result<BackupSummary> {
    check_name("tenant", &target.tenant)?;
    check_name("workload", &target.workload)?;
    check_name("environment", &target.environment)?;
    if options.blob_concurrency == 0 {
        return Err(VaultError::InvalidInput(
            "blob concurrency must be at least 1".into(),
        ));
    }
    if options.require_standby && target.standby.is_none() {
        return Err(VaultError::InvalidInput(
            "a standby is required but the target names none".into(),
        ));
    }
    let signer = options.signing_key.public();
    if !options
        .trusted
        .for_environment(&target.tenant, &target.workload, &target.environment)
        .contains(&signer)
    {
        return Err(VaultError::SigningKeyNotPinned {
            key: signer.to_string(),
            environment: format!("{}/{}", target.workload, target.environment),
        });
    }
    let what = format!(
        "{}/{}/{}",
        target.tenant, target.workload, target.environment
    );
    let lease = Lease::acquire(
        repo,
        environment_lease_path(&target.tenant, &target.workload, &target.environment),
        &what,
        "backup",
        options.lease_ttl,
    )
    .await?;
    let result = async {
        // Read once, under the lease: no other backup of this environment can commit
        // before this one, so the statement to chain to is still the newest at the end.
        let catalog = TenantCatalog::read(repo, &target.tenant, &options.trusted).await?;
        // The tenant key is held to the one the signed chain names (trust on first use).
        if let Some(pinned) = catalog.pinned_key_id()
            && pinned != key.id()
        {
            return Err(VaultError::TenantKeyChanged {
                tenant: target.tenant.clone(),
                detail: format!(
                    "this backup was given key {}, the signed snapshots name {pinned}",
                    key.id()
                ),
            });
        }
        tenant::ensure_published(repo, &target.tenant, key, &options.recipients).await?;
        run_backup(repo, target, key, options, &catalog, progress).await
    }
    .await
    .map_err(|e| target.db.locate(e));
    let released = lease.release().await;
    let summary = result?;
    released?;
    Ok(summary)
}

/// Whether the database has Odoo's attachment table (a plain PostgreSQL database has not).
const ODOO_ATTACHMENT_TABLE_EXISTS: &str = "SELECT to_regclass('public.ir_attachment') IS NOT NULL";

/// The lock the snapshot's transaction holds while the filestore is read, so that Odoo's
/// attachment garbage collection cannot delete a file the snapshot references. Odoo's
/// `ir.attachment._gc_file_store` runs `SET LOCAL lock_timeout TO '10s'` then
/// `LOCK ir_attachment IN SHARE MODE` in its own transaction before it unlinks the
/// checklisted files; ROW EXCLUSIVE is the weakest mode that conflicts with SHARE, so the
/// collection waits (and, after its 10 s, gives up until its next run) while Odoo's own
/// inserts, updates and deletes, which take ROW EXCLUSIVE themselves, go on. PostgreSQL
/// allows this mode in a read-only transaction; it needs INSERT, UPDATE, DELETE or
/// TRUNCATE on the table, which the environment's role, owning it, has.
pub const ODOO_GC_BARRIER: &str = "LOCK TABLE public.ir_attachment IN ROW EXCLUSIVE MODE";

async fn run_backup(
    repo: &Repository,
    target: &BackupTarget,
    key: &RepositoryKey,
    options: &BackupOptions,
    catalog: &TenantCatalog,
    progress: Arc<dyn Progress>,
) -> Result<BackupSummary> {
    let started = jiff::Timestamp::now();
    let clock = Instant::now();
    let client = target.db.connect().await?;
    // Asked before the transaction: any query inside it would fix its snapshot before the
    // lock below is granted.
    let has_attachments: bool = client
        .query_one(ODOO_ATTACHMENT_TABLE_EXISTS, &[])
        .await
        .map_err(db_error)?
        .get(0);
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db_error)?;
    if has_attachments {
        // Held until the COMMIT below, after the filestore is read: see
        // [`ODOO_GC_BARRIER`]. Taken before the snapshot, so that a garbage collection
        // already running finishes first and the snapshot sees what it deleted. Always
        // on the primary: a lock taken on a standby conflicts with nothing there.
        client
            .batch_execute(ODOO_GC_BARRIER)
            .await
            .map_err(db_error)?;
    }
    let mut standby_skipped = None;
    let mut on_standby = None;
    if let Some(standby) = &target.standby {
        let position = primary_position(&client).await?;
        match open_standby_snapshot(standby, position, options.standby_catch_up).await {
            Ok(opened) => on_standby = Some((standby, opened)),
            Err(e) => {
                let reason = standby.locate(e).to_string();
                if options.require_standby {
                    return Err(VaultError::StandbyUnavailable {
                        server: standby.server(),
                        reason,
                    });
                }
                standby_skipped = Some(StandbySkipped {
                    server: standby.server(),
                    reason,
                });
            }
        }
    }
    let (source_db, reader, pg_snapshot) = match &on_standby {
        Some((_, opened)) => (&opened.instance, &opened.client, opened.exported.clone()),
        None => {
            let exported: String = client
                .query_one("SELECT pg_export_snapshot()", &[])
                .await
                .map_err(db_error)?
                .get(0);
            (&target.db, &client, exported)
        }
    };
    let source = DumpSource {
        role: if on_standby.is_some() {
            DumpRole::Standby
        } else {
            DumpRole::Primary
        },
        server: on_standby
            .as_ref()
            .map_or_else(|| target.db.server(), |(standby, _)| standby.server()),
    };
    let facts = read_facts(reader).await.map_err(|e| source_db.locate(e))?;
    let pg_dump = options.pg_tools.check("pg_dump", facts.server_major)?;
    let snapshot = SnapshotRef {
        tenant: target.tenant.clone(),
        workload: target.workload.clone(),
        environment: target.environment.clone(),
        id: new_snapshot_id(started)?,
    };
    // Deduplication vouches only for bytes a committed snapshot recorded writing, at the
    // size recorded then: a truncated or grown blob, or one no snapshot names (left by a
    // crash), is read from the filestore and uploaded again.
    let index_ids = crate::pack::index_identities(key);
    let written = catalog.write_records(repo, Some(&index_ids)).await?;
    let packed = crate::pack::load(repo, &target.tenant, &index_ids).await?;
    let existing: HashMap<String, u64> = crate::pack::stored_sizes(repo, &target.tenant, &packed)
        .await?
        .into_iter()
        .filter_map(|(rel, sizes)| {
            let (record, _) = written.get(&rel)?;
            sizes
                .contains(&record.stored_size)
                .then(|| Some((rel.rsplit('/').next()?.to_string(), record.stored_size)))?
        })
        .collect();
    // Chunks and blobs read whole go into packs; streamed blobs are written alone.
    let packs = Arc::new(PackWriter::new(repo, &target.tenant, key));

    // One data key seals every chunk, blob and the sealed part of this run (datakey.rs);
    // it is stored, encrypted to the recipients, before anything is sealed under it.
    let blob_options = BackupOptions {
        recipients: options.recipients.for_run()?,
        ..options.clone()
    };
    let data_key = blob_options
        .recipients
        .data_key()
        .ok_or_else(|| VaultError::InvalidInput("the run has no data key".into()))?;
    crate::datakey::publish(repo, &target.tenant, data_key, &options.recipients).await?;
    let chunk_sink = ChunkSink {
        tenant: target.tenant.clone(),
        key: key.clone(),
        recipients: blob_options.recipients.clone(),
        existing: existing.clone(),
        packs: packs.clone(),
        workers: blob_workers(repo, options.blob_concurrency),
        runtime: tokio::runtime::Handle::current(),
    };
    progress.start(Phase::Dump, None);
    progress.start(Phase::Filestore, Some(facts.store_fnames.len() as u64));
    let dump_fut = async {
        let t = Instant::now();
        let r = dump_database(
            &options.pg_tools,
            &pg_dump,
            source_db,
            &pg_snapshot,
            chunk_sink,
            progress.clone(),
        )
        .await;
        progress.finish(Phase::Dump);
        (r, t.elapsed())
    };
    let blobs_fut = async {
        let t = Instant::now();
        let r = store_blobs(
            repo,
            target,
            key,
            &facts.store_fnames,
            existing,
            &blob_options,
            packs.clone(),
            progress.clone(),
        )
        .await;
        progress.finish(Phase::Filestore);
        (r, t.elapsed())
    };
    // A cancel drops the dump and the blob uploads where they are: what they wrote is
    // referenced by no snapshot, and garbage collection removes it.
    let joined = tokio::select! {
        biased;
        _ = options.cancel.cancelled() => None,
        joined = async { tokio::join!(dump_fut, blobs_fut) } => Some(joined),
    };
    let Some(((dump, dump_time), (blobs, blob_time))) = joined else {
        return Err(VaultError::Cancelled);
    };
    // The snapshot must stay open until pg_dump has attached to it, and the barrier on
    // the primary until the filestore is read; now both can go.
    if let Some((_, opened)) = on_standby {
        let _ = opened.client.batch_execute("COMMIT").await;
    }
    let _ = client.batch_execute("COMMIT").await;
    drop(client);
    // Chunks and blobs already written by a failed backup are referenced by no snapshot:
    // garbage collection removes them.
    let dump = dump?;
    let blobs = blobs?;
    packs.finish().await?;
    if !blobs.problems.is_empty() && !options.allow_missing_blobs {
        return Err(VaultError::CorruptedFilestore(blobs.problems));
    }

    // The last moment a cancel is heard: from here the snapshot is committed.
    if options.cancel.is_cancelled() {
        return Err(VaultError::Cancelled);
    }
    // Manifest phase: sealed part, presence check, then the commit point.
    let manifest_clock = Instant::now();
    progress.start(Phase::Manifest, None);
    let sealed = SealedManifest {
        snapshot: snapshot.clone(),
        dump_checksum: dump.plain_checksum.clone().ok_or_else(|| {
            VaultError::InvalidInput("the dump's checksum was not computed".into())
        })?,
        dump_size: dump.plain_size,
        dump_chunks: dump.chunks.clone(),
        modules: facts.modules.clone(),
        row_counts: facts.row_counts.clone(),
        attachments: blobs.entries.clone(),
        missing: blobs.problems.clone(),
    };
    let sealed_json =
        serde_json::to_vec(&sealed).map_err(|e| VaultError::InvalidInput(e.to_string()))?;
    let (sealed_enc, sealed_bytes) = encode_to_vec(
        &sealed_json[..],
        PlainDigest::CHECKSUM,
        &blob_options.recipients,
    )
    .map_err(|e| VaultError::Io {
        what: "encrypting the manifest",
        path: snapshot.sealed_path().into(),
        source: e,
    })?;
    repo.put(&snapshot.sealed_path(), sealed_bytes.into())
        .await?;

    // A concurrent garbage collection may have removed a reused blob: look again, now.
    if repo
        .head(&crate::lease::gc_lease_path(&target.tenant))
        .await?
        .is_some()
    {
        return Err(VaultError::GcRunning(target.tenant.clone()));
    }
    let packed = crate::pack::load_reusing(repo, &target.tenant, &index_ids, Some(&packed)).await?;
    let present = crate::pack::stored_sizes(repo, &target.tenant, &packed).await?;
    for o in blobs.objects.iter().chain(&dump.objects) {
        match present.get(&o.object) {
            None => {
                return Err(VaultError::BlobVanished {
                    object: o.object.clone(),
                });
            }
            // Never commit a size the stored bytes no longer have.
            Some(sizes) if !sizes.contains(&o.stored_size) => {
                return Err(VaultError::Corrupted {
                    object: o.object.clone(),
                    reason: format!(
                        "its stored size changed from {} to {sizes:?} while the backup ran",
                        o.stored_size
                    ),
                });
            }
            Some(_) => {}
        }
    }

    // Every blob and chunk in the signed index carries its stored checksum: a reused one
    // the checksum its verified write record holds (the record the reuse was decided on).
    let mut blob_objects = blobs.objects.clone();
    let mut chunk_objects = dump.objects.clone();
    for o in blob_objects
        .iter_mut()
        .chain(chunk_objects.iter_mut())
        .filter(|o| o.stored_checksum.is_none())
    {
        o.stored_checksum = written
            .get(&o.object)
            .and_then(|(record, _)| record.stored_checksum.clone());
    }
    let finished = jiff::Timestamp::now();
    let blob_stored_bytes: u64 = blob_objects.iter().map(|o| o.stored_size).sum();
    // The object list goes sealed under the index key, beside the sealed part: a bucket
    // reader learns neither which objects the snapshot holds nor their sizes.
    let objects = SnapshotObjects::new(blob_objects, chunk_objects);
    let (objects_bytes, objects_record) = objects.seal(&snapshot, key)?;
    repo.put(&snapshot.objects_path(), objects_bytes.into())
        .await?;
    let manifest = SnapshotManifest {
        format: MANIFEST_FORMAT.into(),
        snapshot: snapshot.clone(),
        started,
        finished,
        estate_commit: options.estate_commit.clone(),
        postgres_version: facts.server_version.clone(),
        odoo_version: facts.odoo_version.clone(),
        key_id: key.id(),
        recipients: options.recipients.to_strings(),
        object_lock: repo
            .object_lock()
            .zip(repo.retain_until())
            .map(|(l, until)| SnapshotLock {
                mode: l.mode,
                retain_until: until,
            }),
        data_key: Some(data_key.id().to_string()),
        dump: None,
        dump_chunks: Vec::new(),
        objects: Some(objects_record.clone()),
        dump_stats: Some(DumpStats {
            chunks: objects.dump_chunks.len() as u64,
            stored_bytes: objects.dump_stored_bytes(),
        }),
        sealed: StoredObject {
            object: snapshot.sealed_path(),
            stored_size: sealed_enc.stored_size,
            stored_checksum: Some(sealed_enc.stored.clone()),
        },
        blob_stats: BlobStats {
            referenced: facts.store_fnames.len() as u64,
            stored: objects.blobs.len() as u64,
            uploaded: blobs.uploaded,
            missing: blobs.problems.len() as u64,
            stored_bytes: blob_stored_bytes,
        },
        blobs: Vec::new(),
        source: Some(source.clone()),
    };
    let encoded = manifest.encode()?;
    let manifest_checksum =
        crate::checksum::checksum_of(crate::checksum::ChecksumAlgorithm::Blake3, &encoded);
    let manifest_size = encoded.len() as u64;
    if !repo
        .put_new(&snapshot.manifest_path(), encoded.into(), true)
        .await?
    {
        return Err(VaultError::InvalidInput(format!(
            "snapshot {snapshot} already exists"
        )));
    }
    // The commit point: the statement, signed, naming every part and the blob index, and
    // chained to the environment's newest verified statement.
    let previous = catalog
        .newest_verified(&target.workload, &target.environment)
        .map(|(_, verified)| verified.statement.hash());
    let statement = statement_for(
        repo,
        &manifest,
        &objects,
        manifest_size,
        manifest_checksum,
        previous,
    )
    .await?;
    let signed = encode_signed(&statement, &options.signing_key);
    if !repo
        .put_new(&snapshot.statement_path(), signed.into(), true)
        .await?
    {
        return Err(VaultError::InvalidInput(format!(
            "snapshot {snapshot} already has a statement"
        )));
    }
    progress.finish(Phase::Manifest);
    let manifest_time = manifest_clock.elapsed();

    let duration = clock.elapsed();
    let plain_read = dump.plain_size + blobs.plain_bytes_read;
    Ok(BackupSummary {
        snapshot,
        source,
        standby_skipped,
        started,
        finished,
        duration_seconds: duration.as_secs_f64(),
        phases: PhaseTimes {
            dump_seconds: dump_time.as_secs_f64(),
            filestore_seconds: blob_time.as_secs_f64(),
            manifest_seconds: manifest_time.as_secs_f64(),
        },
        dump_bytes: dump.plain_size,
        dump_stored_bytes: manifest.dump_stored_bytes(),
        dump_chunks: dump.chunks.len() as u64,
        dump_chunks_uploaded: dump.uploaded,
        attachments: facts.store_fnames.len() as u64,
        blobs_uploaded: blobs.uploaded,
        blobs_reused: blobs.objects.len() as u64 - blobs.uploaded,
        new_bytes: dump.uploaded_bytes
            + sealed_enc.stored_size
            + objects_record.stored_size
            + blobs.uploaded_bytes,
        throughput_bytes_per_second: plain_read as f64 / duration.as_secs_f64().max(1e-6),
        problems: blobs.problems,
    })
}

/// Where the primary's WAL ends now (the next insert position) and its page size: any
/// transaction that committed before the barrier was granted, a garbage collection's
/// included, has its commit record before it. The insert position, not the written one,
/// because with `synchronous_commit = off` a commit releases its locks before its record
/// is written.
async fn primary_position(primary: &tokio_postgres::Client) -> Result<WalPosition> {
    let row = primary
        .query_one(
            "SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::int",
            &[],
        )
        .await
        .map_err(db_error)?;
    let text: String = row.get(0);
    let block: i32 = row.get(1);
    Ok(WalPosition {
        lsn: parse_lsn(&text)
            .ok_or_else(|| VaultError::Database(format!("unrecognised WAL position {text:?}")))?,
        block_size: u64::try_from(block).unwrap_or(8192).max(1),
    })
}

/// A position in the primary's WAL, and the WAL page size to read it with.
#[derive(Debug, Clone, Copy)]
struct WalPosition {
    lsn: u64,
    block_size: u64,
}

/// The largest WAL page header (a segment's first page): no record ends inside it.
const WAL_LONG_PAGE_HEADER: u64 = 40;

impl WalPosition {
    /// The replay position a standby must reach to have replayed every record before
    /// `lsn`. When the last record ended at a page's end, the primary's next insert
    /// position is past the next page's header, while the standby reports the end of the
    /// last record it replayed, the page's start: an idle primary writes nothing more,
    /// so waiting for the header's end would wait for ever.
    fn replayed_once(&self) -> u64 {
        let offset = self.lsn % self.block_size;
        if offset <= WAL_LONG_PAGE_HEADER {
            self.lsn - offset
        } else {
            self.lsn
        }
    }
}

/// `16/B374D848` → its 64-bit position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// The snapshot opened on a standby, and the instance it is on.
struct StandbySnapshot {
    client: tokio_postgres::Client,
    exported: String,
    /// The standby's connection pinned to the instance that exported the snapshot.
    instance: DbConnection,
}

/// Opens the snapshot on the standby: once it is in recovery and has replayed past the
/// primary's `position` (taken after the barrier), a `REPEATABLE READ` transaction whose
/// exported snapshot sees everything committed before the barrier, a garbage
/// collection's deletions included; the collection cannot delete anything else until
/// the primary's transaction ends. Any error means the standby cannot serve the
/// snapshot now.
async fn open_standby_snapshot(
    standby: &DbConnection,
    position: WalPosition,
    catch_up: Duration,
) -> Result<StandbySnapshot> {
    let client = standby.connect().await?;
    // A service in front of several replicas (CloudNativePG's `-ro`) may send pg_dump
    // to another one than ours, where the exported snapshot does not exist: pg_dump
    // connects to the address of the instance we reached (none over a unix socket), as
    // libpq's `hostaddr`, so that `verify-full` still checks the certificate against the
    // service's name (CloudNativePG's certificates name services, not pod addresses).
    let row = client
        .query_one("SELECT host(inet_server_addr()), inet_server_port()", &[])
        .await
        .map_err(db_error)?;
    let address: Option<String> = row.get(0);
    let port: Option<i32> = row.get(1);
    let instance = match (address, port.and_then(|p| u16::try_from(p).ok())) {
        (Some(address), Some(port)) => DbConnection {
            hostaddr: Some(address),
            port,
            ..standby.clone()
        },
        _ => standby.clone(),
    };
    let in_recovery: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(db_error)?
        .get(0);
    if !in_recovery {
        return Err(VaultError::Database(
            "it is not in recovery (a primary, or a promoted standby), so it is not a standby of the primary".into(),
        ));
    }
    let target = position.replayed_once();
    let deadline = Instant::now() + catch_up;
    loop {
        let replayed: Option<String> = client
            .query_one("SELECT pg_last_wal_replay_lsn()::text", &[])
            .await
            .map_err(db_error)?
            .get(0);
        let replayed = replayed.as_deref().and_then(parse_lsn).unwrap_or(0);
        if replayed >= target {
            break;
        }
        if Instant::now() >= deadline {
            return Err(VaultError::Database(format!(
                "it had replayed WAL up to {} and not yet to the primary's {} after {}s (replication lag, or replay paused)",
                format_lsn(replayed),
                format_lsn(target),
                catch_up.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db_error)?;
    // A hot standby exports snapshots (PostgreSQL 10 and later) that pg_dump can attach to.
    let exported: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(db_error)?
        .get(0);
    Ok(StandbySnapshot {
        client,
        exported,
        instance,
    })
}

/// `pg_dump`'s stdout; at its end, the exit status decides whether the stream was whole.
struct DumpOutput {
    stdout: ChildStdout,
    child: Arc<Mutex<Option<Child>>>,
}

impl Read for DumpOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 {
            let child = self
                .child
                .lock()
                .map_err(|_| io::Error::other("pg_dump state poisoned"))?
                .take();
            if let Some(mut child) = child {
                let status = child.wait()?;
                if !status.success() {
                    return Err(io::Error::other(format!("pg_dump exited with {status}")));
                }
            }
        }
        Ok(n)
    }
}

/// Runs pg_dump on the exported snapshot and stores its output as deduplicated chunks.
async fn dump_database(
    tools: &PgTools,
    pg_dump: &Path,
    db: &DbConnection,
    pg_snapshot: &str,
    sink: ChunkSink,
    progress: Arc<dyn Progress>,
) -> Result<ChunkedDump> {
    let mut child = tools.spawn_dump(pg_dump, db, pg_snapshot)?;
    let stderr = collect_stderr(&mut child);
    let stdout = child.stdout.take();
    let shared = Arc::new(Mutex::new(Some(child)));
    let for_reader = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let stdout =
            stdout.ok_or_else(|| VaultError::InvalidInput("pg_dump has no output pipe".into()))?;
        let output = DumpOutput {
            stdout,
            child: for_reader,
        };
        store_chunks(output, &sink, progress.as_ref())
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("dump task: {e}")))
    .and_then(|r| r);
    // If storing failed first, pg_dump may still run: stop it.
    let leftover = shared.lock().ok().and_then(|mut c| c.take());
    let mut failed_status = None;
    if let Some(mut child) = leftover {
        if result.is_err() {
            let _ = child.kill();
        }
        if let Ok(status) = child.wait()
            && !status.success()
        {
            failed_status = Some(status.to_string());
        }
    }
    let stderr_text = tokio::task::spawn_blocking(move || stderr.join().unwrap_or_default())
        .await
        .unwrap_or_default();
    match result {
        Ok(dump) => Ok(dump),
        Err(e) => {
            if !stderr_text.is_empty() || failed_status.is_some() {
                Err(db.tool_error(
                    "pg_dump",
                    failed_status.unwrap_or_else(|| "failed".into()),
                    if stderr_text.is_empty() {
                        e.to_string()
                    } else {
                        stderr_text
                    },
                ))
            } else {
                Err(e)
            }
        }
    }
}

#[derive(Debug, Default)]
struct BlobOutcome {
    entries: Vec<AttachmentEntry>,
    objects: Vec<StoredObject>,
    problems: Vec<BlobProblem>,
    uploaded: u64,
    uploaded_bytes: u64,
    plain_bytes_read: u64,
}

impl BlobOutcome {
    fn add(&mut self, result: BlobResult) {
        match result {
            BlobResult::Stored {
                entry,
                object,
                uploaded,
                plain_read,
            } => {
                if uploaded {
                    self.uploaded += 1;
                    self.uploaded_bytes += object.stored_size;
                }
                self.plain_bytes_read += plain_read;
                self.entries.push(entry);
                self.objects.push(object);
            }
            BlobResult::Problem(problem, kept) => {
                self.problems.push(problem);
                if let Some((entry, object)) = kept {
                    self.entries.push(entry);
                    self.objects.push(object);
                }
            }
        }
    }
}

enum BlobResult {
    Stored {
        entry: AttachmentEntry,
        object: StoredObject,
        uploaded: bool,
        plain_read: u64,
    },
    /// A problem; the blob may still be in the repository from an earlier backup.
    Problem(BlobProblem, Option<(AttachmentEntry, StoredObject)>),
}

/// Blobs larger than this go to S3 as multipart uploads instead of one PUT from memory.
const IN_MEMORY_LIMIT: u64 = 16 * 1024 * 1024;

/// What the blob workers of one backup share.
struct BlobJob {
    repo: Repository,
    tenant: String,
    filestore: PathBuf,
    key: RepositoryKey,
    store_fnames: Vec<String>,
    existing: HashMap<String, u64>,
    recipients: Recipients,
    packs: Arc<PackWriter>,
    progress: Arc<dyn Progress>,
    /// For S3 writes from the workers' blocking threads.
    runtime: tokio::runtime::Handle,
    /// The index in `store_fnames` of the next blob to take.
    next: AtomicUsize,
    /// Set by a worker that failed, so that the others stop taking blobs.
    failed: AtomicBool,
}

/// How many blob workers to run. Against a local folder a blob's work is mostly CPU
/// (hashing, compression, encryption, page-cache copies), but creating its file now and then
/// waits for the disk (inode allocation reads bitmaps and inode tables): two workers per CPU
/// keep the CPUs busy through those waits without the switching of many more. Against S3
/// each worker mostly waits for its PUT, so the configured concurrency keeps that many
/// requests in flight.
fn blob_workers(repo: &Repository, concurrency: usize) -> usize {
    if repo.is_local() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        concurrency.min(2 * cpus).max(1)
    } else {
        concurrency.max(1)
    }
}

/// Stores every referenced blob the repository lacks. Each worker is one blocking thread
/// that takes blobs one at a time and does all of a blob's work itself (read, sha1,
/// compress, encrypt, write): no hand-off between threads per blob.
// The backup's parts, handed over as they are: bundling them would only rename them.
#[allow(clippy::too_many_arguments)]
async fn store_blobs(
    repo: &Repository,
    target: &BackupTarget,
    key: &RepositoryKey,
    store_fnames: &[String],
    existing: HashMap<String, u64>,
    options: &BackupOptions,
    packs: Arc<PackWriter>,
    progress: Arc<dyn Progress>,
) -> Result<BlobOutcome> {
    let job = Arc::new(BlobJob {
        repo: repo.clone(),
        tenant: target.tenant.clone(),
        filestore: target.filestore.clone(),
        key: key.clone(),
        store_fnames: store_fnames.to_vec(),
        existing,
        recipients: options.recipients.clone(),
        packs,
        progress,
        runtime: tokio::runtime::Handle::current(),
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    });
    let workers: Vec<_> = (0..blob_workers(repo, options.blob_concurrency))
        .map(|_| {
            let job = job.clone();
            tokio::task::spawn_blocking(move || run_blob_worker(&job))
        })
        .collect();
    let mut outcome = BlobOutcome::default();
    let mut first_error = None;
    for worker in workers {
        match worker.await {
            Ok(Ok(results)) => results.into_iter().for_each(|r| outcome.add(r)),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(VaultError::InvalidInput(format!("blob worker: {e}")));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    outcome
        .entries
        .sort_by(|a, b| a.store_fname.cmp(&b.store_fname));
    outcome.objects.sort_by(|a, b| a.object.cmp(&b.object));
    outcome
        .problems
        .sort_by(|a, b| a.store_fname.cmp(&b.store_fname));
    Ok(outcome)
}

fn run_blob_worker(job: &BlobJob) -> Result<Vec<BlobResult>> {
    let mut encoder =
        BlobEncoder::new().map_err(io_err("starting a compressor", &job.filestore))?;
    let mut results = Vec::new();
    while !job.failed.load(Ordering::Relaxed) {
        let Some(store_fname) = job
            .store_fnames
            .get(job.next.fetch_add(1, Ordering::Relaxed))
        else {
            break;
        };
        match store_one_blob(job, &mut encoder, store_fname) {
            Ok(result) => results.push(result),
            Err(e) => {
                job.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        job.progress.advance(Phase::Filestore, 1);
    }
    Ok(results)
}

/// Reads, checks and stores one blob. Problems with the filestore file are results; a
/// failure to write to the repository is an error that stops the backup.
fn store_one_blob(
    job: &BlobJob,
    encoder: &mut BlobEncoder,
    store_fname: &str,
) -> Result<BlobResult> {
    let problem = |kind| BlobProblem {
        store_fname: store_fname.to_string(),
        kind,
    };
    let unreadable = |e: io::Error| {
        BlobResult::Problem(
            problem(BlobProblemKind::Unreadable {
                reason: e.to_string(),
            }),
            None,
        )
    };
    let Some(sha1) = sha1_of_store_fname(store_fname) else {
        return Ok(BlobResult::Problem(
            problem(BlobProblemKind::InvalidName),
            None,
        ));
    };
    let name = job.key.blob_name(sha1);
    let object = blob_path(&job.tenant, &name);
    let file = job.filestore.join(store_fname);
    let meta = std::fs::metadata(&file);

    if let Some(stored_size) = job.existing.get(&name) {
        // Already in the repository at the size a committed snapshot recorded: do not
        // reread the file.
        let stored = StoredObject {
            object: object.clone(),
            stored_size: *stored_size,
            stored_checksum: None,
        };
        return Ok(match meta {
            Ok(m) => BlobResult::Stored {
                entry: AttachmentEntry {
                    store_fname: store_fname.to_string(),
                    object,
                    size: m.len(),
                },
                object: stored,
                uploaded: false,
                plain_read: 0,
            },
            Err(e) => {
                let kind = if e.kind() == io::ErrorKind::NotFound {
                    BlobProblemKind::Missing
                } else {
                    BlobProblemKind::Unreadable {
                        reason: e.to_string(),
                    }
                };
                let entry = AttachmentEntry {
                    store_fname: store_fname.to_string(),
                    object,
                    size: 0,
                };
                BlobResult::Problem(problem(kind), Some((entry, stored)))
            }
        });
    }

    let size = match meta {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Ok(BlobResult::Problem(problem(BlobProblemKind::Missing), None)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(BlobResult::Problem(problem(BlobProblemKind::Missing), None));
        }
        Err(e) => return Ok(unreadable(e)),
    };
    let whole = if size <= WHOLE_BLOB_LIMIT {
        match encoder.read(&file, size) {
            Err(e) => return Ok(unreadable(e)),
            Ok(Some(actual)) if actual != sha1 => {
                return Ok(BlobResult::Problem(
                    problem(BlobProblemKind::HashMismatch {
                        actual_sha1: actual,
                    }),
                    None,
                ));
            }
            Ok(Some(actual)) => Some(write_whole_blob(job, encoder, actual, &object)?),
            // It grew since it was measured: stream it.
            Ok(None) => None,
        }
    } else {
        None
    };
    let encoded = match whole {
        Some(encoded) => encoded,
        None => match stream_blob(job, &file, size, sha1, &object)? {
            Ok(encoded) => encoded,
            Err(kind) => return Ok(BlobResult::Problem(problem(kind), None)),
        },
    };
    Ok(BlobResult::Stored {
        entry: AttachmentEntry {
            store_fname: store_fname.to_string(),
            object: object.clone(),
            size: encoded.plain_size,
        },
        object: StoredObject {
            object,
            stored_size: encoded.stored_size,
            stored_checksum: Some(encoded.stored),
        },
        uploaded: true,
        plain_read: encoded.plain_size,
    })
}

/// Encrypts the blob the encoder holds and adds it to the run's packs.
fn write_whole_blob(
    job: &BlobJob,
    encoder: &mut BlobEncoder,
    sha1: String,
    object: &str,
) -> Result<Encoded> {
    let encoded = encoder
        .seal(sha1, &job.recipients)
        .map_err(io_err("encrypting a blob", object))?;
    job.packs
        .add_blocking(&job.runtime, object, encoder.stored())?;
    Ok(encoded)
}

/// Remembers whether the source failed, to tell an unreadable blob (a finding) from a
/// failed write (an error) when the encoder reports one I/O error for both.
struct SourceReader {
    file: std::fs::File,
    failed: bool,
}

impl Read for SourceReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.file.read(buf);
        self.failed |= r.is_err();
        r
    }
}

/// Streams a blob too large to hold whole. Returns the problem when the file cannot be read
/// or does not hash to its name; nothing is left in the repository then.
fn stream_blob(
    job: &BlobJob,
    file: &Path,
    size: u64,
    sha1: &str,
    object: &str,
) -> Result<std::result::Result<Encoded, BlobProblemKind>> {
    let mismatch = |actual_sha1| Ok(Err(BlobProblemKind::HashMismatch { actual_sha1 }));
    let local = job.repo.local_file(object)?;
    if local.is_none() && size > IN_MEMORY_LIMIT {
        let path = file.to_path_buf();
        let streamed = job.runtime.block_on(upload_stream(
            job.repo.protected_store().clone(),
            job.repo.path(object),
            move || std::fs::File::open(&path).map_err(io_err("reading a filestore blob", &path)),
            PlainDigest::Sha1,
            Some(sha1.to_string()),
            job.recipients.clone(),
            Arc::new(crate::progress::NoProgress),
            Phase::Filestore,
        ));
        return match streamed {
            Ok(Ok(encoded)) => Ok(Ok(encoded)),
            Ok(Err(actual)) => mismatch(actual),
            Err(VaultError::Io { source, .. }) => Ok(Err(BlobProblemKind::Unreadable {
                reason: source.to_string(),
            })),
            Err(e) => Err(e),
        };
    }
    let mut source = match std::fs::File::open(file) {
        Ok(file) => SourceReader {
            file,
            failed: false,
        },
        Err(e) => {
            return Ok(Err(BlobProblemKind::Unreadable {
                reason: e.to_string(),
            }));
        }
    };
    let read_problem = |e: &io::Error| BlobProblemKind::Unreadable {
        reason: e.to_string(),
    };
    match local {
        Some(dest) => {
            let staged = StagedFile::create(&dest).map_err(io_err("writing a blob", &dest))?;
            // On any failure the staged file is dropped, which removes it.
            let (encoded, staged) = match encode_blob_into(&mut source, &job.recipients, staged) {
                Ok(done) => done,
                Err(e) if source.failed => return Ok(Err(read_problem(&e))),
                Err(e) => return Err(io_err("writing a blob", &dest)(e)),
            };
            if encoded.plain_digest != sha1 {
                return mismatch(encoded.plain_digest);
            }
            staged.commit().map_err(io_err("writing a blob", &dest))?;
            Ok(Ok(encoded))
        }
        None => {
            let (encoded, bytes) = match encode_blob_into(&mut source, &job.recipients, Vec::new())
            {
                Ok(done) => done,
                Err(e) if source.failed => return Ok(Err(read_problem(&e))),
                Err(e) => return Err(io_err("encrypting a blob", object)(e)),
            };
            if encoded.plain_digest != sha1 {
                return mismatch(encoded.plain_digest);
            }
            job.runtime.block_on(job.repo.put(object, bytes.into()))?;
            Ok(Ok(encoded))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Identities, generate_identity_file};
    use crate::pipeline::{DecodeDigests, decode_bytes};
    use crate::store::{RepositoryConfig, StoreLocation};
    use sha1::{Digest, Sha1};

    /// Bytes that zstd cannot shrink much, without a random-number crate.
    fn noise(len: usize, seed: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 32);
        let mut block = sha2::Sha256::digest([seed]).to_vec();
        while out.len() < len {
            block = sha2::Sha256::digest(&block).to_vec();
            out.extend_from_slice(&block);
        }
        out.truncate(len);
        out
    }

    fn put_in_filestore(filestore: &Path, content: &[u8]) -> String {
        let sha1 = hex::encode(Sha1::digest(content));
        let store_fname = format!("{}/{sha1}", &sha1[..2]);
        let path = filestore.join(&store_fname);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
        store_fname
    }

    /// WAL positions as PostgreSQL prints them, and the wait target just past a page
    /// header, where an idle primary's insert position rests after a record that filled
    /// its page.
    #[test]
    fn wal_positions() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("nonsense"), None);
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        let at = |lsn| WalPosition {
            lsn,
            block_size: 8192,
        };
        assert_eq!(at(0x0300_0028).replayed_once(), 0x0300_0000);
        assert_eq!(at(0x0300_2018).replayed_once(), 0x0300_2000);
        assert_eq!(at(0x0300_2030).replayed_once(), 0x0300_2030);
        assert_eq!(at(0x0300_2000).replayed_once(), 0x0300_2000);
    }

    /// Every worker path against a local folder: whole small blobs, a streamed large one, a
    /// file that does not hash to its name, a missing one, and a blob already stored.
    #[tokio::test]
    async fn blob_workers_store_check_and_reuse() {
        let dir = tempfile::tempdir().expect("tmp");
        let filestore = dir.path().join("filestore");
        let identity = dir.path().join("dba.age");
        let recipients = Recipients::parse(&[generate_identity_file(&identity).expect("identity")])
            .expect("recipients");
        let repo = Repository::open(&RepositoryConfig {
            store: StoreLocation::Local(dir.path().join("repo")),
            object_lock: None,
        })
        .await
        .expect("repo");
        let key = RepositoryKey::generate().expect("key");

        let small = b"odoo attachment ".repeat(300);
        let large = noise(3 * 1024 * 1024 + 17, 1);
        let mut store_fnames = vec![
            put_in_filestore(&filestore, &small),
            put_in_filestore(&filestore, &large),
            "00/0000000000000000000000000000000000000000".to_string(),
            "../etc/passwd".to_string(),
        ];
        let corrupted = put_in_filestore(&filestore, b"original");
        std::fs::write(filestore.join(&corrupted), b"changed").expect("corrupt");
        store_fnames.push(corrupted.clone());
        let target = BackupTarget {
            tenant: "acme".into(),
            workload: "erp".into(),
            environment: "prod".into(),
            db: DbConnection {
                host: "127.0.0.1".into(),
                port: 5432,
                dbname: "unused".into(),
                user: "unused".into(),
                password: None,
                sslmode: crate::SslMode::Prefer,
                sslrootcert: None,
                channel_binding: crate::ChannelBinding::Prefer,
                timeouts: crate::PgTimeouts::default(),
                hostaddr: None,
            },
            standby: None,
            filestore: filestore.clone(),
        };
        let options = BackupOptions {
            recipients: recipients.for_run().expect("run key"),
            ..BackupOptions::new(
                recipients.clone(),
                BackupSigningKey::generate_file(&dir.path().join("signing.ed25519"))
                    .expect("signing key"),
                TrustedKeys::new(),
            )
        };
        let packs = Arc::new(PackWriter::new(&repo, "acme", &key));
        let outcome = store_blobs(
            &repo,
            &target,
            &key,
            &store_fnames,
            HashMap::new(),
            &options,
            packs.clone(),
            Arc::new(crate::progress::NoProgress),
        )
        .await
        .expect("blobs");
        packs.finish().await.expect("packs");
        let index = crate::pack::load(&repo, "acme", &crate::pack::index_identities(&key))
            .await
            .expect("index");
        assert_eq!(outcome.uploaded, 2);
        assert_eq!(outcome.plain_bytes_read, (small.len() + large.len()) as u64);
        let kinds: Vec<_> = outcome.problems.iter().map(|p| &p.kind).collect();
        assert_eq!(outcome.problems.len(), 3, "{kinds:?}");
        assert!(kinds.contains(&&BlobProblemKind::Missing));
        assert!(kinds.contains(&&BlobProblemKind::InvalidName));
        assert!(kinds.contains(&&BlobProblemKind::HashMismatch {
            actual_sha1: hex::encode(Sha1::digest(b"changed")),
        }));

        // What was stored decrypts to the file, under the HMAC name, with the recorded
        // size and SHA-256; no staging file is left behind.
        let identities = Identities::from_file(&identity).expect("identities");
        // The run sealed the blobs under its data key: publish it, as a backup does first.
        let data_key = options.recipients.data_key().expect("a run's data key");
        crate::datakey::publish(&repo, "acme", data_key, &recipients)
            .await
            .expect("publish");
        crate::datakey::open_tenant_keys(&repo, "acme", &identities)
            .await
            .expect("open");
        for (content, entry) in [
            (&small[..], &store_fnames[0]),
            (&large[..], &store_fnames[1]),
        ] {
            let sha1 = sha1_of_store_fname(entry).expect("name");
            let object = blob_path("acme", &key.blob_name(sha1));
            let record = outcome
                .objects
                .iter()
                .find(|o| o.object == object)
                .expect("recorded");
            let stored = crate::pack::read_object(&repo, &index, record)
                .await
                .expect("get")
                .expect("stored");
            let recorded = record;
            assert_eq!(recorded.stored_size, stored.len() as u64);
            let (decoded, plain) =
                decode_bytes(&stored, &identities, DecodeDigests::blob(None)).expect("decode");
            assert_eq!(plain, content);
            assert_eq!(Some(decoded.stored), recorded.stored_checksum.clone());
        }
        // The small blob is packed, the large one (streamed) stands alone.
        let listed = repo
            .list(&crate::manifest::blob_dir("acme"))
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(index.packs.len(), 1);
        let sizes = crate::pack::stored_sizes(&repo, "acme", &index)
            .await
            .expect("sizes");
        assert_eq!(sizes.len(), 2, "{sizes:?}");
        let mut folders = vec![dir.path().join("repo")];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).expect("read_dir") {
                let path = entry.expect("entry").path();
                assert!(!path.to_string_lossy().contains('#'), "left {path:?}");
                if path.is_dir() {
                    folders.push(path);
                }
            }
        }

        // A second run reuses both blobs without reading or writing them.
        let existing: HashMap<String, u64> = sizes
            .into_iter()
            .filter_map(|(rel, size)| Some((rel.rsplit('/').next()?.to_string(), size[0])))
            .collect();
        let again = store_blobs(
            &repo,
            &target,
            &key,
            &store_fnames[..2],
            existing,
            &options,
            packs.clone(),
            Arc::new(crate::progress::NoProgress),
        )
        .await
        .expect("blobs again");
        assert_eq!((again.uploaded, again.plain_bytes_read), (0, 0));
        assert_eq!(again.objects.len(), 2);
    }
}
