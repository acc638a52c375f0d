//! A snapshot as Odoo's own backup zip (`dump.sql`, `filestore/<xx>/<sha1>`,
//! `manifest.json`), the file Odoo's database manager restores: data is never locked in Ward.
//!
//! The plain SQL comes from `pg_restore --file=-` reading the decrypted custom-format dump
//! from a pipe, so no database and no temporary copy of the dump are needed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::catalog::{open_snapshot, read_manifest};
use crate::dump::{DumpCopyError, VerifiedDump};
use crate::error::{Result, VaultError, io_err};
use crate::keys::Identities;
use crate::manifest::{SnapshotContents, SnapshotRef, random_hex};
use crate::pg::{PgTools, collect_stderr};
use crate::progress::{Phase, Progress};
use crate::restore::fetch_blob;
use crate::statement::TrustedKeys;
use crate::store::Repository;

/// Where to write the zip.
#[derive(Debug, Clone)]
pub struct OdooZipRequest {
    pub path: PathBuf,
    /// Overwrite an existing file.
    pub replace: bool,
    pub pg_tools: PgTools,
    pub blob_concurrency: usize,
}

/// What went into the zip.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OdooZipSummary {
    pub snapshot: SnapshotRef,
    pub path: PathBuf,
    /// Bytes of `dump.sql` (uncompressed).
    pub sql_bytes: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Size of the zip file.
    pub zip_bytes: u64,
    pub duration_seconds: f64,
}

/// A checked blob on its way to the zip writer.
struct Blob {
    store_fname: String,
    bytes: Vec<u8>,
}

/// Writes `snapshot` as an Odoo backup zip at `request.path`, atomically: the file appears
/// complete or not at all.
#[tracing::instrument(name = "vault.export_odoo_zip", skip_all, fields(snapshot = %snapshot), err(Display))]
pub async fn export_odoo_zip(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    identities: &Identities,
    request: &OdooZipRequest,
    progress: Arc<dyn Progress>,
) -> Result<OdooZipSummary> {
    let clock = Instant::now();
    if request.blob_concurrency == 0 {
        return Err(VaultError::InvalidInput(
            "blob concurrency must be at least 1".into(),
        ));
    }
    check_replaceable(&request.path, request.replace)?;
    // Nothing is read before the statement verifies against the pinned keys.
    let manifest = read_manifest(repo, snapshot, keys).await?;
    let contents = open_snapshot(repo, &manifest, identities).await?;
    // pg_restore must be at least as new as the pg_dump that wrote the archive.
    let dump_major = manifest
        .postgres_version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let pg_restore = request.pg_tools.check("pg_restore", dump_major)?;
    let odoo_manifest = odoo_manifest(&contents, &snapshot.workload)?;

    let tmp = request
        .path
        .with_file_name(format!(".ward-{}.zip.tmp", random_hex::<6>()?));
    let file = std::fs::File::create(&tmp).map_err(io_err("creating the zip", &tmp))?;
    // Checked against the signed statement before pg_restore reads a byte.
    let dump = VerifiedDump::open(repo, &contents, identities, None).await?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Blob>(request.blob_concurrency * 2);
    let writer = {
        let ids = identities.clone();
        let dump_size = contents.sealed.dump_size;
        let progress = progress.clone();
        let tmp = tmp.clone();
        let comment = format!("{ZIP_COMMENT_PREFIX}{snapshot}");
        tokio::task::spawn_blocking(move || -> Result<(u64, u64)> {
            let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
            let zip_err = |e: zip::result::ZipError| VaultError::Io {
                what: "writing the zip",
                path: tmp.clone(),
                source: std::io::Error::other(e),
            };
            let deflated = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true);
            zip.start_file("dump.sql", deflated).map_err(zip_err)?;
            progress.start(Phase::RestoreDatabase, Some(dump_size));
            let sql_bytes = write_sql(&mut zip, dump, &ids, &pg_restore, progress.as_ref())?;
            progress.finish(Phase::RestoreDatabase);
            // Blobs are compressed already as often as not; storing them keeps this fast.
            let stored = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(true);
            for Blob { store_fname, bytes } in rx {
                // open_snapshot let only Odoo's `<sha1[:2]>/<sha1>` names through.
                zip.start_file(format!("filestore/{store_fname}"), stored)
                    .map_err(zip_err)?;
                zip.write_all(&bytes)
                    .map_err(io_err("writing the zip", &tmp))?;
            }
            zip.start_file("manifest.json", deflated).map_err(zip_err)?;
            zip.write_all(&odoo_manifest)
                .map_err(io_err("writing the zip", &tmp))?;
            zip.set_comment(comment).map_err(zip_err)?;
            let buffered = zip.finish().map_err(zip_err)?;
            let file = buffered
                .into_inner()
                .map_err(|e| io_err("writing the zip", &tmp)(e.into_error()))?;
            file.sync_all().map_err(io_err("writing the zip", &tmp))?;
            let size = file
                .metadata()
                .map_err(io_err("writing the zip", &tmp))?
                .len();
            Ok((sql_bytes, size))
        })
    };

    let blobs = send_blobs(repo, &contents, identities, request, tx, progress.clone()).await;
    let written = writer
        .await
        .map_err(|e| VaultError::InvalidInput(format!("zip task: {e}")));
    let outcome = match (blobs, written) {
        (Ok(blobs), Ok(Ok(written))) => Ok((blobs, written)),
        (Err(e), _) | (_, Err(e)) | (_, Ok(Err(e))) => Err(e),
    };
    let ((blobs, blob_bytes), (sql_bytes, zip_bytes)) = match outcome {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &request.path).map_err(io_err("moving the zip into place", &tmp))?;
    Ok(OdooZipSummary {
        snapshot: snapshot.clone(),
        path: request.path.clone(),
        sql_bytes,
        blobs,
        blob_bytes,
        zip_bytes,
        duration_seconds: clock.elapsed().as_secs_f64(),
    })
}

