//! The snapshot manifest: a plaintext part anyone with read access can list, and a sealed
//! (age-encrypted) part with everything that could reveal content.
//!
//! `manifest.json` is written just before the signed statement (`statement.json`, the commit
//! point), which vouches for its checksum. Its first line carries a SHA-256 of the rest, so
//! any flipped byte is detected even before the statement is checked.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checksum::Checksum;
use crate::error::{Result, VaultError};
use crate::store::{LockMode, check_name};

/// Names one snapshot: `<tenant>/<workload>/<environment>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub tenant: String,
    pub workload: String,
    pub environment: String,
    /// `YYYYMMDDTHHMMSSZ-<8 hex>`: sorts by time.
    pub id: String,
}

impl SnapshotRef {
    pub(crate) fn dir(&self) -> String {
        format!(
            "{}/{}",
            environment_dir(&self.tenant, &self.workload, &self.environment),
            self.id
        )
    }
    pub(crate) fn manifest_path(&self) -> String {
        format!("{}/manifest.json", self.dir())
    }
    pub(crate) fn dump_path(&self) -> String {
        format!("{}/dump.age", self.dir())
    }
    pub(crate) fn sealed_path(&self) -> String {
        format!("{}/sealed.age", self.dir())
    }
    /// The object list, sealed under the tenant's index key (objects.rs).
    pub(crate) fn objects_path(&self) -> String {
        format!("{}/objects.age", self.dir())
    }
    /// The signed statement: written last, the commit point (statement.rs).
    pub(crate) fn statement_path(&self) -> String {
        format!("{}/statement.json", self.dir())
    }
    /// Every part a snapshot may have, the statement first (deleting it first unmakes the
    /// snapshot at once): what pruning deletes.
    pub(crate) fn part_paths(&self) -> [String; 5] {
        [
            self.statement_path(),
            self.manifest_path(),
            self.sealed_path(),
            self.objects_path(),
            self.dump_path(),
        ]
    }
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.tenant, self.workload, self.environment, self.id
        )
    }
}

impl FromStr for SnapshotRef {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        let [tenant, workload, environment, id] = parts.as_slice() else {
            return Err(VaultError::InvalidInput(format!(
                "snapshot {s:?} must look like tenant/workload/environment/id"
            )));
        };
        check_name("tenant", tenant)?;
        check_name("workload", workload)?;
        check_name("environment", environment)?;
        check_snapshot_id(id)?;
        Ok(SnapshotRef {
            tenant: tenant.to_string(),
            workload: workload.to_string(),
            environment: environment.to_string(),
            id: id.to_string(),
        })
    }
}

pub(crate) fn check_snapshot_id(id: &str) -> Result<()> {
    crate::names::check_component("snapshot id", id)?;
    let ok = id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidInput(format!(
            "{id:?} is not a snapshot id"
        )))
    }
}

pub(crate) fn tenant_dir(tenant: &str) -> String {
    format!("tenants/{tenant}")
}
pub(crate) fn environment_dir(tenant: &str, workload: &str, environment: &str) -> String {
    format!("tenants/{tenant}/snapshots/{workload}/{environment}")
}
/// Where a tenant's data keys are stored (datakey.rs): one small file per backup run.
pub(crate) fn data_key_dir(tenant: &str) -> String {
    format!("tenants/{tenant}/data-keys")
}
pub(crate) fn data_key_path(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/data-keys/{id}.age")
}
pub(crate) fn blob_dir(tenant: &str) -> String {
    format!("tenants/{tenant}/blobs")
}
/// Where a tenant's pack files and their indexes are (pack.rs).
pub(crate) fn pack_dir(tenant: &str) -> String {
    format!("tenants/{tenant}/packs")
}
pub(crate) fn pack_path(tenant: &str, id: &str) -> String {
    format!("tenants/{tenant}/packs/{}/{id}", &id[..2.min(id.len())])
}
/// A pack's index: beside its pack, under the same id.
pub(crate) fn pack_index_path(tenant: &str, id: &str) -> String {
    format!("{}{PACK_INDEX_SUFFIX}", pack_path(tenant, id))
}
pub(crate) const PACK_INDEX_SUFFIX: &str = ".index";
pub(crate) fn blob_path(tenant: &str, name: &str) -> String {
    format!(
        "tenants/{tenant}/blobs/{}/{name}",
        &name[..2.min(name.len())]
    )
}

