//! Pack files: a backup writes its small sealed objects (dump chunks, and filestore blobs
//! read whole) into pack files of about [`PACK_TARGET`] bytes, padded to their Padmé
//! length, each with an index sealed under the tenant's pack index key.
//!
//! An object in a pack keeps its logical path (`blobs/<n[:2]>/<n>`) and its stored bytes, so
//! the signed blob index names it exactly as it named a standalone object; the index says
//! only where it lies. Readers check the bytes they find against the signed checksum, so a
//! rewritten index can hide an object, never substitute one, and garbage collection can
//! repack (copy those bytes into new packs) without any statement changing.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::checksum::checksum_of;
use crate::datakey::DataKey;
use crate::error::{Result, VaultError};
use crate::keys::{Identities, Recipients, RepositoryKey};
use crate::manifest::{
    PACK_INDEX_SUFFIX, StoredObject, blob_dir, pack_dir, pack_index_path, pack_path, random_hex,
};
use crate::pipeline::{DecodeDigests, PlainDigest, decode_bytes, encode_to_vec};
use crate::store::Repository;

/// A pack is written once it holds this many bytes. 8 MiB: a full backup of 20,000
/// attachments of about 50 kB is about 130 packs, and a pack that several blob workers
/// fill at once bounds the memory to a few packs.
pub(crate) const PACK_TARGET: usize = 8 * 1024 * 1024;
const INDEX_FORMAT: &str = "ward-vault/pack-index/1";

/// Where one object lies in its pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackEntry {
    /// The object's logical path (`tenants/<t>/blobs/…`), as snapshots name it.
    pub object: String,
    pub offset: u64,
    pub length: u64,
}

/// A pack's index file, before sealing.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    format: String,
    /// The pack's id: its index only describes the pack of the same id.
    pack: String,
    /// The pack's size, padding included.
    size: u64,
    entries: Vec<PackEntry>,
}

/// One pack, as its index describes it.
#[derive(Debug, Clone)]
pub(crate) struct Pack {
    pub id: String,
    pub path: String,
    pub index_path: String,
    pub size: u64,
    pub entries: Vec<PackEntry>,
}