/// The start of the archive comment of every zip Ward writes: `replace` overwrites only a
/// file that carries it, as a restore replaces only a filestore with Ward's marker.
const ZIP_COMMENT_PREFIX: &str = "ward-vault snapshot ";

/// Refuses a path that names no file, or an existing one unless `replace` and it is a
/// regular file (not a link, not a folder) that is a zip Ward wrote.
fn check_replaceable(path: &Path, replace: bool) -> Result<()> {
    if path.file_name().is_none() {
        return Err(VaultError::InvalidInput(format!(
            "{} names no file; give the zip's file name",
            path.display()
        )));
    }
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(io_err("inspecting the zip's path", path))?,
    };
    if !replace {
        return Err(VaultError::InvalidInput(format!(
            "{} already exists; choose another file or pass replace",
            path.display()
        )));
    }
    let ours = meta.is_file()
        && std::fs::File::open(path)
            .ok()
            .and_then(|f| zip::ZipArchive::new(f).ok())
            .is_some_and(|a| a.comment().starts_with(ZIP_COMMENT_PREFIX.as_bytes()));
    if ours {
        Ok(())
    } else {
        Err(VaultError::InvalidInput(format!(
            "{} exists and is not a zip Ward wrote, so replace will not overwrite it; choose another file, or move it away yourself",
            path.display()
        )))
    }
}