/// A stored object and its size as stored (after compression and encryption).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// Path relative to the repository root.
    pub object: String,
    pub stored_size: u64,
    /// Checksum of the stored (encrypted) bytes, when it was computed while writing. It says
    /// nothing about the content, so it is safe in the plaintext part. Snapshots written
    /// before BLAKE3 call it `stored_sha256` and hold bare SHA-256 hex.
    #[serde(
        default,
        alias = "stored_sha256",
        skip_serializing_if = "Option::is_none"
    )]
    pub stored_checksum: Option<Checksum>,
}

impl StoredObject {
    /// Whether `bytes` are the stored bytes this record names: its size, and its checksum
    /// (a record without one vouches for nothing).
    pub(crate) fn is_recorded(&self, bytes: &[u8]) -> bool {
        self.stored_size == bytes.len() as u64
            && self
                .stored_checksum
                .as_ref()
                .is_some_and(|c| crate::checksum::checksum_of(c.algorithm(), bytes) == *c)
    }
}

/// Object lock of a snapshot's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLock {
    pub mode: LockMode,
    pub retain_until: jiff::Timestamp,
}

/// Counts about the filestore part of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStats {
    /// Distinct attachments referenced by the database.
    pub referenced: u64,
    /// Blobs stored in this snapshot (referenced minus missing).
    pub stored: u64,
    /// Blobs uploaded by this backup (the others were already in the repository).
    pub uploaded: u64,
    /// Referenced blobs that were missing or corrupted on disk (only with allow_missing_blobs).
    pub missing: u64,
    /// Stored bytes of all blobs of the snapshot.
    pub stored_bytes: u64,
}

/// Counts about the dump part of a snapshot whose object list is sealed (the list itself
/// is in `objects.age`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpStats {
    /// Distinct chunks of the dump.
    pub chunks: u64,
    /// Their stored bytes.
    pub stored_bytes: u64,
}

/// Which kind of server a snapshot's dump and attachment list were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DumpRole {
    /// The read-write server the backup connects to first.
    Primary,
    /// A hot standby, caught up with the primary past the garbage-collection barrier.
    Standby,
}

/// Where a snapshot's dump and attachment list were read from: the role and `host:port`
/// (never credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpSource {
    pub role: DumpRole,
    pub server: String,
}

/// The plaintext part of a manifest: what `list` shows without any key. It reveals names,
/// times, versions and total sizes — never which objects the snapshot holds or their sizes
/// (those are in `objects.age`), content hashes, file names, modules or row counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub format: String,
    pub snapshot: SnapshotRef,
    pub started: jiff::Timestamp,
    pub finished: jiff::Timestamp,
    pub estate_commit: Option<String>,
    pub postgres_version: String,
    pub odoo_version: Option<String>,
    /// Id of the tenant repository key the blob names were made with.
    pub key_id: String,
    /// Recipients the objects are encrypted to (public keys).
    pub recipients: Vec<String>,
    pub object_lock: Option<SnapshotLock>,
    /// Id of the data key the run sealed its objects under (datakey.rs); absent for
    /// snapshots written before data keys, whose objects are encrypted to the recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
    /// The whole dump as one object (`dump.age`): snapshots of manifest format 1, written
    /// before dumps were cut into chunks. Absent in format 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump: Option<StoredObject>,
    /// Format 2, in manifests written before the object list was sealed: the dump's
    /// distinct chunks, in plaintext (now in `objects.age`). Empty when `objects` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dump_chunks: Vec<StoredObject>,
    pub sealed: StoredObject,
    /// The sealed object list (`objects.age`): every blob and dump chunk with its stored
    /// size and checksum. Absent in manifests that carry the lists in plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<StoredObject>,
    /// The dump's chunk count and stored bytes, when the object list is sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_stats: Option<DumpStats>,
    pub blob_stats: BlobStats,
    /// In manifests written before the object list was sealed: every blob object, in
    /// plaintext (now in `objects.age`). Empty when `objects` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<StoredObject>,
    /// Where the dump was read from; absent in manifests written before standbys were
    /// read (those were all dumped from the server the backup connected to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DumpSource>,
}

/// Manifests of snapshots whose dump is cut into chunks.
pub(crate) const MANIFEST_FORMAT: &str = "ward-vault/manifest/2";
/// Manifests of snapshots whose dump is one object; still read.
pub(crate) const MANIFEST_FORMAT_WHOLE_DUMP: &str = "ward-vault/manifest/1";
const HEADER_PREFIX: &str = "ward-vault-manifest/1 sha256:";

