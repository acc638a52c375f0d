//! A snapshot's object list (`objects.age`): every blob and dump chunk it references, with
//! each one's stored size and checksum, sealed under the tenant's index key (the key that
//! seals pack indexes), so that a bucket reader learns neither which objects a snapshot
//! holds nor their sizes. The manifest records the part's stored bytes and the statement
//! signs them and the list's root; manifests written before this part carry the list in
//! plaintext, and are read as they are.

use serde::{Deserialize, Serialize};

use crate::error::{Result, VaultError};
use crate::keys::{Identities, Recipients, RepositoryKey};
use crate::manifest::{SnapshotManifest, StoredObject};
use crate::pipeline::{DecodeDigests, DecodeError, PlainDigest, decode_bytes, encode_to_vec};
use crate::store::Repository;

const OBJECTS_FORMAT: &str = "ward-vault/objects/1";

/// The objects a snapshot references in its tenant's shared blob folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotObjects {
    /// Filestore blobs, sorted by object name (restores find a record by binary search).
    pub blobs: Vec<StoredObject>,
    /// The dump's distinct chunks, sorted by object name; their order is in the sealed part.
    pub dump_chunks: Vec<StoredObject>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectsFile {
    format: String,
    /// The snapshot the list belongs to (`tenant/workload/environment/id`).
    snapshot: String,
    #[serde(flatten)]
    objects: SnapshotObjects,
}

impl SnapshotObjects {
    /// Sorts both lists, as they are stored and searched.
    pub(crate) fn new(
        mut blobs: Vec<StoredObject>,
        mut dump_chunks: Vec<StoredObject>,
    ) -> SnapshotObjects {
        blobs.sort_by(|a, b| a.object.cmp(&b.object));
        dump_chunks.sort_by(|a, b| a.object.cmp(&b.object));
        SnapshotObjects { blobs, dump_chunks }
    }

    /// Blobs and dump chunks together: what the signed blob index covers.
    pub fn shared(&self) -> impl Iterator<Item = &StoredObject> {
        self.blobs.iter().chain(self.dump_chunks.iter())
    }

    /// Stored bytes of the dump's distinct chunks.
    pub fn dump_stored_bytes(&self) -> u64 {
        self.dump_chunks.iter().map(|c| c.stored_size).sum()
    }

    /// A blob's record, by object name.
    pub(crate) fn blob(&self, object: &str) -> Option<&StoredObject> {
        find(&self.blobs, object)
    }

    /// A dump chunk's record, by object name.
    pub(crate) fn dump_chunk(&self, object: &str) -> Option<&StoredObject> {
        find(&self.dump_chunks, object)
    }

    /// Seals the list of `manifest`'s snapshot under the index key of `key`: returns the
    /// stored bytes and their record.
    pub(crate) fn seal(
        &self,
        snapshot: &crate::manifest::SnapshotRef,
        key: &RepositoryKey,
    ) -> Result<(Vec<u8>, StoredObject)> {
        let file = ObjectsFile {
            format: OBJECTS_FORMAT.into(),
            snapshot: snapshot.to_string(),
            objects: self.clone(),
        };
        let json =
            serde_json::to_vec(&file).map_err(|e| VaultError::InvalidInput(e.to_string()))?;
        let recipients = Recipients::sealed_under(crate::datakey::DataKey::pack_index_key(key));
        let path = snapshot.objects_path();
        let (encoded, bytes) = encode_to_vec(&json[..], PlainDigest::CHECKSUM, &recipients)
            .map_err(|e| VaultError::Io {
                what: "encrypting the object list",
                path: path.clone().into(),
                source: e,
            })?;
        let record = StoredObject {
            object: path,
            stored_size: encoded.stored_size,
            stored_checksum: Some(encoded.stored),
        };
        Ok((bytes, record))
    }
}

fn find<'a>(list: &'a [StoredObject], object: &str) -> Option<&'a StoredObject> {
    list.binary_search_by(|o| o.object.as_str().cmp(object))
        .ok()
        .and_then(|i| list.get(i))
}

