//! `verify`: checks that a snapshot's objects exist with their recorded sizes, or, reading
//! every byte, that they decrypt, decompress and hash to what the manifest says.
//!
//! Problems are collected per object, so one run names every bad object.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::catalog::{open_snapshot, read_manifest};
use crate::error::{Result, VaultError};
use crate::keys::{Identities, RepositoryKey};
use crate::manifest::{SnapshotContents, SnapshotManifest, SnapshotRef, StoredObject};
use crate::names::sha1_of_store_fname;
use crate::pipeline::{DecodeDigests, DecodeError, StreamReader, decode_bytes, decode_into};
use crate::progress::{Phase, Progress};
use crate::statement::TrustedKeys;
use crate::store::Repository;

/// How deep to check.
#[derive(Debug, Clone, Copy)]
pub enum VerifyDepth<'a> {
    /// Every object exists with its recorded size; a blob with the size recorded by the
    /// backup that wrote it (not a later one that reused it). Needs no key, and without
    /// one, objects in packs cannot be found: they are counted as unlocated.
    Metadata,
    /// [`VerifyDepth::Metadata`], with packed objects found through the pack indexes, which
    /// the tenant key opens: every object is checked.
    Located(&'a RepositoryKey),
    /// Every byte is downloaded, decrypted and decompressed; every blob's sha1 and the
    /// dump's SHA-256 are checked.
    ReadData(&'a Identities),
}

/// One bad object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFault {
    /// Object path relative to the repository root.
    pub object: String,
    pub problem: String,
}

/// What verify found.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub snapshot: SnapshotRef,
    pub read_data: bool,
    pub objects_checked: u64,
    pub stored_bytes_read: u64,
    pub faults: Vec<ObjectFault>,
    /// Objects not standing alone, checked without the tenant key: they are in packs,
    /// whose indexes it takes to find them.
    #[serde(default)]
    pub objects_unlocated: u64,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.faults.is_empty()
    }
}