impl SnapshotManifest {
    /// Total stored bytes the snapshot references (dump, sealed part and blobs).
    pub fn stored_bytes(&self) -> u64 {
        self.dump_stored_bytes() + self.sealed.stored_size + self.blob_stats.stored_bytes
    }

    /// Stored bytes of the dump: its one object, or its distinct chunks.
    pub fn dump_stored_bytes(&self) -> u64 {
        self.dump.as_ref().map_or(0, |d| d.stored_size)
            + self.dump_stats.as_ref().map_or(0, |d| d.stored_bytes)
            + self.dump_chunks.iter().map(|c| c.stored_size).sum::<u64>()
    }

    /// The distinct chunks of the dump (format 2).
    pub fn dump_chunk_count(&self) -> u64 {
        self.dump_stats
            .as_ref()
            .map_or(self.dump_chunks.len() as u64, |d| d.chunks)
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let body =
            serde_json::to_vec_pretty(self).map_err(|e| VaultError::InvalidInput(e.to_string()))?;
        let mut out =
            format!("{HEADER_PREFIX}{}\n", hex::encode(Sha256::digest(&body))).into_bytes();
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub(crate) fn decode(object: &str, bytes: &[u8]) -> Result<SnapshotManifest> {
        let corrupted = |reason: &str| VaultError::Corrupted {
            object: object.to_string(),
            reason: reason.to_string(),
        };
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| corrupted("no header line"))?;
        let header =
            std::str::from_utf8(&bytes[..newline]).map_err(|_| corrupted("header is not text"))?;
        let expected = header
            .strip_prefix(HEADER_PREFIX)
            .ok_or_else(|| corrupted("unknown manifest header"))?;
        let body = &bytes[newline + 1..];
        if hex::encode(Sha256::digest(body)) != expected {
            return Err(corrupted("checksum mismatch"));
        }
        let manifest: SnapshotManifest =
            serde_json::from_slice(body).map_err(|e| corrupted(&format!("invalid JSON: {e}")))?;
        let whole_dump = match manifest.format.as_str() {
            MANIFEST_FORMAT => false,
            MANIFEST_FORMAT_WHOLE_DUMP => true,
            other => return Err(corrupted(&format!("unsupported format {other:?}"))),
        };
        let chunked = !manifest.dump_chunks.is_empty() || manifest.dump_stats.is_some();
        if whole_dump != manifest.dump.is_some() || (whole_dump && chunked) {
            return Err(corrupted(&format!(
                "a manifest of format {} must name {}",
                manifest.format,
                if whole_dump {
                    "one dump object and no dump chunks"
                } else {
                    "dump chunks and no dump object"
                }
            )));
        }
        manifest
            .check_names()
            .map_err(|reason| corrupted(&reason))?;
        Ok(manifest)
    }

    /// A manifest is input like any other (anyone who can write the bucket can write one):
    /// its snapshot must be a valid reference and every object it names must be one of that
    /// snapshot's own, so that no name read back from it reaches a path or a key unchecked.
    fn check_names(&self) -> std::result::Result<(), String> {
        let s = &self.snapshot;
        check_name("tenant", &s.tenant)
            .and_then(|()| check_name("workload", &s.workload))
            .and_then(|()| check_name("environment", &s.environment))
            .and_then(|()| check_snapshot_id(&s.id))
            .map_err(|e| format!("it names an invalid snapshot: {e}"))?;
        let dump = self
            .dump
            .as_ref()
            .map(|d| ("dump", &d.object, s.dump_path()));
        let objects = self
            .objects
            .as_ref()
            .map(|o| ("object list", &o.object, s.objects_path()));
        for (part, object, expected) in dump.into_iter().chain(objects).chain([(
            "sealed part",
            &self.sealed.object,
            s.sealed_path(),
        )]) {
            if *object != expected {
                return Err(format!(
                    "its {part} object {object:?} is not the snapshot's own ({expected})"
                ));
            }
        }
        if self.objects.is_some() && !(self.blobs.is_empty() && self.dump_chunks.is_empty()) {
            return Err("it has a sealed object list and plaintext lists too".into());
        }
        if self.objects.is_none() != self.dump_stats.is_none() {
            return Err("dump counts are recorded only with a sealed object list".into());
        }
        match self
            .blobs
            .iter()
            .chain(&self.dump_chunks)
            .find(|b| !crate::names::is_blob_object(&s.tenant, &b.object))
        {
            Some(b) => Err(format!(
                "blob object {:?} is not a blob of tenant {}",
                b.object, s.tenant
            )),
            None => Ok(()),
        }
    }
}