/// The lists of a manifest written before the object list was sealed; `None` when sealed.
pub(crate) fn plaintext(manifest: &SnapshotManifest) -> Option<SnapshotObjects> {
    manifest
        .objects
        .is_none()
        .then(|| SnapshotObjects::new(manifest.blobs.clone(), manifest.dump_chunks.clone()))
}

/// [`read`] when it can be read: `None` for a sealed list and no `ids` (no tenant key).
pub(crate) async fn read_if_key(
    repo: &Repository,
    manifest: &SnapshotManifest,
    ids: Option<&Identities>,
) -> Result<Option<SnapshotObjects>> {
    match (plaintext(manifest), ids) {
        (Some(objects), _) => Ok(Some(objects)),
        (None, Some(ids)) => read(repo, manifest, ids).await.map(Some),
        (None, None) => Ok(None),
    }
}

/// The object list of a verified `manifest`: its `objects.age`, held to the size and
/// checksum the manifest (which the statement signs) records, then opened with `ids`
/// (which must hold the index key: see [`crate::pack::index_identities`]); or, for a
/// manifest written before the part, the plaintext lists it carries.
pub(crate) async fn read(
    repo: &Repository,
    manifest: &SnapshotManifest,
    ids: &Identities,
) -> Result<SnapshotObjects> {
    let Some(record) = &manifest.objects else {
        return Ok(plaintext(manifest).unwrap_or_default());
    };
    let corrupted = |reason: String| VaultError::Corrupted {
        object: record.object.clone(),
        reason,
    };
    let bytes = repo
        .get_bytes(&record.object)
        .await?
        .ok_or_else(|| corrupted("the snapshot's object list is missing".into()))?;
    if !record.is_recorded(&bytes) {
        return Err(corrupted(
            "it is not the object list the snapshot's manifest records (size or checksum differs)"
                .into(),
        ));
    }
    let (_, plain) =
        decode_bytes(&bytes, ids, DecodeDigests::checksummed(None, None)).map_err(|e| match e {
            DecodeError::WrongKey => VaultError::WrongKey {
                object: record.object.clone(),
            },
            other => other.into_vault(&record.object),
        })?;
    let file: ObjectsFile =
        serde_json::from_slice(&plain).map_err(|e| corrupted(format!("invalid JSON: {e}")))?;
    if file.format != OBJECTS_FORMAT {
        return Err(corrupted(format!("unknown format {:?}", file.format)));
    }
    if file.snapshot != manifest.snapshot.to_string() {
        return Err(corrupted(format!(
            "it is the object list of snapshot {}",
            file.snapshot
        )));
    }
    let tenant = &manifest.snapshot.tenant;
    if let Some(bad) = file
        .objects
        .shared()
        .find(|o| !crate::names::is_blob_object(tenant, &o.object))
    {
        return Err(corrupted(format!(
            "object {:?} is not a blob of tenant {tenant}",
            bad.object
        )));
    }
    let objects = SnapshotObjects::new(file.objects.blobs, file.objects.dump_chunks);
    let blob_bytes: u64 = objects.blobs.iter().map(|o| o.stored_size).sum();
    let counted = (
        objects.blobs.len() as u64,
        blob_bytes,
        objects.dump_chunks.len() as u64,
        objects.dump_stored_bytes(),
    );
    let dump = manifest.dump_stats.clone().unwrap_or_default();
    let recorded = (
        manifest.blob_stats.stored,
        manifest.blob_stats.stored_bytes,
        dump.chunks,
        dump.stored_bytes,
    );
    if counted != recorded {
        return Err(corrupted(format!(
            "it lists {} blobs of {} stored bytes and {} dump chunks of {}, the manifest counts {} of {} and {} of {}",
            counted.0,
            counted.1,
            counted.2,
            counted.3,
            recorded.0,
            recorded.1,
            recorded.2,
            recorded.3
        )));
    }
    Ok(objects)
}
