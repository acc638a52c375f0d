//! The per-tenant repository key: generated on first backup, stored in the repository
//! encrypted to the recipients (`key.age`) with a public fingerprint (`key.json`).
//!
//! Backups need the key in the clear to name blobs, so callers cache it locally (mode 0600);
//! a DBA identity can always recover it from the repository.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, VaultError};
use crate::keys::{Identities, Recipients, RepositoryKey};
use crate::manifest::tenant_dir;
use crate::pipeline::{DecodeDigests, DecodeError, PlainDigest, decode_bytes, encode_to_vec};
use crate::store::{Repository, check_name};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyInfo {
    key_id: String,
    recipients: Vec<String>,
    created: jiff::Timestamp,
}

fn key_json(tenant: &str) -> String {
    format!("{}/key.json", tenant_dir(tenant))
}
fn key_age(tenant: &str) -> String {
    format!("{}/key.age", tenant_dir(tenant))
}

async fn read_info(repo: &Repository, tenant: &str) -> Result<Option<KeyInfo>> {
    let object = key_json(tenant);
    match repo.get_bytes(&object).await? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| VaultError::Corrupted {
                object,
                reason: e.to_string(),
            }),
    }
}

/// Publishes `key` as the tenant's key if the tenant has none; fails with `KeyMismatch` if
/// the tenant already uses another key.
pub(crate) async fn ensure_published(
    repo: &Repository,
    tenant: &str,
    key: &RepositoryKey,
    recipients: &Recipients,
) -> Result<()> {
    match read_info(repo, tenant).await? {
        Some(info) if info.key_id == key.id() => Ok(()),
        Some(_) => Err(VaultError::KeyMismatch {
            tenant: tenant.to_string(),
        }),
        None => {
            let (_, sealed) = encode_to_vec(&key.bytes()[..], PlainDigest::CHECKSUM, recipients)
                .map_err(|e| VaultError::Io {
                    what: "encrypting the repository key",
                    path: key_age(tenant).into(),
                    source: e,
                })?;
            // key.age first: key.json is what marks the key as published.
            repo.put(&key_age(tenant), sealed.into()).await?;
            let info = KeyInfo {
                key_id: key.id(),
                recipients: recipients.to_strings(),
                created: jiff::Timestamp::now(),
            };
            let body = serde_json::to_vec_pretty(&info)
                .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
            if !repo.put_new(&key_json(tenant), body.into(), true).await? {
                // Someone published concurrently; ours is only fine if it is the same key.
                return match read_info(repo, tenant).await? {
                    Some(i) if i.key_id == key.id() => Ok(()),
                    _ => Err(VaultError::KeyMismatch {
                        tenant: tenant.to_string(),
                    }),
                };
            }
            Ok(())
        }
    }
}

/// Decrypts the tenant's key from the repository with a DBA identity.
pub async fn unlock_tenant_key(
    repo: &Repository,
    tenant: &str,
    identities: &Identities,
) -> Result<RepositoryKey> {
    check_name("tenant", tenant)?;
    let object = key_age(tenant);
    let info = read_info(repo, tenant)
        .await?
        .ok_or_else(|| VaultError::KeyUnavailable {
            tenant: tenant.to_string(),
        })?;
    let sealed = repo
        .get_bytes(&object)
        .await?
        .ok_or_else(|| VaultError::Corrupted {
            object: object.clone(),
            reason: "missing while key.json exists".into(),
        })?;
    let digests = DecodeDigests::checksummed(None, None);
    let (_, plain) = decode_bytes(&sealed, identities, digests).map_err(|e| match e {
        DecodeError::WrongKey => VaultError::WrongKey {
            object: object.clone(),
        },
        other => other.into_vault(&object),
    })?;
    let key = RepositoryKey::from_bytes(&plain).ok_or_else(|| VaultError::Corrupted {
        object: object.clone(),
        reason: "not a 32-byte key".into(),
    })?;
    if key.id() != info.key_id {
        return Err(VaultError::Corrupted {
            object,
            reason: "decrypted key does not match key.json".into(),
        });
    }
    Ok(key)
}