/// One referenced attachment in the sealed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentEntry {
    /// Odoo's `ir_attachment.store_fname`: `<sha1[:2]>/<sha1>`.
    pub store_fname: String,
    /// Object holding its bytes (relative to the repository root).
    pub object: String,
    /// Plaintext size in bytes.
    pub size: u64,
}

/// The sealed part of a manifest, encrypted to the recipients: needed to restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedManifest {
    pub snapshot: SnapshotRef,
    /// Checksum and size of the plaintext `pg_dump` custom-format archive (`dump_sha256`,
    /// bare SHA-256 hex, in snapshots written before BLAKE3).
    #[serde(alias = "dump_sha256")]
    pub dump_checksum: Checksum,
    pub dump_size: u64,
    /// Format 2: the dump's chunks in dump order (a chunk may repeat), each with the
    /// checksum and size of its plaintext; empty in format 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dump_chunks: Vec<crate::chunks::DumpChunk>,
    /// `ir_module_module` rows with state `installed`: name → latest_version.
    pub modules: BTreeMap<String, String>,
    /// Exact row counts of the main Odoo tables, in the dump's snapshot.
    pub row_counts: BTreeMap<String, u64>,
    pub attachments: Vec<AttachmentEntry>,
    /// Referenced blobs that could not be stored (only with allow_missing_blobs).
    pub missing: Vec<crate::backup::BlobProblem>,
}

/// A manifest with its sealed part opened.
#[derive(Debug, Clone)]
pub struct SnapshotContents {
    pub manifest: SnapshotManifest,
    pub sealed: SealedManifest,
    /// The blobs and dump chunks the snapshot references, with their signed records.
    pub objects: crate::objects::SnapshotObjects,
    /// Where the tenant's packed objects lie, read when the snapshot was opened.
    pub(crate) packs: std::sync::Arc<crate::pack::PackIndex>,
}

/// Makes a new snapshot id from the start time.
pub(crate) fn new_snapshot_id(started: jiff::Timestamp) -> Result<String> {
    Ok(format!(
        "{}-{}",
        started.strftime("%Y%m%dT%H%M%SZ"),
        random_hex::<4>()?
    ))
}

