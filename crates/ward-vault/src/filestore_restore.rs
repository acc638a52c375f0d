//! `restore_filestore`: a snapshot's filestore only, into one database's folder in Odoo's
//! layout, for a database recovered another way (a promoted standby in the recovery region).
//! The checks are a full restore's: the statement first, every blob's sha1, Ward's marker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::catalog::{open_snapshot, read_manifest};
use crate::error::{Result, VaultError, io_err};
use crate::keys::Identities;
use crate::manifest::SnapshotRef;
use crate::progress::{Phase, Progress};
use crate::restore::{
    Cleanup, FolderState, RESTORED_MARKER, empty_folder, write_atomically, write_blobs,
};
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
#[serde(rename_all = "camelCase")]
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
#[tracing::instrument(name = "vault.restore_filestore", skip_all, fields(snapshot = %snapshot), err(Display))]
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
    let replaced = match FolderState::of(folder)? {
        FolderState::Missing | FolderState::Empty => false,
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
        progress.start(
            Phase::RestoreFilestore,
            Some(contents.sealed.attachments.len() as u64),
        );
        let (count, bytes) = write_blobs(
            repo,
            &contents,
            identities,
            folder,
            request.blob_concurrency,
            std::sync::Arc::new(tokio::sync::Semaphore::new(crate::restore::cores())),
            progress.clone(),
        )
        .await?;
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
