//! Reading what a repository holds: listing committed snapshots without any key, finding
//! one by id, and opening a manifest's sealed part with an identity.
//!
//! Only `manifest.json` objects count: a snapshot folder without one does not exist.

use std::collections::HashMap;

use crate::error::{Result, VaultError};
use crate::keys::Identities;
use crate::manifest::{
    SealedManifest, SnapshotContents, SnapshotManifest, SnapshotRef, StoredObject,
    check_snapshot_id,
};
use crate::pipeline::{DecodeDigests, DecodeError, decode_bytes};
use crate::store::{Repository, check_name};

/// Which snapshots to list.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub tenant: Option<String>,
    pub workload: Option<String>,
    pub environment: Option<String>,
}

/// One listed snapshot: its manifest, or why the manifest cannot be read.
#[derive(Debug, Clone)]
pub enum ListedSnapshot {
    Committed(Box<SnapshotManifest>),
    /// A manifest exists but is corrupted; the snapshot cannot be trusted.
    Unreadable {
        snapshot: SnapshotRef,
        reason: String,
    },
}

impl ListedSnapshot {
    pub fn snapshot(&self) -> &SnapshotRef {
        match self {
            ListedSnapshot::Committed(m) => &m.snapshot,
            ListedSnapshot::Unreadable { snapshot, .. } => snapshot,
        }
    }

    /// Oldest first. An id carries its start time only to the second, so backups started
    /// within one second are ordered by the manifest's exact start time; an unreadable
    /// manifest falls back to its id's second.
    fn order_key(&self) -> (&str, Option<jiff::Timestamp>, &SnapshotRef) {
        let snapshot = self.snapshot();
        let second = snapshot.id.split('-').next().unwrap_or_default();
        let started = match self {
            ListedSnapshot::Committed(m) => Some(m.started),
            ListedSnapshot::Unreadable { .. } => None,
        };
        (second, started, snapshot)
    }
}

/// Parses `tenants/<t>/snapshots/<w>/<e>/<id>/manifest.json`.
pub(crate) fn parse_manifest_path(rel: &str) -> Option<SnapshotRef> {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["tenants", t, "snapshots", w, e, id, "manifest.json"] => {
            check_name("tenant", t).ok()?;
            check_name("workload", w).ok()?;
            check_name("environment", e).ok()?;
            check_snapshot_id(id).ok()?;
            Some(SnapshotRef {
                tenant: t.to_string(),
                workload: w.to_string(),
                environment: e.to_string(),
                id: id.to_string(),
            })
        }
        _ => None,
    }
}

/// Lists committed snapshots, oldest first. Needs no key.
pub async fn list(repo: &Repository, filter: &SnapshotFilter) -> Result<Vec<ListedSnapshot>> {
    let prefix = match (&filter.tenant, &filter.workload, &filter.environment) {
        (Some(t), Some(w), Some(e)) => {
            check_name("tenant", t)?;
            check_name("workload", w)?;
            check_name("environment", e)?;
            format!("tenants/{t}/snapshots/{w}/{e}")
        }
        (Some(t), Some(w), None) => {
            check_name("tenant", t)?;
            check_name("workload", w)?;
            format!("tenants/{t}/snapshots/{w}")
        }
        (Some(t), _, _) => {
            check_name("tenant", t)?;
            format!("tenants/{t}")
        }
        (None, _, _) => "tenants".to_string(),
    };
    let mut out = Vec::new();
    for (rel, _) in repo.list(&prefix).await? {
        let Some(snapshot) = parse_manifest_path(&rel) else {
            continue;
        };
        if filter
            .workload
            .as_ref()
            .is_some_and(|w| *w != snapshot.workload)
            || filter
                .environment
                .as_ref()
                .is_some_and(|e| *e != snapshot.environment)
        {
            continue;
        }
        out.push(read_listed(repo, snapshot).await?);
    }
    out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    Ok(out)
}

async fn read_listed(repo: &Repository, snapshot: SnapshotRef) -> Result<ListedSnapshot> {
    let path = snapshot.manifest_path();
    let Some(bytes) = repo.get_bytes(&path).await? else {
        return Ok(ListedSnapshot::Unreadable {
            snapshot,
            reason: "manifest vanished while listing".into(),
        });
    };
    Ok(match SnapshotManifest::decode(&path, &bytes) {
        Ok(m) if m.snapshot == snapshot => ListedSnapshot::Committed(Box::new(m)),
        Ok(_) => ListedSnapshot::Unreadable {
            snapshot,
            reason: "manifest describes another snapshot".into(),
        },
        Err(e) => ListedSnapshot::Unreadable {
            snapshot,
            reason: e.to_string(),
        },
    })
}

/// For each blob object of `tenant`, what the backup that last wrote it recorded (its
/// stored size and checksum), with that snapshot; for a blob no manifest records writing,
/// the oldest record. This is what deduplication and `verify` hold a blob to: stored bytes
/// without that size are damaged, whatever a later snapshot that reused them recorded.
/// Unreadable manifests vouch for nothing and are skipped.
pub(crate) async fn blob_write_records(
    repo: &Repository,
    tenant: &str,
) -> Result<HashMap<String, (StoredObject, SnapshotRef)>> {
    let filter = SnapshotFilter {
        tenant: Some(tenant.to_string()),
        ..SnapshotFilter::default()
    };
    let mut records = HashMap::new();
    // Oldest first, so that the last writer wins.
    for listed in list(repo, &filter).await? {
        if let ListedSnapshot::Committed(m) = listed {
            for b in &m.blobs {
                let record = (b.clone(), m.snapshot.clone());
                // Only the backup that uploaded a blob records its stored checksum.
                if b.stored_checksum.is_some() {
                    records.insert(b.object.clone(), record);
                } else {
                    records.entry(b.object.clone()).or_insert(record);
                }
            }
        }
    }
    Ok(records)
}