/// `N` random bytes in hex, for names that must not collide.
pub(crate) fn random_hex<const N: usize>() -> Result<String> {
    let mut rnd = [0u8; N];
    getrandom::fill(&mut rnd)
        .map_err(|e| VaultError::InvalidInput(format!("no system randomness: {e}")))?;
    Ok(hex::encode(rnd))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> SnapshotManifest {
        SnapshotManifest {
            format: MANIFEST_FORMAT_WHOLE_DUMP.into(),
            snapshot: "t/w/e/20260101T000000Z-abcd0123".parse().expect("ref"),
            started: jiff::Timestamp::UNIX_EPOCH,
            finished: jiff::Timestamp::UNIX_EPOCH,
            estate_commit: Some("abc".into()),
            postgres_version: "15.2".into(),
            odoo_version: Some("17.0".into()),
            key_id: "00".into(),
            recipients: vec![],
            object_lock: None,
            data_key: None,
            dump: Some(StoredObject {
                object: "tenants/t/snapshots/w/e/20260101T000000Z-abcd0123/dump.age".into(),
                stored_size: 1,
                stored_checksum: None,
            }),
            dump_chunks: vec![],
            sealed: StoredObject {
                object: "tenants/t/snapshots/w/e/20260101T000000Z-abcd0123/sealed.age".into(),
                stored_size: 1,
                stored_checksum: None,
            },
            objects: None,
            dump_stats: None,
            blob_stats: BlobStats::default(),
            blobs: vec![],
            source: None,
        }
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let bytes = sample().encode().expect("encode");
        assert_eq!(
            SnapshotManifest::decode("m", &bytes).expect("decode"),
            sample()
        );
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(
                SnapshotManifest::decode("m", &b).is_err(),
                "flip at {i} undetected"
            );
        }
    }

    #[test]
    fn manifests_written_before_blake3_still_read() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let legacy: StoredObject = serde_json::from_str(&format!(
            r#"{{"object": "d", "stored_size": 1, "stored_sha256": "{sha}"}}"#
        ))
        .expect("legacy stored object");
        let checksum = legacy.stored_checksum.expect("checksum");
        assert_eq!(checksum.algorithm(), crate::ChecksumAlgorithm::Sha256);
        assert_eq!(checksum.hex(), sha);
        // What is written now names its algorithm.
        let now = serde_json::to_string(&StoredObject {
            stored_checksum: Some(format!("blake3:{sha}").parse().expect("blake3")),
            ..legacy
        })
        .expect("json");
        assert!(
            now.contains(&format!(r#""stored_checksum":"blake3:{sha}""#)),
            "{now}"
        );
    }

    /// A manifest is attacker-writable: one whose snapshot or objects point anywhere but at
    /// its own snapshot's objects and its tenant's blobs is corrupted, whatever its checksum.
    #[test]
    fn a_manifest_naming_objects_outside_its_snapshot_is_corrupted() {
        let n = "ab".repeat(32);
        type Change = Box<dyn Fn(&mut SnapshotManifest)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "another tenant's dump",
                Box::new(|m| {
                    whole_dump(m).object =
                        "tenants/u/snapshots/w/e/20260101T000000Z-abcd0123/dump.age".into()
                }),
            ),
            (
                "a dump up the tree",
                Box::new(|m| whole_dump(m).object = "../../etc/passwd".into()),
            ),
            (
                "the dump as sealed part",
                Box::new(|m| m.sealed.object = whole_dump(m).object.clone()),
            ),
            (
                "a blob up the tree",
                Box::new(|m| {
                    m.blobs.push(StoredObject {
                        object: "tenants/t/blobs/ab/../../../../etc/passwd".into(),
                        stored_size: 1,
                        stored_checksum: None,
                    })
                }),
            ),
            ("another tenant's blob", {
                let n = n.clone();
                Box::new(move |m| {
                    m.blobs.push(StoredObject {
                        object: format!("tenants/u/blobs/ab/{n}"),
                        stored_size: 1,
                        stored_checksum: None,
                    })
                })
            }),
            (
                "a tenant path",
                Box::new(|m| m.snapshot.tenant = "../x".into()),
            ),
            ("an id of dots", Box::new(|m| m.snapshot.id = "..".into())),
            ("another tenant's dump chunk", {
                let n = n.clone();
                Box::new(move |m| {
                    *m = chunked();
                    m.dump_chunks[0].object = format!("tenants/u/blobs/ab/{n}");
                })
            }),
            (
                "format 2 with a whole dump",
                Box::new(|m| m.format = MANIFEST_FORMAT.into()),
            ),
            (
                "format 1 with dump chunks",
                Box::new(|m| {
                    m.format = MANIFEST_FORMAT_WHOLE_DUMP.into();
                    m.dump_chunks = chunked().dump_chunks;
                }),
            ),
            (
                "format 2 without dump chunks or dump",
                Box::new(|m| {
                    *m = chunked();
                    m.dump_chunks.clear();
                    m.dump = Some(sample().dump.expect("dump"));
                }),
            ),
        ];
        for (what, change) in cases {
            let mut m = sample();
            change(&mut m);
            let bytes = m.encode().expect("encode");
            assert!(
                matches!(
                    SnapshotManifest::decode("m", &bytes),
                    Err(VaultError::Corrupted { .. })
                ),
                "{what} was accepted"
            );
        }
        let mut m = sample();
        m.blobs.push(StoredObject {
            object: format!("tenants/t/blobs/ab/{n}"),
            stored_size: 1,
            stored_checksum: None,
        });
        let bytes = m.encode().expect("encode");
        assert_eq!(SnapshotManifest::decode("m", &bytes).expect("decode"), m);
        let m = chunked();
        let bytes = m.encode().expect("encode");
        assert_eq!(SnapshotManifest::decode("m", &bytes).expect("decode"), m);
    }

    fn whole_dump(m: &mut SnapshotManifest) -> &mut StoredObject {
        m.dump.as_mut().expect("the sample has a whole dump")
    }

    /// A format-2 manifest: its dump is one chunk in the tenant's blob folder.
    fn chunked() -> SnapshotManifest {
        SnapshotManifest {
            format: MANIFEST_FORMAT.into(),
            dump: None,
            dump_chunks: vec![StoredObject {
                object: format!("tenants/t/blobs/cd/{}", "cd".repeat(32)),
                stored_size: 1,
                stored_checksum: None,
            }],
            ..sample()
        }
    }

    #[test]
    fn snapshot_refs_reject_path_tricks() {
        assert!("t/w/e/../x".parse::<SnapshotRef>().is_err());
        assert!("t/w/../id".parse::<SnapshotRef>().is_err());
        assert!("T/w/e/id".parse::<SnapshotRef>().is_err());
        assert!(
            "t/w/e/20260101T000000Z-abcd0123"
                .parse::<SnapshotRef>()
                .is_ok()
        );
    }
}
