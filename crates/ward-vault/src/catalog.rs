//! Reading what a repository holds: listing snapshots without any key, each with whether its
//! signed statement verifies against the keys pinned for its environment; finding one by id;
//! opening a verified manifest's sealed part with an identity.
//!
//! Nothing a snapshot says is used unless its `statement.json` verifies and its manifest is the
//! one the statement names (`read_verified`): the bucket is writable by whoever attacks it.

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt;

use crate::checksum::checksum_of;
use crate::error::{Result, VaultError};
use crate::keys::Identities;
use crate::manifest::{
    SealedManifest, SnapshotContents, SnapshotManifest, SnapshotRef, StoredObject,
    check_snapshot_id,
};
use crate::pipeline::{DecodeDigests, DecodeError, decode_bytes};
use crate::statement::{TrustedKeys, VerifiedStatement, blob_index_root, decode_verified};
use crate::store::{Repository, check_name};

/// Which snapshots to list.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub tenant: Option<String>,
    pub workload: Option<String>,
    pub environment: Option<String>,
}

/// One listed snapshot: verified (its statement verifies against a pinned key and its
/// manifest is the one the statement names), or not, and why.
#[derive(Debug, Clone)]
pub enum ListedSnapshot {
    Verified {
        manifest: Box<SnapshotManifest>,
        statement: Box<VerifiedStatement>,
    },
    /// Never used: unsigned (no `statement.json`: a format-1 snapshot, a forgery or a backup
    /// that crashed before its commit point), signed by a key not pinned, damaged, or its
    /// manifest differs from its statement. `manifest` is what its plaintext manifest says,
    /// when it can be read: for display only, nothing in it is trusted.
    Unverified {
        snapshot: SnapshotRef,
        manifest: Option<Box<SnapshotManifest>>,
        /// No `statement.json` at all.
        unsigned: bool,
        /// Its statement verifies, but its manifest is missing or not the one signed: a
        /// real snapshot, damaged, whose blob list is unknown.
        damaged: bool,
        reason: String,
    },
}

impl ListedSnapshot {
    pub fn snapshot(&self) -> &SnapshotRef {
        match self {
            ListedSnapshot::Verified { manifest, .. } => &manifest.snapshot,
            ListedSnapshot::Unverified { snapshot, .. } => snapshot,
        }
    }

    /// The manifest, only when the snapshot verified.
    pub fn verified(&self) -> Option<&SnapshotManifest> {
        match self {
            ListedSnapshot::Verified { manifest, .. } => Some(manifest),
            ListedSnapshot::Unverified { .. } => None,
        }
    }

    /// Oldest first. An id carries its start time only to the second, so backups started
    /// within one second are ordered by the manifest's exact start time; an unverified
    /// snapshot falls back to its id's second.
    fn order_key(&self) -> (&str, Option<jiff::Timestamp>, &SnapshotRef) {
        let snapshot = self.snapshot();
        let second = snapshot.id.split('-').next().unwrap_or_default();
        (second, self.verified().map(|m| m.started), snapshot)
    }
}

