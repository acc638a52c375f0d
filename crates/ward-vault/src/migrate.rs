//! The one-time migration of snapshots written before signed statements: each unsigned
//! snapshot of an environment that verifies against its recorded checksums, reading every
//! byte with a DBA identity, is signed by the environment's signing key; the others are
//! named, with why, and left as they are.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{ListedSnapshot, SnapshotFilter, list, read_verified};
use crate::checksum::{ChecksumAlgorithm, ChecksumHasher, checksum_of};
use crate::error::{Result, VaultError};
use crate::keys::Identities;
use crate::lease::{Lease, environment_lease_path};
use crate::manifest::{SnapshotManifest, SnapshotRef};
use crate::pipeline::StreamReader;
use crate::progress::Progress;
use crate::statement::{BackupSigningKey, TrustedKeys, encode_signed, statement_for};
use crate::store::{Repository, check_name};
use crate::verify::verify_manifest_data;

/// What `sign_existing` did, or would do with `dry_run`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignExistingReport {
    pub dry_run: bool,
    /// Snapshots signed now (or, in a dry run, that would be).
    pub signed: Vec<SnapshotRef>,
    /// Unsigned snapshots left unsigned, and why.
    pub refused: Vec<RefusedSnapshot>,
    /// Snapshots that were signed already.
    pub already_signed: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedSnapshot {
    pub snapshot: SnapshotRef,
    pub reason: String,
}

