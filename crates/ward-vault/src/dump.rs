//! A snapshot's dump read back, verified: one spooled object checked against the signed
//! statement (format 1), or its chunks checked one by one against the signed index and the
//! sealed list (format 2). Restore, the Odoo zip and verify read dumps only through this.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::checksum::Checksum;
use crate::chunks::ChunkedDumpReader;
use crate::error::{Result, VaultError};
use crate::keys::Identities;
use crate::manifest::SnapshotContents;
use crate::pipeline::{DecodeDigests, DecodeError, decode_into};
use crate::progress::{Phase, Progress};
use crate::restore::stored_object_error;
use crate::spool::DumpSpool;
use crate::store::Repository;

/// A dump whose bytes are checked before they are handed on.
pub(crate) enum VerifiedDump {
    /// Format 1: the stored object, spooled and checked; decrypted while copied.
    Whole {
        spool: DumpSpool,
        object: String,
        checksum: Checksum,
    },
    /// Format 2: chunks fetched ahead, each checked before it is read.
    Chunked(Box<ChunkedDumpReader>),
}

/// Why copying a dump stopped.
#[derive(Debug)]
pub(crate) enum DumpCopyError {
    /// Writing the output failed (a consumer such as pg_restore that stopped reading).
    Write(io::Error),
    /// The dump itself failed its check or could not be read.
    Dump(VaultError),
}

impl VerifiedDump {
    /// Opens the dump of `contents`; format 1 dumps are spooled under `spool_parent`. Call
    /// within the runtime.
    pub(crate) async fn open(
        repo: &Repository,
        contents: &SnapshotContents,
        ids: &Identities,
        spool_parent: Option<&Path>,
    ) -> Result<VerifiedDump> {
        match &contents.manifest.dump {
            Some(whole) => Ok(VerifiedDump::Whole {
                spool: DumpSpool::fetch(repo, whole, spool_parent).await?,
                object: whole.object.clone(),
                checksum: contents.sealed.dump_checksum.clone(),
            }),
            None => Ok(VerifiedDump::Chunked(Box::new(ChunkedDumpReader::open(
                repo, contents, ids,
            )))),
        }
    }

    /// Copies the verified plaintext into `out` on this (blocking) thread and returns its
    /// size. A whole dump's checksum is compared at its end, after its stored bytes were.
    pub(crate) fn copy_to(
        self,
        ids: &Identities,
        out: &mut dyn Write,
        progress: Option<(&dyn Progress, Phase)>,
    ) -> std::result::Result<u64, DumpCopyError> {
        match self {
            VerifiedDump::Whole {
                spool,
                object,
                checksum,
            } => {
                let reader = spool.open().map_err(DumpCopyError::Dump)?;
                let digests = DecodeDigests::checksummed(Some(&checksum), None);
                let mut out = out;
                let decoded =
                    decode_into(reader, ids, digests, &mut out, progress).map_err(|e| match e {
                        DecodeError::Io(e) => DumpCopyError::Write(e),
                        other => DumpCopyError::Dump(stored_object_error(other, &object)),
                    })?;
                if decoded.plain_digest != checksum.to_string() {
                    return Err(DumpCopyError::Dump(VaultError::Corrupted {
                        object,
                        reason: "the decrypted dump does not match the manifest's checksum".into(),
                    }));
                }
                Ok(decoded.plain_size)
            }
            VerifiedDump::Chunked(mut reader) => {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) => return Ok(total),
                        Ok(n) => n,
                        Err(e) => {
                            return Err(DumpCopyError::Dump(reader.error().unwrap_or(
                                VaultError::Io {
                                    what: "reading the dump's chunks",
                                    path: "dump".into(),
                                    source: e,
                                },
                            )));
                        }
                    };
                    out.write_all(&buf[..n]).map_err(DumpCopyError::Write)?;
                    total += n as u64;
                    if let Some((progress, phase)) = progress {
                        progress.advance(phase, n as u64);
                    }
                }
            }
        }
    }
}

impl DumpCopyError {
    /// The error to report when the consumer's own failure is not known to explain it.
    pub(crate) fn into_vault(self, what: &'static str) -> VaultError {
        match self {
            DumpCopyError::Write(e) => VaultError::Io {
                what,
                path: "dump".into(),
                source: e,
            },
            DumpCopyError::Dump(e) => e,
        }
    }
}