#[derive(Default)]
struct OpenPack {
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// Collects one run's (or one repack's) sealed objects into packs.
pub(crate) struct PackWriter {
    repo: Repository,
    tenant: String,
    index_recipients: Recipients,
    open: Mutex<OpenPack>,
    written: Mutex<Vec<Pack>>,
}

impl std::fmt::Debug for PackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackWriter")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl PackWriter {
    pub(crate) fn new(repo: &Repository, tenant: &str, key: &RepositoryKey) -> PackWriter {
        PackWriter {
            repo: repo.clone(),
            tenant: tenant.to_string(),
            index_recipients: Recipients::sealed_under(DataKey::pack_index_key(key)),
            open: Mutex::new(OpenPack::default()),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Adds one sealed object, from a blocking thread; the thread that fills a pack writes
    /// it (pack, then index) while the others go on filling the next.
    pub(crate) fn add_blocking(
        &self,
        runtime: &tokio::runtime::Handle,
        object: &str,
        stored: &[u8],
    ) -> Result<()> {
        match self.add(object, stored)? {
            Some(full) => runtime.block_on(self.write(full)),
            None => Ok(()),
        }
    }

    /// Adds one sealed object from async code.
    pub(crate) async fn add_async(&self, object: &str, stored: &[u8]) -> Result<()> {
        if let Some(full) = self.add(object, stored)? {
            self.write(full).await?;
        }
        Ok(())
    }

    /// Writes what is left as a last, smaller pack.
    pub(crate) async fn finish(&self) -> Result<()> {
        let rest = std::mem::take(&mut *self.lock_open()?);
        if rest.entries.is_empty() {
            return Ok(());
        }
        self.write(rest).await
    }

    #[cfg(test)]
    pub(crate) fn repo(&self) -> &Repository {
        &self.repo
    }

    /// The packs written so far.
    pub(crate) fn written(&self) -> Vec<Pack> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn lock_open(&self) -> Result<std::sync::MutexGuard<'_, OpenPack>> {
        self.open
            .lock()
            .map_err(|_| VaultError::InvalidInput("a pack writer failed".into()))
    }

    fn add(&self, object: &str, stored: &[u8]) -> Result<Option<OpenPack>> {
        let mut open = self.lock_open()?;
        let offset = open.bytes.len() as u64;
        open.bytes.extend_from_slice(stored);
        open.entries.push(PackEntry {
            object: object.to_string(),
            offset,
            length: stored.len() as u64,
        });
        Ok((open.bytes.len() >= PACK_TARGET).then(|| std::mem::take(&mut *open)))
    }

    async fn write(&self, open: OpenPack) -> Result<()> {
        let (pack, pack_bytes, index_bytes) = self.seal(open)?;
        self.repo.put(&pack.path, pack_bytes.into()).await?;
        self.repo.put(&pack.index_path, index_bytes.into()).await?;
        self.record(pack);
        Ok(())
    }

    fn record(&self, pack: Pack) {
        if let Ok(mut w) = self.written.lock() {
            w.push(pack);
        }
    }

    /// The pack's bytes padded to their Padmé length (zeros after the last object: each
    /// object is encrypted, the padding hides only how much they add up to), and its
    /// sealed index.
    fn seal(&self, open: OpenPack) -> Result<(Pack, Vec<u8>, Vec<u8>)> {
        let id = random_hex::<16>()?;
        let mut bytes = open.bytes;
        let padded = crate::padding::padme(bytes.len() as u64);
        bytes.resize(usize::try_from(padded).unwrap_or(bytes.len()), 0);
        let pack = Pack {
            path: pack_path(&self.tenant, &id),
            index_path: pack_index_path(&self.tenant, &id),
            size: bytes.len() as u64,
            entries: open.entries,
            id,
        };
        let file = IndexFile {
            format: INDEX_FORMAT.into(),
            pack: pack.id.clone(),
            size: pack.size,
            entries: pack.entries.clone(),
        };
        let json =
            serde_json::to_vec(&file).map_err(|e| VaultError::InvalidInput(e.to_string()))?;
        let (_, index) =
            encode_to_vec(&json[..], PlainDigest::CHECKSUM, &self.index_recipients).map_err(
                crate::error::io_err("encrypting a pack index", &pack.index_path),
            )?;
        Ok((pack, bytes, index))
    }
}

/// Where each packed object of a tenant lies, from every pack index the identities open.
#[derive(Debug, Default)]
pub(crate) struct PackIndex {
    /// Every copy of each object (two backups may both have written a new chunk; a
    /// stopped repack leaves two): pack, offset, length.
    locations: HashMap<String, Vec<(usize, u64, u64)>>,
    /// Every pack with a readable index, sorted by id.
    pub packs: Vec<Pack>,
    /// Index files that do not open or do not parse, with why.
    pub damaged: Vec<(String, String)>,
    /// Pack files without an index (a backup stopped between the two writes).
    pub unindexed: Vec<(String, ObjectMeta)>,
    /// Index files whose pack is gone (a repack stopped between the two deletes).
    pub orphan_indexes: Vec<(String, ObjectMeta)>,
    /// When each pack and index file was written, by path.
    pub modified: HashMap<String, ObjectMeta>,
}

impl PackIndex {
    /// The pack path, offset and length of `object`, if a pack holds it.
    pub(crate) fn locate(&self, object: &str) -> Option<(&str, u64, u64)> {
        self.copies(object).next()
    }