/// Streams the decrypted dump through `pg_restore --file=-` into the open zip entry.
fn write_sql(
    out: &mut (impl Write + Send),
    dump: VerifiedDump,
    ids: &Identities,
    pg_restore: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    // Odoo's own dumps are `pg_dump --no-owner`; so is this script.
    let mut child = Command::new(pg_restore)
        .args(["--no-owner", "--file=-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| VaultError::ToolMissing {
            program: "pg_restore".into(),
            path: pg_restore.to_path_buf(),
        })?;
    let stderr = collect_stderr(&mut child);
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| VaultError::InvalidInput("pg_restore has no input pipe".into()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| VaultError::InvalidInput("pg_restore has no output pipe".into()))?;
    let sql = std::thread::scope(|scope| {
        let copy = scope.spawn(move || -> std::io::Result<u64> {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = stdout.read(&mut buf)?;
                if n == 0 {
                    return Ok(total);
                }
                out.write_all(&buf[..n])?;
                total += n as u64;
            }
        });
        let decoded = dump.copy_to(ids, &mut stdin, Some((progress, Phase::RestoreDatabase)));
        drop(stdin);
        let copied = copy
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the copy thread panicked")));
        (decoded, copied)
    });
    let status = child
        .wait()
        .map_err(io_err("waiting for pg_restore", pg_restore))?;
    let stderr = stderr.join().unwrap_or_default();
    let tool_failed = || VaultError::ToolFailed {
        program: "pg_restore".into(),
        status: status.to_string(),
        stderr: stderr.clone(),
    };
    let (decoded, copied) = sql;
    match decoded {
        Ok(_) => {}
        Err(DumpCopyError::Write(_)) if !status.success() => return Err(tool_failed()),
        Err(e) => return Err(e.into_vault("feeding pg_restore")),
    }
    if !status.success() {
        return Err(tool_failed());
    }
    copied.map_err(io_err("writing dump.sql into the zip", "dump.sql"))
}

/// Fetches, decrypts and checks each distinct blob, and hands it to the zip writer.
async fn send_blobs(
    repo: &Repository,
    contents: &SnapshotContents,
    identities: &Identities,
    request: &OdooZipRequest,
    tx: std::sync::mpsc::SyncSender<Blob>,
    progress: Arc<dyn Progress>,
) -> Result<(u64, u64)> {
    let mut seen = BTreeSet::new();
    let entries: Vec<_> = contents
        .sealed
        .attachments
        .iter()
        .filter(|e| seen.insert(e.store_fname.clone()))
        .cloned()
        .collect();
    progress.start(Phase::RestoreFilestore, Some(entries.len() as u64));
    let decoded = futures::stream::iter(entries)
        .map(|entry| {
            let ids = identities.clone();
            async move {
                let store_fname = entry.store_fname.clone();
                let bytes = fetch_blob(repo, contents, entry, ids).await?;
                Ok::<Blob, VaultError>(Blob { store_fname, bytes })
            }
        })
        .buffer_unordered(request.blob_concurrency);
    futures::pin_mut!(decoded);
    let (mut count, mut total) = (0u64, 0u64);
    while let Some(blob) = decoded.next().await {
        let blob = blob?;
        total += blob.bytes.len() as u64;
        count += 1;
        // The writer ends early only when it failed; its error is the one to report.
        let tx = tx.clone();
        if tokio::task::spawn_blocking(move || tx.send(blob))
            .await
            .map_or(true, |r| r.is_err())
        {
            break;
        }
        progress.advance(Phase::RestoreFilestore, 1);
    }
    progress.finish(Phase::RestoreFilestore);
    Ok((count, total))
}

/// Odoo's `manifest.json`, as its database manager writes it (`dump_db_manifest`).
fn odoo_manifest(contents: &SnapshotContents, db_name: &str) -> Result<Vec<u8>> {
    let version = contents.manifest.odoo_version.clone().unwrap_or_default();
    let numbers: Vec<u64> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    let pg_version = contents
        .manifest
        .postgres_version
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    let manifest = serde_json::json!({
        "odoo_dump": "1",
        "db_name": db_name,
        "version": version,
        "version_info": [
            numbers.first().copied().unwrap_or(0),
            numbers.get(1).copied().unwrap_or(0),
            0,
            "final",
            0,
            ""
        ],
        "major_version": version,
        "pg_version": pg_version,
        "modules": contents.sealed.modules,
    });
    serde_json::to_vec_pretty(&manifest)
        .map_err(|e| VaultError::InvalidInput(format!("cannot write manifest.json: {e}")))
}