/// Finds a snapshot by full reference (`tenant/workload/env/id`) or by id or unique id
/// prefix, and reads its manifest.
pub async fn find_snapshot(repo: &Repository, reference: &str) -> Result<SnapshotManifest> {
    let snapshot = if reference.contains('/') {
        reference.parse::<SnapshotRef>()?
    } else {
        check_snapshot_id(reference)?;
        let matches: Vec<SnapshotRef> = repo
            .list("tenants")
            .await?
            .into_iter()
            .filter_map(|(rel, _)| parse_manifest_path(&rel))
            .filter(|s| s.id.starts_with(reference))
            .collect();
        match matches.len() {
            0 => return Err(VaultError::SnapshotNotFound(reference.to_string())),
            1 => matches
                .into_iter()
                .next()
                .ok_or_else(|| VaultError::SnapshotNotFound(reference.to_string()))?,
            _ => return Err(VaultError::AmbiguousSnapshot(reference.to_string())),
        }
    };
    read_manifest(repo, &snapshot).await
}

/// Reads and checks one snapshot's manifest.
pub async fn read_manifest(repo: &Repository, snapshot: &SnapshotRef) -> Result<SnapshotManifest> {
    let path = snapshot.manifest_path();
    let bytes = repo
        .get_bytes(&path)
        .await?
        .ok_or_else(|| VaultError::SnapshotNotFound(snapshot.to_string()))?;
    let manifest = SnapshotManifest::decode(&path, &bytes)?;
    if manifest.snapshot != *snapshot {
        return Err(VaultError::Corrupted {
            object: path,
            reason: "manifest describes another snapshot".into(),
        });
    }
    Ok(manifest)
}

/// Decrypts a manifest's sealed part.
pub async fn open_snapshot(
    repo: &Repository,
    manifest: &SnapshotManifest,
    identities: &Identities,
) -> Result<SnapshotContents> {
    let object = manifest.sealed.object.clone();
    let bytes = repo
        .get_bytes(&object)
        .await?
        .ok_or_else(|| VaultError::Corrupted {
            object: object.clone(),
            reason: "the sealed manifest part is missing".into(),
        })?;
    let digests = DecodeDigests::checksummed(None, manifest.sealed.stored_checksum.as_ref());
    let (decoded, plain) = decode_bytes(&bytes, identities, digests).map_err(|e| match e {
        DecodeError::WrongKey => VaultError::WrongKey {
            object: object.clone(),
        },
        other => other.into_vault(&object),
    })?;
    if manifest
        .sealed
        .stored_checksum
        .as_ref()
        .is_some_and(|s| *s != decoded.stored)
    {
        return Err(VaultError::Corrupted {
            object,
            reason: "stored checksum differs from the manifest".into(),
        });
    }
    let sealed: SealedManifest =
        serde_json::from_slice(&plain).map_err(|e| VaultError::Corrupted {
            object: object.clone(),
            reason: format!("invalid JSON: {e}"),
        })?;
    if sealed.snapshot != manifest.snapshot {
        return Err(VaultError::Corrupted {
            object,
            reason: "sealed part belongs to another snapshot".into(),
        });
    }
    // Restores join these names to folders and zip entries: each must be Odoo's own shape.
    let tenant = &manifest.snapshot.tenant;
    if let Some(bad) = sealed.attachments.iter().find(|a| {
        crate::names::sha1_of_store_fname(&a.store_fname).is_none()
            || !crate::names::is_blob_object(tenant, &a.object)
    }) {
        return Err(VaultError::Corrupted {
            object,
            reason: format!(
                "attachment {:?} (object {:?}) is not a filestore name and blob of this tenant",
                bad.store_fname, bad.object
            ),
        });
    }
    Ok(SnapshotContents {
        manifest: manifest.clone(),
        sealed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, started_ms: i64) -> ListedSnapshot {
        let mut m = crate::manifest::tests::sample();
        m.snapshot.id = id.into();
        m.started = jiff::Timestamp::from_millisecond(started_ms).expect("time");
        ListedSnapshot::Committed(Box::new(m))
    }

    #[test]
    fn snapshots_started_in_the_same_second_list_in_start_order() {
        // 2026-01-01T00:00:00Z; the random suffixes sort against the start order.
        let base = 1_767_225_600_000;
        let mut out = [
            listed("20260101T000000Z-ffffffff", base + 100),
            listed("20260101T000001Z-00000000", base + 1_000),
            listed("20260101T000000Z-00000000", base + 900),
            ListedSnapshot::Unreadable {
                snapshot: "t/w/e/20260101T000000Z-77777777".parse().expect("ref"),
                reason: "torn".into(),
            },
        ];
        out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let ids: Vec<&str> = out.iter().map(|l| l.snapshot().id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "20260101T000000Z-77777777",
                "20260101T000000Z-ffffffff",
                "20260101T000000Z-00000000",
                "20260101T000001Z-00000000",
            ]
        );
    }
}