/// Parses `tenants/<t>/snapshots/<w>/<e>/<id>/{manifest,statement}.json`: either marks a
/// snapshot folder that `list` shows (verified or not).
pub(crate) fn parse_snapshot_path(rel: &str) -> Option<SnapshotRef> {
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        [
            "tenants",
            t,
            "snapshots",
            w,
            e,
            id,
            "manifest.json" | "statement.json",
        ] => {
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

/// Lists snapshots, oldest first, each verified against `keys` or not. Needs no
/// decryption key.
pub async fn list(
    repo: &Repository,
    filter: &SnapshotFilter,
    keys: &TrustedKeys,
) -> Result<Vec<ListedSnapshot>> {
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
    let mut found = BTreeSet::new();
    for (rel, _) in repo.list(&prefix).await? {
        let Some(snapshot) = parse_snapshot_path(&rel) else {
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
        found.insert(snapshot);
    }
    let mut out = Vec::new();
    for snapshot in found {
        out.push(read_listed(repo, snapshot, keys).await?);
    }
    out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    Ok(out)
}

async fn read_listed(
    repo: &Repository,
    snapshot: SnapshotRef,
    keys: &TrustedKeys,
) -> Result<ListedSnapshot> {
    match read_verified(repo, &snapshot, keys).await {
        Ok((manifest, statement)) => Ok(ListedSnapshot::Verified {
            manifest: Box::new(manifest),
            statement: Box::new(statement),
        }),
        Err(
            e @ (VaultError::Unsigned { .. }
            | VaultError::Unverified { .. }
            | VaultError::Corrupted { .. }
            | VaultError::SnapshotNotFound(_)),
        ) => {
            // What the plaintext manifest claims, for display only.
            let path = snapshot.manifest_path();
            let manifest = match repo.get_bytes(&path).await? {
                Some(bytes) => SnapshotManifest::decode(&path, &bytes)
                    .ok()
                    .filter(|m| m.snapshot == snapshot)
                    .map(Box::new),
                None => None,
            };
            let reason = match &e {
                VaultError::Unverified { reason, .. } => reason.clone(),
                VaultError::Unsigned { .. } => "not signed: it has no statement.json".into(),
                VaultError::Corrupted { object, reason } => format!("{object}: {reason}"),
                other => other.to_string(),
            };
            Ok(ListedSnapshot::Unverified {
                snapshot,
                manifest,
                unsigned: matches!(e, VaultError::Unsigned { .. }),
                damaged: matches!(e, VaultError::Corrupted { .. }),
                reason,
            })
        }
        Err(e) => Err(e),
    }
}

/// Reads a snapshot's statement, verifies it against the keys pinned for its environment,
/// then reads the manifest and checks it is the one the statement names, part for part.
/// Unsigned is [`VaultError::Unsigned`]; anything else that fails is
/// [`VaultError::Unverified`] with the reason.
pub(crate) async fn read_verified(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
) -> Result<(SnapshotManifest, VerifiedStatement)> {
    let unverified = |reason: String| VaultError::Unverified {
        snapshot: snapshot.to_string(),
        reason,
    };
    let manifest_path = snapshot.manifest_path();
    let Some(statement_bytes) = repo.get_bytes(&snapshot.statement_path()).await? else {
        return Err(if repo.head(&manifest_path).await?.is_some() {
            VaultError::Unsigned {
                snapshot: snapshot.to_string(),
            }
        } else {
            VaultError::SnapshotNotFound(snapshot.to_string())
        });
    };
    let verified =
        decode_verified(&statement_bytes, keys.for_snapshot(snapshot)).map_err(unverified)?;
    let st = &verified.statement;
    if st.snapshot != *snapshot {
        return Err(unverified(format!(
            "its statement is signed for another snapshot ({})",
            st.snapshot
        )));
    }
    // From here on the statement is genuine: what does not match it is damage to a real
    // snapshot (Corrupted), which garbage collection must not take as a blob list.
    let damaged = |reason: String| VaultError::Corrupted {
        object: manifest_path.clone(),
        reason,
    };
    let bytes = repo.get_bytes(&manifest_path).await?.ok_or_else(|| {
        damaged("it is missing, while the snapshot's signed statement exists".into())
    })?;
    let part = st
        .part(&manifest_path)
        .ok_or_else(|| damaged("the snapshot's signed statement does not name it".into()))?;
    if part.stored_size != bytes.len() as u64
        || checksum_of(part.stored_checksum.algorithm(), &bytes) != part.stored_checksum
    {
        return Err(damaged(
            "it is not the manifest the snapshot's signed statement names (size or checksum differs)".into(),
        ));
    }
    let manifest = SnapshotManifest::decode(&manifest_path, &bytes)?;
    check_manifest_matches(&manifest, &verified).map_err(damaged)?;
    Ok((manifest, verified))
}

/// The manifest (already known to be the signed bytes) must agree with its statement on
/// every field both hold, so that readers may use either.
fn check_manifest_matches(
    manifest: &SnapshotManifest,
    verified: &VerifiedStatement,
) -> std::result::Result<(), String> {
    let st = &verified.statement;
    if manifest.snapshot != st.snapshot {
        return Err("its manifest describes another snapshot".into());
    }
    if manifest.key_id != st.tenant_key_id || manifest.recipients != st.recipients {
        return Err("its manifest's tenant key or recipients differ from the statement's".into());
    }
    if manifest.started.to_string() != st.started || manifest.finished.to_string() != st.finished {
        return Err("its manifest's times differ from the statement's".into());
    }
    let recorded = manifest
        .dump
        .iter()
        .chain(&manifest.objects)
        .chain([&manifest.sealed]);
    let expected: Vec<String> = [snapshot_path(manifest, "manifest.json")]
        .into_iter()
        .chain(recorded.clone().map(|d| d.object.clone()))
        .collect();
    if st.parts.len() != expected.len() || !expected.iter().all(|p| st.part(p).is_some()) {
        return Err(
            "its statement does not name exactly its manifest, dump (format 1), object list and sealed part"
                .into(),
        );
    }
    for object in recorded {
        let part = st.part(&object.object).ok_or("a part is missing")?;
        if object.stored_size != part.stored_size
            || object.stored_checksum.as_ref() != Some(&part.stored_checksum)
        {
            return Err(format!(
                "its manifest's record of {} differs from the statement's",
                object.object
            ));
        }
    }
    if manifest.objects.is_none() {
        let root = blob_index_root(manifest.blobs.iter().chain(&manifest.dump_chunks))?;
        if root != st.blob_index {
            return Err(
                "its manifest's blob list is not the blob index its statement signed".into(),
            );
        }
        return Ok(());
    }
    // The sealed list's own bytes are signed (a part); its counts must be the index's.
    let dump = manifest.dump_stats.clone().unwrap_or_default();
    if st.blob_index.count != manifest.blob_stats.stored + dump.chunks
        || st.blob_index.stored_bytes != manifest.blob_stats.stored_bytes + dump.stored_bytes
    {
        return Err(
            "its manifest's object counts are not the blob index its statement signed".into(),
        );
    }
    Ok(())
}

fn snapshot_path(manifest: &SnapshotManifest, file: &str) -> String {
    format!("{}/{file}", manifest.snapshot.dir())
}

/// One reading of a tenant's snapshots, for the several questions a backup asks of them
/// (which key, which records to deduplicate against, which statement to chain to): the
/// statements are listed and verified once.
pub(crate) struct TenantCatalog {
    /// Oldest first.
    listed: Vec<ListedSnapshot>,
}

impl TenantCatalog {
    pub(crate) async fn read(
        repo: &Repository,
        tenant: &str,
        keys: &TrustedKeys,
    ) -> Result<TenantCatalog> {
        let filter = SnapshotFilter {
            tenant: Some(tenant.into()),
            ..SnapshotFilter::default()
        };
        Ok(TenantCatalog {
            listed: list(repo, &filter, keys).await?,
        })
    }

    fn verified(&self) -> impl DoubleEndedIterator<Item = (&SnapshotManifest, &VerifiedStatement)> {
        self.listed.iter().filter_map(|l| match l {
            ListedSnapshot::Verified {
                manifest,
                statement,
            } => Some((manifest.as_ref(), statement.as_ref())),
            ListedSnapshot::Unverified { .. } => None,
        })
    }

    /// The environment's newest verified snapshot and its statement.
    pub(crate) fn newest_verified(
        &self,
        workload: &str,
        environment: &str,
    ) -> Option<(&SnapshotManifest, &VerifiedStatement)> {
        self.verified()
            .rev()
            .find(|(m, _)| m.snapshot.workload == workload && m.snapshot.environment == environment)
    }

    /// The tenant key id the tenant's newest verified snapshot (of any environment) was
    /// made with: the key id a backup must use. `None` before the tenant's first verified
    /// snapshot (trust on first use).
    pub(crate) fn pinned_key_id(&self) -> Option<String> {
        self.verified()
            .map(|(m, _)| m)
            .max_by_key(|m| m.started)
            .map(|m| m.key_id.clone())
    }

    /// For each shared object of the tenant (blob or dump chunk), what the backup that last
    /// wrote it recorded (its stored size and checksum), with that snapshot; for an object
    /// no manifest records writing, the oldest record. This is what deduplication and
    /// `verify` hold an object to: stored bytes without that size are damaged, whatever a
    /// later snapshot that reused them recorded. Only verified snapshots vouch for anything.
    ///
    /// Sealed object lists are opened with `ids` (holding the tenant's index key); without
    /// it, only manifests that carry their lists in plaintext are read.
    pub(crate) async fn write_records(
        &self,
        repo: &Repository,
        ids: Option<&Identities>,
    ) -> Result<HashMap<String, (StoredObject, SnapshotRef)>> {
        let verified: Vec<&SnapshotManifest> = self.verified().map(|(m, _)| m).collect();
        // Oldest first (buffered keeps the order), so that the last writer wins.
        let lists: Vec<Result<Option<crate::objects::SnapshotObjects>>> = futures::stream::iter(
            verified
                .iter()
                .map(|m| crate::objects::read_if_key(repo, m, ids)),
        )
        .buffered(8)
        .collect()
        .await;
        let mut records: HashMap<String, (StoredObject, SnapshotRef)> = HashMap::new();
        for (m, objects) in verified.iter().zip(lists) {
            let objects = match objects {
                Ok(Some(objects)) => objects,
                // Sealed, and no key to open it: it vouches for nothing here.
                Ok(None) => continue,
                // A snapshot whose list is damaged vouches for nothing (verify names it).
                Err(VaultError::Corrupted { .. } | VaultError::WrongKey { .. }) => continue,
                Err(e) => return Err(e),
            };
            for b in objects.shared() {
                // A reuse records the checksum of the record it reused: the snapshot that
                // wrote the bytes stays the one named, until a backup writes them anew.
                match records.get(&b.object) {
                    Some((known, _)) if known.stored_checksum == b.stored_checksum => {}
                    _ => {
                        records.insert(b.object.clone(), (b.clone(), m.snapshot.clone()));
                    }
                }
            }
        }
        Ok(records)
    }
}

/// The environment's newest snapshot whose statement verifies (a forged or unsigned newer
/// one is listed, never taken): what `restore --latest` and `drill` use.
pub async fn newest_verified_snapshot(
    repo: &Repository,
    tenant: &str,
    workload: &str,
    environment: &str,
    keys: &TrustedKeys,
) -> Result<Option<SnapshotRef>> {
    let filter = SnapshotFilter {
        tenant: Some(tenant.into()),
        workload: Some(workload.into()),
        environment: Some(environment.into()),
    };
    Ok(list(repo, &filter, keys)
        .await?
        .iter()
        .rev()
        .find_map(|l| l.verified().map(|m| m.snapshot.clone())))
}

/// The tenant key id a backup must use (see [`TenantCatalog::pinned_key_id`]).
pub async fn pinned_tenant_key_id(
    repo: &Repository,
    tenant: &str,
    keys: &TrustedKeys,
) -> Result<Option<String>> {
    Ok(TenantCatalog::read(repo, tenant, keys)
        .await?
        .pinned_key_id())
}

/// The write records of the tenant's shared objects (see [`TenantCatalog::write_records`]).
pub(crate) async fn blob_write_records(
    repo: &Repository,
    tenant: &str,
    keys: &TrustedKeys,
    ids: Option<&Identities>,
) -> Result<HashMap<String, (StoredObject, SnapshotRef)>> {
    TenantCatalog::read(repo, tenant, keys)
        .await?
        .write_records(repo, ids)
        .await
}

/// Finds a snapshot by full reference (`tenant/workload/env/id`) or by id or unique id
/// prefix, and reads its manifest once its statement verifies against `keys`.
pub async fn find_snapshot(
    repo: &Repository,
    reference: &str,
    keys: &TrustedKeys,
) -> Result<SnapshotManifest> {
    let snapshot = if reference.contains('/') {
        reference.parse::<SnapshotRef>()?
    } else {
        check_snapshot_id(reference)?;
        // Each match with when its files were last written, which orders two snapshots
        // started in the same second (their ids differ only in the random part).
        let mut written = std::collections::BTreeMap::new();
        for (rel, meta) in repo.list("tenants").await? {
            if let Some(s) = parse_snapshot_path(&rel).filter(|s| s.id.starts_with(reference)) {
                let at = written.entry(s).or_insert(meta.last_modified);
                *at = (*at).max(meta.last_modified);
            }
        }
        let matches: Vec<SnapshotRef> = written.keys().cloned().collect();
        match matches.len() {
            0 => return Err(VaultError::SnapshotNotFound(reference.to_string())),
            1 => matches
                .into_iter()
                .next()
                .ok_or_else(|| VaultError::SnapshotNotFound(reference.to_string()))?,
            n => {
                // Ids start with their start time (to the second), whichever environment
                // they are in; within one second the later written is the newer.
                let started =
                    |s: &SnapshotRef| s.id.split('-').next().unwrap_or_default().to_string();
                let mut newest: Vec<(&SnapshotRef, _)> = written.iter().collect();
                newest.sort_by(|(a, at), (b, bt)| {
                    (started(b), *bt, &b.id).cmp(&(started(a), *at, &a.id))
                });
                let newest: Vec<&SnapshotRef> = newest.into_iter().map(|(s, _)| s).collect();
                let candidates = newest
                    .iter()
                    .take(crate::error::AMBIGUOUS_SHOWN)
                    .map(|s| s.to_string())
                    .collect();
                return Err(VaultError::AmbiguousSnapshot {
                    prefix: reference.to_string(),
                    candidates,
                    matches: n,
                });
            }
        }
    };
    read_manifest(repo, &snapshot, keys).await
}

/// Reads one snapshot's manifest once its statement verifies against `keys` (see
/// [`read_verified`]); an unsigned or unverifiable snapshot is refused, by name.
pub async fn read_manifest(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
) -> Result<SnapshotManifest> {
    Ok(read_verified(repo, snapshot, keys).await?.0)
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
    // The sealed part, and every chunk and blob after it, may be sealed under data keys.
    crate::datakey::open_tenant_keys(repo, &manifest.snapshot.tenant, identities).await?;
    if let Some(id) = &manifest.data_key {
        crate::datakey::require(repo, &manifest.snapshot.tenant, id, identities).await?;
    }
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
    // And each blob must be the one its keyed name says: the tenant key the statement names
    // (held to it, so a replaced key.json/key.age is refused) gives the name of each sha1.
    let key = crate::tenant::unlock_tenant_key(repo, tenant, identities).await?;
    if key.id() != manifest.key_id {
        return Err(VaultError::TenantKeyChanged {
            tenant: tenant.clone(),
            detail: format!(
                "the repository's key is {}, the snapshot's signed statement names {}",
                key.id(),
                manifest.key_id
            ),
        });
    }
    if let Some(bad) = sealed.attachments.iter().find(|a| {
        crate::names::sha1_of_store_fname(&a.store_fname).is_some_and(|sha1| {
            a.object != crate::manifest::blob_path(tenant, &key.blob_name(sha1))
        })
    }) {
        return Err(VaultError::Corrupted {
            object,
            reason: format!(
                "attachment {:?} points at object {:?}, which is not the blob its keyed name gives",
                bad.store_fname, bad.object
            ),
        });
    }
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
    // The object list and the pack indexes are sealed under a key derived from the tenant
    // key just checked.
    identities
        .data_keys()
        .insert(crate::datakey::DataKey::pack_index_key(&key));
    let objects = crate::objects::read(repo, manifest, identities).await?;
    let packs = std::sync::Arc::new(crate::pack::load(repo, tenant, identities).await?);
    Ok(SnapshotContents {
        manifest: manifest.clone(),
        sealed,
        objects,
        packs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, started_ms: i64) -> ListedSnapshot {
        let mut m = crate::manifest::tests::sample();
        m.snapshot.id = id.into();
        m.started = jiff::Timestamp::from_millisecond(started_ms).expect("time");
        ListedSnapshot::Verified {
            manifest: Box::new(m),
            statement: Box::new(crate::statement::test_verified()),
        }
    }

    #[test]
    fn snapshots_started_in_the_same_second_list_in_start_order() {
        // 2026-01-01T00:00:00Z; the random suffixes sort against the start order.
        let base = 1_767_225_600_000;
        let mut out = [
            listed("20260101T000000Z-ffffffff", base + 100),
            listed("20260101T000001Z-00000000", base + 1_000),
            listed("20260101T000000Z-00000000", base + 900),
            ListedSnapshot::Unverified {
                snapshot: "t/w/e/20260101T000000Z-77777777".parse().expect("ref"),
                manifest: None,
                unsigned: true,
                damaged: false,
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
