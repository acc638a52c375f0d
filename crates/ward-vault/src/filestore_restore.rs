//! `restore_filestore`: a snapshot's filestore only, into one database's folder in Odoo's
//! layout, for a database recovered another way (a promoted standby in the recovery region).
//! The checks are a full restore's: the statement first, every blob's sha1, Ward's marker.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::catalog::{open_snapshot, read_manifest};
use crate::error::{Result, VaultError, io_err};
use crate::keys::Identities;
use crate::manifest::SnapshotRef;
use crate::names::filestore_file;
use crate::progress::{Phase, Progress};
use crate::restore::{Cleanup, RESTORED_MARKER, fetch_blob};
use crate::statement::TrustedKeys;
use crate::store::Repository;

/// Where the filestore goes.
#[derive(Debug, Clone)]
pub struct FilestoreRestoreRequest {
    /// The database's filestore folder (Odoo's `<data_dir>/filestore/<db>`).
    pub folder: PathBuf,
    /// Empty the folder first, if Ward restored it (its marker); never another folder.
    pub replace: bool,
    pub blob_concurrency: usize,
}

/// What a filestore restore wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilestoreRestoreSummary {
    pub snapshot: SnapshotRef,
    pub filestore: PathBuf,
    /// A folder Ward had restored before was replaced (record it in the ledger).
    pub replaced: bool,
    pub blobs_restored: u64,
    pub blob_bytes: u64,
    pub duration_seconds: f64,
    /// Attachments the snapshot recorded as missing at backup time (not restorable).
    pub missing_at_backup: Vec<String>,
}

/// Restores only `snapshot`'s filestore into `request.folder`, once its statement verifies
/// against the keys pinned for its environment and its sealed part opens. A folder that is
/// not empty is refused unless Ward restored it and `replace` is set; a failure removes what
/// this restore wrote, and says so.
pub async fn restore_filestore(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    identities: &Identities,
    request: &FilestoreRestoreRequest,
    progress: Arc<dyn Progress>,
) -> Result<FilestoreRestoreSummary> {
    let clock = Instant::now();
    if request.blob_concurrency == 0 {
        return Err(VaultError::InvalidInput(
            "blob concurrency must be at least 1".into(),
        ));
    }
    // Nothing is read before the statement verifies, nothing written before the key opens it.
    let manifest = read_manifest(repo, snapshot, keys).await?;
    let contents = open_snapshot(repo, &manifest, identities).await?;
    let folder = &request.folder;
    let replaced = match folder_state(folder)? {
        FolderState::MissingOrEmpty => false,
        FolderState::Restored if request.replace => true,
        FolderState::Restored => return Err(VaultError::FilestoreNotEmpty(folder.clone())),
        FolderState::Foreign => return Err(VaultError::FilestoreNotWard(folder.clone())),
    };
    // The folder may be a mount point (the job mounts the claim's folder): empty it, never
    // remove it.
    if replaced {
        empty_folder(folder).map_err(io_err("emptying the filestore folder", folder))?;
    }
    std::fs::create_dir_all(folder).map_err(io_err("creating the filestore folder", folder))?;
    let marker = serde_json::json!({ "snapshot": snapshot.to_string(), "filestore_only": true });
    let written = async {
        write_atomically(&folder.join(RESTORED_MARKER), marker.to_string().as_bytes())?;
        // Attachments sharing one file are fetched once.
        let mut seen = BTreeSet::new();
        let entries: Vec<_> = contents
            .sealed
            .attachments
            .iter()
            .filter(|e| seen.insert(e.store_fname.clone()))
            .cloned()
            .collect();
        progress.start(Phase::RestoreFilestore, Some(entries.len() as u64));
        let results = futures::stream::iter(entries)
            .map(|entry| {
                let ids = identities.clone();
                let progress = progress.clone();
                let contents = &contents;
                async move {
                    let path = filestore_file(folder, &entry.store_fname).ok_or_else(|| {
                        VaultError::Corrupted {
                            object: contents.manifest.sealed.object.clone(),
                            reason: format!("invalid store_fname {:?}", entry.store_fname),
                        }
                    })?;
                    let plain = fetch_blob(repo, contents, entry, ids).await?;
                    let size = plain.len() as u64;
                    tokio::task::spawn_blocking(move || write_atomically(&path, &plain))
                        .await
                        .map_err(|e| VaultError::InvalidInput(format!("restore task: {e}")))??;
                    progress.advance(Phase::RestoreFilestore, 1);
                    Ok::<u64, VaultError>(size)
                }
            })
            .buffer_unordered(request.blob_concurrency);
        futures::pin_mut!(results);
        let (mut count, mut bytes) = (0u64, 0u64);
        while let Some(r) = results.next().await {
            bytes += r?;
            count += 1;
        }
        progress.finish(Phase::RestoreFilestore);
        Ok::<_, VaultError>((count, bytes))
    }
    .await;
    let (blobs_restored, blob_bytes) = match written {
        Ok(done) => done,
        Err(cause) => {
            let mut cleanup = Cleanup {
                database: String::new(),
                ..Cleanup::default()
            };
            match empty_folder(folder) {
                Ok(()) => cleanup.emptied_folders.push(folder.clone()),
                Err(e) => cleanup.left_behind.push(format!(
                    "what it wrote into {} could not be removed ({e}): empty it by hand",
                    folder.display()
                )),
            }
            return Err(VaultError::RestoreFailed {
                cause: Box::new(cause),
                cleanup,
            });
        }
    };
    Ok(FilestoreRestoreSummary {
        snapshot: snapshot.clone(),
        filestore: folder.clone(),
        replaced,
        blobs_restored,
        blob_bytes,
        duration_seconds: clock.elapsed().as_secs_f64(),
        missing_at_backup: contents
            .sealed
            .missing
            .iter()
            .map(|p| p.store_fname.clone())
            .collect(),
    })
}

/// What is at the folder before the restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FolderState {
    MissingOrEmpty,
    /// Not empty, and Ward's marker is there.
    Restored,
    /// Not empty and not restored by Ward: never emptied.
    Foreign,
}

fn folder_state(folder: &Path) -> Result<FolderState> {
    let meta = match std::fs::symlink_metadata(folder) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FolderState::MissingOrEmpty);
        }
        other => other.map_err(io_err("inspecting the filestore folder", folder))?,
    };
    if !meta.is_dir() {
        // A symlink could lead anywhere, a file is not a filestore.
        return Err(VaultError::InvalidInput(format!(
            "filestore folder {} is not a plain folder; restore into a plain folder",
            folder.display()
        )));
    }
    let mut entries =
        std::fs::read_dir(folder).map_err(io_err("reading the filestore folder", folder))?;
    if entries.next().is_none() {
        return Ok(FolderState::MissingOrEmpty);
    }
    let marker = std::fs::symlink_metadata(folder.join(RESTORED_MARKER));
    Ok(if marker.is_ok_and(|m| m.is_file()) {
        FolderState::Restored
    } else {
        FolderState::Foreign
    })
}

fn empty_folder(folder: &Path) -> std::io::Result<()> {
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