/// The tenant key for a backup, the way the CLI wants it: from the local `cache` file if it
/// matches the repository; else unlocked with `identities` and cached; else, for a tenant
/// without a key yet, generated, published and cached.
///
/// `pinned` is the key id the tenant's signed chain names (`pinned_tenant_key_id`). A key
/// found changed — the repository's `key.json` no longer the cached key, or either not the
/// pinned one — is [`VaultError::TenantKeyChanged`], never unlocked and cached in its place:
/// whoever writes the bucket could otherwise swap in a key of their own. Before the first
/// verified snapshot there is nothing to hold it to (trust on first use).
pub async fn tenant_key(
    repo: &Repository,
    tenant: &str,
    recipients: &Recipients,
    cache: &Path,
    identities: Option<&Identities>,
    pinned: Option<&str>,
) -> Result<RepositoryKey> {
    check_name("tenant", tenant)?;
    let cached = if cache.exists() {
        Some(RepositoryKey::load(cache)?)
    } else {
        None
    };
    let changed = |detail: String| VaultError::TenantKeyChanged {
        tenant: tenant.to_string(),
        detail,
    };
    if let (Some(pin), Some(key)) = (pinned, &cached)
        && key.id() != pin
    {
        return Err(changed(format!(
            "the cached key {} is not the key {pin} the signed snapshots name",
            key.id()
        )));
    }
    match (read_info(repo, tenant).await?, cached) {
        (Some(info), Some(key)) if info.key_id == key.id() => Ok(key),
        (Some(info), Some(key)) => Err(changed(format!(
            "key.json names key {}, the cached key is {}",
            info.key_id,
            key.id()
        ))),
        (Some(info), None) => {
            if let Some(pin) = pinned
                && info.key_id != pin
            {
                return Err(changed(format!(
                    "key.json names key {}, the signed snapshots name {pin}",
                    info.key_id
                )));
            }
            let ids = identities.ok_or_else(|| VaultError::KeyUnavailable {
                tenant: tenant.to_string(),
            })?;
            let key = unlock_tenant_key(repo, tenant, ids).await?;
            key.save(cache)?;
            Ok(key)
        }
        (None, cached) => {
            // A cached key was held to the pin above; without one, nothing may replace it.
            if let (Some(pin), None) = (pinned, &cached) {
                return Err(changed(format!(
                    "key.json is missing, the signed snapshots name key {pin}"
                )));
            }
            let key = match cached {
                Some(k) => k,
                None => RepositoryKey::generate()?,
            };
            ensure_published(repo, tenant, &key, recipients).await?;
            key.save(cache)?;
            Ok(key)
        }
    }
}

/// Re-encrypts the tenant key to `recipients` (a rewrap): `key.age` is replaced, then
/// `key.json`'s recipient list. The key itself, and so every blob name, stays the same.
/// Returns the key id; with `dry_run` nothing is written.
pub(crate) async fn rewrap_tenant_key(
    repo: &Repository,
    tenant: &str,
    identities: &Identities,
    recipients: &Recipients,
    dry_run: bool,
) -> Result<String> {
    let key = unlock_tenant_key(repo, tenant, identities).await?;
    let mut info = read_info(repo, tenant)
        .await?
        .ok_or_else(|| VaultError::KeyUnavailable {
            tenant: tenant.to_string(),
        })?;
    let (_, sealed) =
        encode_to_vec(&key.bytes()[..], PlainDigest::CHECKSUM, recipients).map_err(|e| {
            VaultError::Io {
                what: "encrypting the repository key",
                path: key_age(tenant).into(),
                source: e,
            }
        })?;
    if !dry_run {
        repo.put(&key_age(tenant), sealed.into()).await?;
        info.recipients = recipients.to_strings();
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
        repo.put(&key_json(tenant), body.into()).await?;
    }
    Ok(key.id())
}