    /// Every copy of `object`: pack path, offset, length.
    pub(crate) fn copies<'a>(
        &'a self,
        object: &str,
    ) -> impl Iterator<Item = (&'a str, u64, u64)> + 'a {
        self.locations
            .get(object)
            .into_iter()
            .flatten()
            .filter_map(|(pack, offset, length)| {
                Some((self.packs.get(*pack)?.path.as_str(), *offset, *length))
            })
    }

    /// Whether `object` is placed anywhere.
    pub(crate) fn holds(&self, object: &str) -> bool {
        self.locations.contains_key(object)
    }
}

/// Identities that open only the tenant's pack indexes: for a backup or a garbage
/// collection holding the tenant key.
pub(crate) fn index_identities(key: &RepositoryKey) -> Identities {
    Identities::of_data_key(DataKey::pack_index_key(key))
}

/// Reads every pack index of `tenant` that `ids` open (they must hold the pack index key,
/// see [`index_identities`]; `open_snapshot` adds it to a DBA's).
pub(crate) async fn load(repo: &Repository, tenant: &str, ids: &Identities) -> Result<PackIndex> {
    load_reusing(repo, tenant, ids, None).await
}

/// [`load`], taking the indexes `previous` already read from it instead of fetching them
/// again: an index is written once, under a fresh id, and never rewritten (a backup looks
/// twice: before it stores anything, and before it commits).
pub(crate) async fn load_reusing(
    repo: &Repository,
    tenant: &str,
    ids: &Identities,
    previous: Option<&PackIndex>,
) -> Result<PackIndex> {
    let known: HashMap<&str, &Pack> = previous
        .map(|p| p.packs.iter().map(|k| (k.index_path.as_str(), k)).collect())
        .unwrap_or_default();
    let listed = repo.list(&pack_dir(tenant)).await?;
    let mut packs_seen: HashMap<String, ObjectMeta> = HashMap::new();
    let mut indexes: Vec<(String, String, ObjectMeta)> = Vec::new();
    let mut out = PackIndex::default();
    for (rel, meta) in listed {
        out.modified.insert(rel.clone(), meta.clone());
        let Some(name) = rel.rsplit('/').next() else {
            continue;
        };
        match name.strip_suffix(PACK_INDEX_SUFFIX) {
            Some(id) => indexes.push((id.to_string(), rel, meta)),
            None => {
                packs_seen.insert(name.to_string(), meta);
            }
        }
    }
    let mut opened = Vec::new();
    let (reused, indexes): (Vec<_>, Vec<_>) = indexes
        .into_iter()
        .partition(|(id, rel, _)| known.contains_key(rel.as_str()) && packs_seen.contains_key(id));
    for (id, rel, _) in reused {
        if let Some(pack) = known.get(rel.as_str()) {
            opened.push((id, rel, pack.size, pack.entries.clone()));
        }
    }
    let read = futures::stream::iter(indexes)
        .map(|(id, rel, meta)| async move {
            let bytes = repo.get_bytes(&rel).await;
            (id, rel, meta, bytes)
        })
        .buffer_unordered(16);
    futures::pin_mut!(read);
    while let Some((id, rel, meta, bytes)) = read.next().await {
        let Some(bytes) = bytes? else {
            continue;
        };
        if !packs_seen.contains_key(&id) {
            out.orphan_indexes.push((rel, meta));
            continue;
        }
        match open_index(&bytes, &id, ids) {
            Ok(file) => opened.push((id, rel, file.size, file.entries)),
            Err(reason) => out.damaged.push((rel, reason)),
        }
    }
    opened.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, index_path, size, entries) in opened {
        packs_seen.remove(&id);
        let n = out.packs.len();
        for e in &entries {
            out.locations
                .entry(e.object.clone())
                .or_default()
                .push((n, e.offset, e.length));
        }
        out.packs.push(Pack {
            path: pack_path(tenant, &id),
            index_path,
            size,
            entries,
            id,
        });
    }
    // Packs whose index is damaged are not "unindexed": nobody may delete them unseen.
    let damaged_ids: Vec<String> = out
        .damaged
        .iter()
        .filter_map(|(rel, _)| {
            rel.rsplit('/')
                .next()?
                .strip_suffix(PACK_INDEX_SUFFIX)
                .map(str::to_string)
        })
        .collect();
    let mut unindexed: Vec<(String, ObjectMeta)> = packs_seen
        .into_iter()
        .filter(|(id, _)| !damaged_ids.contains(id))
        .map(|(id, meta)| (pack_path(tenant, &id), meta))
        .collect();
    unindexed.sort_by(|a, b| a.0.cmp(&b.0));
    out.unindexed = unindexed;
    out.orphan_indexes.sort_by(|a, b| a.0.cmp(&b.0));
    out.damaged.sort();
    Ok(out)
}