/// Verifies one committed snapshot. A manifest that cannot be read is reported as a fault
/// of the manifest object; a snapshot that does not exist is an error.
#[tracing::instrument(name = "vault.verify", skip_all, fields(snapshot = %snapshot), err(Display))]
pub async fn verify(
    repo: &Repository,
    snapshot: &SnapshotRef,
    keys: &TrustedKeys,
    depth: VerifyDepth<'_>,
    progress: Arc<dyn Progress>,
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        snapshot: snapshot.clone(),
        read_data: matches!(depth, VerifyDepth::ReadData(_)),
        objects_checked: 1,
        stored_bytes_read: 0,
        faults: Vec::new(),
        objects_unlocated: 0,
    };
    // The statement first: an unsigned or unverifiable snapshot is a fault of its statement,
    // and nothing else of it is read.
    let manifest = match read_manifest(repo, snapshot, keys).await {
        Ok(m) => m,
        Err(e @ (VaultError::Unsigned { .. } | VaultError::Unverified { .. })) => {
            report.faults.push(ObjectFault {
                object: snapshot.statement_path(),
                problem: match e {
                    VaultError::Unverified { reason, .. } => {
                        format!("the snapshot does not verify: {reason}")
                    }
                    _ => "missing: the snapshot is not signed (format 1, forged, or its backup crashed before the commit point)".into(),
                },
            });
            return Ok(report);
        }
        Err(VaultError::Corrupted { object, reason }) => {
            report.faults.push(ObjectFault {
                object,
                problem: reason,
            });
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    let total = 2 + manifest.blob_stats.stored + manifest.dump_chunk_count();
    progress.start(Phase::Verify, Some(total));
    match depth {
        VerifyDepth::Metadata => {
            verify_metadata(repo, &manifest, keys, None, &mut report, progress.as_ref()).await?
        }
        VerifyDepth::Located(key) => {
            verify_metadata(
                repo,
                &manifest,
                keys,
                Some(key),
                &mut report,
                progress.as_ref(),
            )
            .await?
        }
        VerifyDepth::ReadData(ids) => {
            verify_data(repo, &manifest, keys, ids, &mut report, progress.clone()).await?
        }
    }
    progress.finish(Phase::Verify);
    report.faults.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(report)
}

async fn verify_metadata(
    repo: &Repository,
    manifest: &SnapshotManifest,
    keys: &TrustedKeys,
    tenant_key: Option<&RepositoryKey>,
    report: &mut VerifyReport,
    progress: &dyn Progress,
) -> Result<()> {
    let tenant = &manifest.snapshot.tenant;
    let index_ids = tenant_key.map(crate::pack::index_identities);
    let packs = match &index_ids {
        Some(ids) => {
            let index = crate::pack::load(repo, tenant, ids).await?;
            for (object, reason) in &index.damaged {
                report.faults.push(ObjectFault {
                    object: object.clone(),
                    problem: format!(
                        "a pack index {reason}: the objects it places cannot be found"
                    ),
                });
            }
            Some(index)
        }
        None => None,
    };
    let has_packs = !repo
        .list(&crate::manifest::pack_dir(tenant))
        .await?
        .is_empty();
    // Without its run's data key nothing the run sealed decrypts, whoever holds a key.
    if let Some(id) = &manifest.data_key {
        let object = crate::manifest::data_key_path(&manifest.snapshot.tenant, id);
        if repo.head(&object).await?.is_none() {
            report.faults.push(ObjectFault {
                object,
                problem: "missing: the data key of the run that wrote the snapshot".into(),
            });
        }
    }
    // A sealed object list opens only with the index key: without it the snapshot's blobs
    // and chunks are not even known, only counted (as unlocated).
    let shared = match crate::objects::read_if_key(repo, manifest, index_ids.as_ref()).await {
        Ok(Some(objects)) => Some(objects),
        Ok(None) => {
            report.objects_unlocated += manifest.blob_stats.stored + manifest.dump_chunk_count();
            None
        }
        Err(VaultError::Corrupted { object, reason }) => {
            report.faults.push(ObjectFault {
                object,
                problem: reason,
            });
            None
        }
        Err(VaultError::WrongKey { object }) => {
            report.faults.push(ObjectFault {
                object,
                problem: "cannot be decrypted with the tenant's index key (damaged)".into(),
            });
            None
        }
        Err(e) => return Err(e),
    };
    let objects: Vec<_> = manifest
        .dump
        .iter()
        .chain(&manifest.objects)
        .chain([&manifest.sealed])
        .chain(shared.iter().flat_map(|o| o.shared()))
        .cloned()
        .collect();
    // A blob is held to what the backup that wrote it recorded: a snapshot that reused
    // damaged bytes (and recorded their size) must not pass, and one whose blob a later
    // backup wrote again, whole, must.
    let written = crate::catalog::blob_write_records(
        repo,
        &manifest.snapshot.tenant,
        keys,
        index_ids.as_ref(),
    )
    .await?;
    let objects: Vec<(StoredObject, Option<SnapshotRef>)> = objects
        .into_iter()
        .map(|o| match written.get(&o.object) {
            Some((record, by)) => (record.clone(), Some(by.clone())),
            None => (o, None),
        })
        .collect();
    // A packed object is where its index places it, with the recorded length, in a pack
    // that is there and long enough; each pack is looked at once.
    let located: HashMap<String, (String, u64, u64)> = objects
        .iter()
        .filter_map(|(o, _)| {
            let packs = packs.as_ref()?;
            let (pack, offset, length) = packs
                .copies(&o.object)
                .find(|(_, _, length)| *length == o.stored_size)
                .or_else(|| packs.locate(&o.object))?;
            Some((
                o.object.clone(),
                (pack.to_string(), offset + length, length),
            ))
        })
        .collect();
    let pack_sizes: HashMap<String, Option<u64>> = futures::stream::iter(
        located
            .values()
            .map(|(p, _, _)| p.clone())
            .collect::<std::collections::BTreeSet<_>>(),
    )
    .map(|pack| async move {
        let head = repo.head(&pack).await;
        (pack, head)
    })
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .map(|(pack, head)| Ok((pack, head?.map(|m| m.size))))
    .collect::<Result<_>>()?;
    let heads = futures::stream::iter(objects)
        .map(|(o, by)| {
            let located = located.get(&o.object).cloned();
            let pack_sizes = &pack_sizes;
            async move {
                let head = match located {
                    Some((pack, end, length)) => {
                        Ok(match pack_sizes.get(&pack).copied().flatten() {
                            Some(size) if size >= end => Some(Found::Packed(length)),
                            Some(_) => Some(Found::ShortPack(pack)),
                            None => Some(Found::PackGone(pack)),
                        })
                    }
                    None => repo.head(&o.object).await.map(|m| m.map(Found::Alone)),
                };
                (o, by, head)
            }
        })
        .buffer_unordered(16);
    futures::pin_mut!(heads);
    while let Some((o, by, head)) = heads.next().await {
        report.objects_checked += 1;
        progress.advance(Phase::Verify, 1);
        let meta = match head? {
            None if packs.is_none()
                && has_packs
                && o.object != manifest.sealed.object
                && manifest
                    .objects
                    .as_ref()
                    .is_none_or(|p| p.object != o.object) =>
            {
                report.objects_checked -= 1;
                report.objects_unlocated += 1;
                continue;
            }
            None => None,
            Some(Found::Packed(length)) if length == o.stored_size => continue,
            Some(Found::Packed(length)) => {
                report.faults.push(ObjectFault {
                    object: o.object.clone(),
                    problem: format!(
                        "its pack index gives it {length} bytes, not the recorded {}",
                        o.stored_size
                    ),
                });
                continue;
            }
            Some(Found::PackGone(pack)) => {
                report.faults.push(ObjectFault {
                    object: o.object.clone(),
                    problem: format!("missing: its pack {pack} is gone"),
                });
                continue;
            }
            Some(Found::ShortPack(pack)) => {
                report.faults.push(ObjectFault {
                    object: o.object.clone(),
                    problem: format!("missing: its pack {pack} is shorter than its index says"),
                });
                continue;
            }
            Some(Found::Alone(meta)) => Some(meta),
        };
        match meta {
            None => report.faults.push(ObjectFault {
                object: o.object.clone(),
                problem: "missing".into(),
            }),
            Some(meta) if meta.size != o.stored_size => report.faults.push(ObjectFault {
                object: o.object.clone(),
                problem: match by {
                    Some(by) => format!(
                        "size {} differs from the recorded {} (recorded when snapshot {by} wrote it)",
                        meta.size, o.stored_size
                    ),
                    None => format!(
                        "size {} differs from the recorded {}",
                        meta.size, o.stored_size
                    ),
                },
            }),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Where metadata verification found an object.
enum Found {
    Alone(object_store::ObjectMeta),
    /// In a pack that is there, with this length.
    Packed(u64),
    PackGone(String),
    ShortPack(String),
}

/// Reads every byte of a snapshot the caller vouches for itself (the migration, before it
/// signs one): `verify --read-data` of `manifest` as given, without its statement.
pub(crate) async fn verify_manifest_data(
    repo: &Repository,
    manifest: &SnapshotManifest,
    keys: &TrustedKeys,
    ids: &Identities,
    progress: Arc<dyn Progress>,
) -> Result<VerifyReport> {
    let mut report = VerifyReport {
        snapshot: manifest.snapshot.clone(),
        read_data: true,
        objects_checked: 0,
        stored_bytes_read: 0,
        faults: Vec::new(),
        objects_unlocated: 0,
    };
    verify_data(repo, manifest, keys, ids, &mut report, progress).await?;
    Ok(report)
}

async fn verify_data(
    repo: &Repository,
    manifest: &SnapshotManifest,
    keys: &TrustedKeys,
    ids: &Identities,
    report: &mut VerifyReport,
    progress: Arc<dyn Progress>,
) -> Result<()> {
    // Whether these identities hold the tenant key tells a wrong key from a damaged header.
    let key_opens = crate::tenant::unlock_tenant_key(repo, &manifest.snapshot.tenant, ids)
        .await
        .is_ok();
    report.objects_checked += 1;
    let contents = match open_snapshot(repo, manifest, ids).await {
        Ok(c) => Some(c),
        Err(VaultError::WrongKey { object }) if key_opens => {
            report.faults.push(ObjectFault {
                object,
                problem: "cannot be decrypted (damaged header)".into(),
            });
            None
        }
        Err(e @ VaultError::WrongKey { .. }) => return Err(e),
        Err(VaultError::Corrupted { object, reason }) => {
            report.faults.push(ObjectFault {
                object,
                problem: reason,
            });
            None
        }
        Err(e) => return Err(e),
    };
    progress.advance(Phase::Verify, 1);

    // A format-1 dump: one object, streamed, never held whole. (A format-2 dump's chunks
    // are checked with the blobs below.)
    if let Some(whole) = &manifest.dump {
        verify_whole_dump(repo, whole, contents.as_ref(), ids, key_opens, report).await?;
        progress.advance(Phase::Verify, 1);
    }

    // Blobs and dump chunks: the public list says what must exist; the sealed list says
    // what each must hash to (a blob its sha1, a chunk its checksum).
    let mut expected_plain: std::collections::HashMap<String, String> = contents
        .as_ref()
        .map(|c| {
            c.sealed
                .attachments
                .iter()
                .filter_map(|a| {
                    Some((
                        a.object.clone(),
                        sha1_of_store_fname(&a.store_fname)?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut chunk_checksums = std::collections::HashMap::new();
    if let Some(c) = &contents {
        let public: std::collections::HashSet<&str> = c
            .objects
            .dump_chunks
            .iter()
            .map(|b| b.object.as_str())
            .collect();
        let mut sealed_size = 0u64;
        for chunk in &c.sealed.dump_chunks {
            sealed_size += chunk.size;
            if !public.contains(chunk.object.as_str()) {
                report.faults.push(ObjectFault {
                    object: chunk.object.clone(),
                    problem: "a dump chunk is not in the snapshot's object list".into(),
                });
            }
            chunk_checksums.insert(chunk.object.clone(), chunk.checksum.clone());
            expected_plain.insert(chunk.object.clone(), chunk.checksum.to_string());
        }
        if manifest.dump.is_none() && sealed_size != c.sealed.dump_size {
            report.faults.push(ObjectFault {
                object: manifest.sealed.object.clone(),
                problem: format!(
                    "its dump chunks add up to {sealed_size} bytes, not the dump's {}",
                    c.sealed.dump_size
                ),
            });
        }
    }
    if let Some(c) = &contents {
        let public: std::collections::HashSet<&str> =
            c.objects.blobs.iter().map(|b| b.object.as_str()).collect();
        for a in &c.sealed.attachments {
            if !public.contains(a.object.as_str()) {
                report.faults.push(ObjectFault {
                    object: a.object.clone(),
                    problem: format!(
                        "attachment {} is not in the snapshot's object list",
                        a.store_fname
                    ),
                });
            }
        }
    }
    let packs = match &contents {
        Some(c) => c.packs.clone(),
        None => Arc::new(crate::pack::load_unlocked(repo, &manifest.snapshot.tenant, ids).await?),
    };
    for (object, reason) in &packs.damaged {
        report.faults.push(ObjectFault {
            object: object.clone(),
            problem: format!("a pack index {reason}: the objects it places cannot be found"),
        });
    }
    let written =
        crate::catalog::blob_write_records(repo, &manifest.snapshot.tenant, keys, Some(ids))
            .await?;
    let listed = match &contents {
        Some(c) => c.objects.clone(),
        // The sealed part did not open (a fault already): check what the list names.
        None => match crate::objects::read(repo, manifest, ids).await {
            Ok(objects) => objects,
            Err(VaultError::Corrupted { .. } | VaultError::WrongKey { .. }) => Default::default(),
            Err(e) => return Err(e),
        },
    };
    let blobs: Vec<StoredObject> = listed
        .shared()
        .map(|o| {
            written
                .get(&o.object)
                .map_or_else(|| o.clone(), |(w, _)| w.clone())
        })
        .collect();
    let checks = futures::stream::iter(blobs)
        .map(|o| {
            let expected = expected_plain.get(&o.object).cloned();
            let ids = ids.clone();
            let digests = match chunk_checksums.get(&o.object) {
                Some(checksum) => {
                    DecodeDigests::checksummed(Some(checksum), o.stored_checksum.as_ref())
                }
                None => DecodeDigests::blob(o.stored_checksum.as_ref()),
            };
            let packs = packs.clone();
            async move {
                let bytes = match crate::pack::read_object(repo, &packs, &o).await {
                    Ok(Some(b)) => b,
                    Ok(None) => return (o, expected, Ok(None)),
                    Err(e) => return (o, expected, Err(e)),
                };
                let len = bytes.len() as u64;
                let decoded = tokio::task::spawn_blocking(move || {
                    decode_bytes(&bytes, &ids, digests).map(|(d, _)| d)
                })
                .await
                .map_err(|e| VaultError::InvalidInput(format!("verify task: {e}")));
                (o, expected, decoded.map(|d| Some((len, d))))
            }
        })
        .buffer_unordered(8);
    futures::pin_mut!(checks);
    while let Some((o, expected, bytes)) = checks.next().await {
        report.objects_checked += 1;
        progress.advance(Phase::Verify, 1);
        let Some((len, decoded)) = bytes? else {
            report.faults.push(ObjectFault {
                object: o.object.clone(),
                problem: "missing".into(),
            });
            continue;
        };
        report.stored_bytes_read += len;
        let mut problems = Vec::new();
        if len != o.stored_size {
            problems.push(format!(
                "size {len} differs from the recorded {}",
                o.stored_size
            ));
        }
        match decoded {
            Ok(d) => {
                if o.stored_checksum.as_ref().is_some_and(|s| *s != d.stored) {
                    problems.push("stored checksum differs from the manifest".into());
                }
                if let Some(digest) = &expected
                    && *digest != d.plain_digest
                {
                    problems.push(format!(
                        "content hashes to {} instead of its recorded {}",
                        d.plain_digest,
                        if chunk_checksums.contains_key(&o.object) {
                            "checksum"
                        } else {
                            "sha1"
                        }
                    ));
                }
            }
            Err(e) => problems.push(describe_decode(e, key_opens)),
        }
        if !problems.is_empty() {
            report.faults.push(ObjectFault {
                object: o.object.clone(),
                problem: problems.join("; "),
            });
        }
    }
    Ok(())
}

fn describe_decode(e: DecodeError, key_opens: bool) -> String {
    match e {
        DecodeError::WrongKey if key_opens => "cannot be decrypted (damaged header)".into(),
        DecodeError::WrongKey => "cannot be decrypted with the given identity".into(),
        DecodeError::Corrupt(reason) => reason,
        DecodeError::Io(e) => format!("read failed: {e}"),
    }
}

/// Checks a format-1 dump object: its stored size and checksum, and, with the sealed part,
/// its plaintext.
async fn verify_whole_dump(
    repo: &Repository,
    whole: &StoredObject,
    contents: Option<&SnapshotContents>,
    ids: &Identities,
    key_opens: bool,
    report: &mut VerifyReport,
) -> Result<()> {
    report.objects_checked += 1;
    let dump_object = whole.object.clone();
    match repo.get_stream(&dump_object).await? {
        None => report.faults.push(ObjectFault {
            object: dump_object.clone(),
            problem: "missing".into(),
        }),
        Some(stream) => {
            let reader = StreamReader::spawn(stream);
            let ids_owned = ids.clone();
            let digests = DecodeDigests::checksummed(
                contents.map(|c| &c.sealed.dump_checksum),
                whole.stored_checksum.as_ref(),
            );
            // decode_into blocks on the channel; run it where blocking is allowed.
            let decoded = tokio::task::spawn_blocking(move || {
                decode_into(reader, &ids_owned, digests, &mut std::io::sink(), None)
            })
            .await
            .map_err(|e| VaultError::InvalidInput(format!("verify task: {e}")))?;
            match decoded {
                Ok(d) => {
                    report.stored_bytes_read += d.stored_size;
                    let mut problems = Vec::new();
                    if d.stored_size != whole.stored_size {
                        problems.push(format!(
                            "stored size {} differs from the recorded {}",
                            d.stored_size, whole.stored_size
                        ));
                    }
                    if whole
                        .stored_checksum
                        .as_ref()
                        .is_some_and(|s| *s != d.stored)
                    {
                        problems.push("stored checksum differs from the manifest".to_string());
                    }
                    if let Some(c) = contents
                        && (c.sealed.dump_checksum.to_string() != d.plain_digest
                            || c.sealed.dump_size != d.plain_size)
                    {
                        problems.push(
                            "decrypted dump differs from the manifest's checksum".to_string(),
                        );
                    }
                    if !problems.is_empty() {
                        report.faults.push(ObjectFault {
                            object: dump_object.clone(),
                            problem: problems.join("; "),
                        });
                    }
                }
                Err(e) => report.faults.push(ObjectFault {
                    object: dump_object.clone(),
                    problem: describe_decode(e, key_opens),
                }),
            }
        }
    }
    Ok(())
}