/// Signs every unsigned snapshot of one environment that verifies, oldest first, each
/// chained to the statement before it. `identities` must open the tenant's key: every
/// object is decrypted and checked before anything is signed.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(name = "vault.sign_existing", skip_all, fields(tenant = %tenant, workload = %workload, environment = %environment, dry_run = dry_run), err(Display))]
pub async fn sign_existing(
    repo: &Repository,
    tenant: &str,
    workload: &str,
    environment: &str,
    signing_key: &BackupSigningKey,
    trusted: &TrustedKeys,
    identities: &Identities,
    dry_run: bool,
    progress: Arc<dyn Progress>,
) -> Result<SignExistingReport> {
    check_name("tenant", tenant)?;
    check_name("workload", workload)?;
    check_name("environment", environment)?;
    let signer = signing_key.public();
    if !trusted
        .for_environment(tenant, workload, environment)
        .contains(&signer)
    {
        return Err(VaultError::SigningKeyNotPinned {
            key: signer.to_string(),
            environment: format!("{workload}/{environment}"),
        });
    }
    // The key the snapshots must have been made with: the one these identities open.
    let key_id = crate::tenant::unlock_tenant_key(repo, tenant, identities)
        .await?
        .id();
    let lease = Lease::acquire(
        repo,
        environment_lease_path(tenant, workload, environment),
        &format!("{tenant}/{workload}/{environment}"),
        "sign-existing",
        Duration::from_secs(3600),
    )
    .await?;
    let result = sign_under_lease(
        repo,
        tenant,
        workload,
        environment,
        signing_key,
        trusted,
        identities,
        &key_id,
        dry_run,
        progress,
    )
    .await;
    let released = lease.release().await;
    let report = result?;
    released?;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn sign_under_lease(
    repo: &Repository,
    tenant: &str,
    workload: &str,
    environment: &str,
    signing_key: &BackupSigningKey,
    trusted: &TrustedKeys,
    identities: &Identities,
    key_id: &str,
    dry_run: bool,
    progress: Arc<dyn Progress>,
) -> Result<SignExistingReport> {
    let filter = SnapshotFilter {
        tenant: Some(tenant.into()),
        workload: Some(workload.into()),
        environment: Some(environment.into()),
    };
    let mut report = SignExistingReport {
        dry_run,
        ..SignExistingReport::default()
    };
    let mut previous = None;
    for listed in list(repo, &filter, trusted).await? {
        match listed {
            ListedSnapshot::Verified { statement, .. } => {
                report.already_signed += 1;
                previous = Some(statement.statement.hash());
            }
            ListedSnapshot::Unverified {
                snapshot,
                unsigned: true,
                ..
            } => {
                match sign_one(
                    repo,
                    &snapshot,
                    signing_key,
                    trusted,
                    identities,
                    key_id,
                    previous.clone(),
                    dry_run,
                    progress.clone(),
                )
                .await?
                {
                    Ok(hash) => {
                        previous = Some(hash);
                        report.signed.push(snapshot);
                    }
                    Err(reason) => report.refused.push(RefusedSnapshot { snapshot, reason }),
                }
            }
            // Signed, but not by a pinned key, or damaged: not this command's to sign.
            ListedSnapshot::Unverified {
                snapshot, reason, ..
            } => report.refused.push(RefusedSnapshot {
                snapshot,
                reason: format!("it has a statement that does not verify ({reason}); left alone"),
            }),
        }
    }
    Ok(report)
}

/// Signs one unsigned snapshot once every byte of it checks; `Ok(Err(reason))` when it does
/// not. Returns the new statement's hash.
#[allow(clippy::too_many_arguments)]
async fn sign_one(
    repo: &Repository,
    snapshot: &SnapshotRef,
    signing_key: &BackupSigningKey,
    trusted: &TrustedKeys,
    identities: &Identities,
    key_id: &str,
    previous: Option<crate::checksum::Checksum>,
    dry_run: bool,
    progress: Arc<dyn Progress>,
) -> Result<std::result::Result<crate::checksum::Checksum, String>> {
    let path = snapshot.manifest_path();
    let Some(bytes) = repo.get_bytes(&path).await? else {
        return Ok(Err("its manifest is gone".into()));
    };
    let mut manifest = match SnapshotManifest::decode(&path, &bytes) {
        Ok(m) if m.snapshot == *snapshot => m,
        Ok(_) => return Ok(Err("its manifest describes another snapshot".into())),
        Err(e) => return Ok(Err(e.to_string())),
    };
    if manifest.key_id != key_id {
        return Ok(Err(format!(
            "it names tenant key {}, not the tenant's key {key_id}",
            manifest.key_id
        )));
    }
    if manifest
        .dump
        .iter()
        .chain([&manifest.sealed])
        .any(|p| p.stored_checksum.is_none())
    {
        return Ok(Err(
            "its manifest records no stored checksum for its dump or sealed part, so it cannot be verified against one".into(),
        ));
    }
    // A blob an old backup reused has no checksum in its manifest: take the stored bytes'
    // now; reading every byte below checks what they decrypt to (its sha1).
    let mut rewritten = false;
    let packs = crate::pack::load_unlocked(repo, &snapshot.tenant, identities).await?;
    for object in manifest
        .blobs
        .iter_mut()
        .chain(manifest.dump_chunks.iter_mut())
    {
        if object.stored_checksum.is_none() {
            let found = match crate::pack::read_object(repo, &packs, object).await? {
                Some(bytes) if packs.holds(&object.object) => Some((
                    bytes.len() as u64,
                    checksum_of(ChecksumAlgorithm::Blake3, &bytes),
                )),
                _ => stored_checksum(repo, &object.object).await?,
            };
            match found {
                Some((size, checksum)) if size == object.stored_size => {
                    object.stored_checksum = Some(checksum);
                    rewritten = true;
                }
                Some((size, _)) => {
                    return Ok(Err(format!(
                        "{} holds {size} bytes, not the recorded {}",
                        object.object, object.stored_size
                    )));
                }
                None => return Ok(Err(format!("{} is missing", object.object))),
            }
        }
    }
    let checked = verify_manifest_data(repo, &manifest, trusted, identities, progress).await?;
    if !checked.is_ok() {
        let faults: Vec<String> = checked
            .faults
            .iter()
            .map(|f| format!("{}: {}", f.object, f.problem))
            .collect();
        return Ok(Err(format!(
            "it does not verify against its recorded checksums: {}",
            faults.join("; ")
        )));
    }
    let encoded = if rewritten {
        manifest.encode()?
    } else {
        bytes.to_vec()
    };
    let manifest_checksum = checksum_of(ChecksumAlgorithm::Blake3, &encoded);
    let manifest_size = encoded.len() as u64;
    // A format-1 manifest keeps its lists in plaintext, as it was written.
    let objects = crate::objects::plaintext(&manifest).unwrap_or_default();
    if rewritten && !dry_run {
        // The checksums it lacked, so that the signed index vouches for every blob.
        repo.put(&path, encoded.into()).await?;
    }
    // After the manifest is written: the statement records its S3 version.
    let statement = statement_for(
        repo,
        &manifest,
        &objects,
        manifest_size,
        manifest_checksum,
        previous,
    )
    .await?;
    if dry_run {
        return Ok(Ok(statement.hash()));
    }
    let signed = encode_signed(&statement, signing_key);
    if !repo
        .put_new(&snapshot.statement_path(), signed.into(), true)
        .await?
    {
        return Ok(Err("someone signed it meanwhile".into()));
    }
    // What readers will do: it must verify now.
    read_verified(repo, snapshot, trusted).await?;
    Ok(Ok(statement.hash()))
}

/// The size and BLAKE3 of an object's stored bytes, streamed; `None` when it is missing.
async fn stored_checksum(
    repo: &Repository,
    object: &str,
) -> Result<Option<(u64, crate::checksum::Checksum)>> {
    let Some(stream) = repo.get_stream(object).await? else {
        return Ok(None);
    };
    let mut reader = StreamReader::spawn(stream);
    let name = object.to_string();
    tokio::task::spawn_blocking(move || {
        let mut hasher = ChecksumHasher::new(ChecksumAlgorithm::Blake3);
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| VaultError::Storage {
                action: "read",
                path: name.clone(),
                message: e.to_string(),
            })?;
            if n == 0 {
                return Ok(Some((size, hasher.finish())));
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("checksum task: {e}")))?
}