/// [`load`] with identities that may hold the tenant key: when they open it, the pack index
/// key is added to them first. (Without it no index opens, and packed objects are missing.)
pub(crate) async fn load_unlocked(
    repo: &Repository,
    tenant: &str,
    ids: &Identities,
) -> Result<PackIndex> {
    if let Ok(key) = crate::tenant::unlock_tenant_key(repo, tenant, ids).await {
        ids.data_keys().insert(DataKey::pack_index_key(&key));
    }
    load(repo, tenant, ids).await
}

fn open_index(bytes: &[u8], id: &str, ids: &Identities) -> std::result::Result<IndexFile, String> {
    let (_, plain) = decode_bytes(bytes, ids, DecodeDigests::checksummed(None, None))
        .map_err(|e| format!("does not decrypt with the tenant's pack index key ({e:?})"))?;
    let file: IndexFile =
        serde_json::from_slice(&plain).map_err(|e| format!("invalid JSON: {e}"))?;
    if file.format != INDEX_FORMAT {
        return Err(format!("unknown format {:?}", file.format));
    }
    if file.pack != id {
        return Err(format!("describes pack {}, not {id}", file.pack));
    }
    if let Some(e) = file.entries.iter().find(|e| {
        e.offset
            .checked_add(e.length)
            .is_none_or(|end| end > file.size)
    }) {
        return Err(format!("places {} outside the pack", e.object));
    }
    Ok(file)
}

/// The stored bytes of `record`'s object: the copy a pack index places whose bytes are the
/// recorded ones (size and checksum), else the object itself (written alone: a large blob,
/// or a backup from before packs). When no copy matches, the first one found is returned,
/// for the caller to name the mismatch; `None` if nothing holds the object.
pub(crate) async fn read_object(
    repo: &Repository,
    packs: &PackIndex,
    record: &StoredObject,
) -> Result<Option<Bytes>> {
    let mut first = None;
    for (pack, offset, length) in packs.copies(&record.object) {
        let bytes = match repo.get_range(pack, offset..offset + length).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            // A pack cut short (damage, a torn copy) does not hold this copy.
            Err(e) => match repo.head(pack).await? {
                Some(meta) if meta.size < offset + length => continue,
                _ => return Err(e),
            },
        };
        let signed = length == record.stored_size
            && record
                .stored_checksum
                .as_ref()
                .is_none_or(|c| checksum_of(c.algorithm(), &bytes) == *c);
        if signed {
            return Ok(Some(bytes));
        }
        first.get_or_insert(bytes);
    }
    if packs.holds(&record.object) {
        return Ok(first);
    }
    repo.get_bytes(&record.object).await
}

/// The stored sizes each object of the tenant's blob folder has: every copy a pack index
/// places (in a pack that is there and long enough), else its own object's. Readers look
/// in the same order, so a planted object beside a packed one is never what counts.
pub(crate) async fn stored_sizes(
    repo: &Repository,
    tenant: &str,
    packs: &PackIndex,
) -> Result<HashMap<String, Vec<u64>>> {
    let mut sizes: HashMap<String, Vec<u64>> = HashMap::new();
    for (object, copies) in &packs.locations {
        for (pack, offset, length) in copies {
            let whole = packs
                .packs
                .get(*pack)
                .and_then(|p| packs.modified.get(&p.path))
                .map_or(0, |m| m.size);
            if whole >= offset + length {
                sizes.entry(object.clone()).or_default().push(*length);
            }
        }
    }
    for (rel, meta) in repo.list(&blob_dir(tenant)).await? {
        if !packs.holds(&rel) {
            sizes.insert(rel, vec![meta.size]);
        }
    }
    Ok(sizes)
}
