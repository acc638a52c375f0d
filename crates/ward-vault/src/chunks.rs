//! Deduplicated dumps: a backup cuts `pg_dump`'s stream into content-defined chunks
//! (FastCDC, its gear seeded from the tenant key) and stores each chunk once per tenant beside
//! the filestore blobs; a reader fetches them in dump order and checks every one against the
//! snapshot's signed index and sealed list before any of its bytes go further.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use fastcdc::v2020::{Normalization, StreamCDC};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumHasher, checksum_of};
use crate::error::{Result, VaultError};
use crate::keys::{Identities, Recipients, RepositoryKey};
use crate::manifest::{SnapshotContents, StoredObject, blob_path};
use crate::pipeline::{BlobEncoder, DecodeDigests, decode_bytes};
use crate::progress::{Phase, Progress};
use crate::restore::stored_object_error;
use crate::store::Repository;

/// Chunk sizes: a 256 KiB average kept the new bytes after 1% of rows appended to a
/// pgbench database at about 2% (1 MiB: 5%), and bounds memory to a few MiB per worker.
pub(crate) const MIN_CHUNK: usize = 64 * 1024;
pub(crate) const AVG_CHUNK: usize = 256 * 1024;
pub(crate) const MAX_CHUNK: usize = 1024 * 1024;
/// Chunks fetched ahead of the one being read.
const PREFETCH: usize = 8;

/// One chunk of a dump, in dump order: its object and the checksum and size of its
/// plaintext (the sealed part holds these; they would confirm a guessed dump).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpChunk {
    pub object: String,
    pub size: u64,
    pub checksum: Checksum,
}

/// What cutting and storing a dump produced.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDump {
    /// Every chunk in dump order.
    pub chunks: Vec<DumpChunk>,
    /// The distinct chunk objects, sorted; a reused one has no stored checksum yet (its
    /// verified write record supplies it).
    pub objects: Vec<StoredObject>,
    pub plain_size: u64,
    pub plain_checksum: Option<Checksum>,
    pub uploaded: u64,
    pub uploaded_bytes: u64,
}

/// Where one backup's chunks go.
pub(crate) struct ChunkSink {
    pub tenant: String,
    pub key: RepositoryKey,
    /// The run's recipients (one ephemeral X25519 key for every chunk and blob).
    pub recipients: Recipients,
    /// Chunk names already stored at the size a verified snapshot recorded.
    pub existing: HashMap<String, u64>,
    /// The run's packs, which every chunk goes into.
    pub packs: Arc<crate::pack::PackWriter>,
    pub workers: usize,
    pub runtime: tokio::runtime::Handle,
}

/// Cuts `source` into chunks and stores those the tenant lacks, on this (blocking) thread
/// and `sink.workers` encoder threads. Memory stays at a few chunks per worker whatever
/// the dump's size. A failed read of `source` (pg_dump failing) is the error returned.
pub(crate) fn store_chunks<R: Read>(
    source: R,
    sink: &ChunkSink,
    progress: &dyn Progress,
) -> Result<ChunkedDump> {
    let workers = sink.workers.max(1);
    let (tx, rx) = mpsc::sync_channel::<(String, Vec<u8>, Checksum)>(workers * 2);
    let rx = Mutex::new(rx);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<VaultError>> = Mutex::new(None);
    let stored: Mutex<Vec<StoredObject>> = Mutex::new(Vec::new());
    let fail = |e: VaultError| {
        failed.store(true, Ordering::SeqCst);
        if let Ok(mut slot) = first_error.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
    };
    let mut out = ChunkedDump::default();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| encode_worker(sink, &rx, &failed, &stored, &fail));
        }
        let mut whole = ChecksumHasher::new(ChecksumAlgorithm::Blake3);
        let mut queued: HashSet<String> = HashSet::new();
        let seed = sink.key.chunker_seed();
        let cuts = StreamCDC::with_level_and_seed(
            source,
            MIN_CHUNK,
            AVG_CHUNK,
            MAX_CHUNK,
            Normalization::Level1,
            seed,
        );
        for cut in cuts {
            if failed.load(Ordering::SeqCst) {
                break;
            }
            let data = match cut {
                Ok(c) => c.data,
                Err(e) => {
                    fail(VaultError::Io {
                        what: "reading pg_dump's output",
                        path: "pg_dump".into(),
                        source: match e {
                            fastcdc::v2020::Error::IoError(e) => e,
                            other => io::Error::other(other.to_string()),
                        },
                    });
                    break;
                }
            };
            whole.update(&data);
            let checksum = checksum_of(ChecksumAlgorithm::Blake3, &data);
            let name = sink.key.chunk_name(&checksum);
            let object = blob_path(&sink.tenant, &name);
            out.plain_size += data.len() as u64;
            progress.advance(Phase::Dump, data.len() as u64);
            out.chunks.push(DumpChunk {
                object: object.clone(),
                size: data.len() as u64,
                checksum: checksum.clone(),
            });
            if !queued.insert(object.clone()) {
                continue;
            }
            if let Some(size) = sink.existing.get(&name) {
                out.objects.push(StoredObject {
                    object,
                    stored_size: *size,
                    stored_checksum: None,
                });
            } else if tx.send((object, data, checksum)).is_err() {
                break;
            }
        }
        drop(tx);
        out.plain_checksum = Some(whole.finish());
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let uploaded = stored.into_inner().unwrap_or_default();
    out.uploaded = uploaded.len() as u64;
    out.uploaded_bytes = uploaded.iter().map(|o| o.stored_size).sum();
    out.objects.extend(uploaded);
    out.objects.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(out)
}

/// One encoder thread: compresses, encrypts and writes the chunks it takes.
fn encode_worker(
    sink: &ChunkSink,
    rx: &Mutex<mpsc::Receiver<(String, Vec<u8>, Checksum)>>,
    failed: &AtomicBool,
    stored: &Mutex<Vec<StoredObject>>,
    fail: &(dyn Fn(VaultError) + Sync),
) {
    let mut encoder = match BlobEncoder::new() {
        Ok(e) => Some(e),
        Err(e) => {
            fail(VaultError::Io {
                what: "starting a chunk encoder",
                path: "zstd".into(),
                source: e,
            });
            None
        }
    };
    // Every worker takes chunks until the channel closes, discarding them once one has
    // failed, so that the cutting thread never blocks on a full channel nobody reads.
    loop {
        let next = rx.lock().ok().and_then(|r| r.recv().ok());
        let Some((object, data, checksum)) = next else {
            return;
        };
        let Some(encoder) = encoder.as_mut().filter(|_| !failed.load(Ordering::SeqCst)) else {
            continue;
        };
        let result = encoder
            .seal_plain(&data, checksum.to_string(), &sink.recipients)
            .map_err(crate::error::io_err("encrypting a dump chunk", &object))
            .and_then(|encoded| {
                sink.packs
                    .add_blocking(&sink.runtime, &object, encoder.stored())
                    .map(|()| encoded)
            });
        match result {
            Ok(encoded) => {
                if let Ok(mut list) = stored.lock() {
                    list.push(StoredObject {
                        object,
                        stored_size: encoded.stored_size,
                        stored_checksum: Some(encoded.stored),
                    });
                }
            }
            Err(e) => fail(e),
        }
    }
}

/// Fetches one chunk and returns its plaintext, once its stored bytes are those the signed
/// index records and its plaintext is what the sealed list says.
pub(crate) async fn read_chunk(
    repo: &Repository,
    contents: &SnapshotContents,
    chunk: &DumpChunk,
    ids: &Identities,
) -> Result<Vec<u8>> {
    let corrupted = |reason: String| VaultError::Corrupted {
        object: chunk.object.clone(),
        reason,
    };
    let record = contents
        .objects
        .dump_chunk(&chunk.object)
        .ok_or_else(|| corrupted("the dump chunk is not in the snapshot's signed index".into()))?;
    let bytes = crate::pack::read_object(repo, &contents.packs, record)
        .await?
        .ok_or_else(|| corrupted("the dump chunk is missing".into()))?;
    if !record.is_recorded(&bytes) {
        return Err(corrupted(
            "its stored bytes are not the ones the snapshot's signed index names (size or checksum differs)".into(),
        ));
    }
    let ids = ids.clone();
    let chunk = chunk.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
        let digests = DecodeDigests::checksummed(Some(&chunk.checksum), None);
        let (decoded, plain) = decode_bytes(&bytes, &ids, digests)
            .map_err(|e| stored_object_error(e, &chunk.object))?;
        if decoded.plain_digest != chunk.checksum.to_string() || decoded.plain_size != chunk.size {
            return Err(VaultError::Corrupted {
                object: chunk.object,
                reason: "the decrypted chunk differs from the sealed list's checksum".into(),
            });
        }
        Ok(plain)
    })
    .await
    .map_err(|e| VaultError::InvalidInput(format!("chunk task: {e}")))?
}

/// The verified plaintext of a chunked dump, as a blocking reader: chunks are fetched and
/// checked ahead on the runtime; a chunk that fails its check ends the stream with an
/// error before any of its bytes are read. [`ChunkedDumpReader::error`] gives the cause.
pub(crate) struct ChunkedDumpReader {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
    remaining_chunks: usize,
    error: Option<VaultError>,
    task: tokio::task::JoinHandle<()>,
}

impl ChunkedDumpReader {
    /// Starts fetching `contents`' chunks; call from within the runtime.
    pub(crate) fn open(
        repo: &Repository,
        contents: &SnapshotContents,
        ids: &Identities,
    ) -> ChunkedDumpReader {
        let (tx, rx) = tokio::sync::mpsc::channel(PREFETCH);
        let repo = repo.clone();
        let contents = Arc::new(contents.clone());
        let ids = ids.clone();
        let remaining_chunks = contents.sealed.dump_chunks.len();
        let task = tokio::spawn(async move {
            let fetches = futures::stream::iter(0..contents.sealed.dump_chunks.len())
                .map(|i| {
                    let (repo, contents, ids) = (repo.clone(), contents.clone(), ids.clone());
                    async move {
                        let chunk = &contents.sealed.dump_chunks[i];
                        read_chunk(&repo, &contents, chunk, &ids).await
                    }
                })
                .buffered(PREFETCH);
            futures::pin_mut!(fetches);
            while let Some(result) = fetches.next().await {
                let failed = result.is_err();
                if tx.send(result).await.is_err() || failed {
                    return;
                }
            }
        });
        ChunkedDumpReader {
            rx,
            current: Vec::new(),
            position: 0,
            remaining_chunks,
            error: None,
            task,
        }
    }

    /// Why reading stopped early, when it did.
    pub(crate) fn error(&mut self) -> Option<VaultError> {
        self.error.take()
    }
}

impl Drop for ChunkedDumpReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Read for ChunkedDumpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            if self.remaining_chunks == 0 {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(plain)) => {
                    self.current = plain;
                    self.position = 0;
                    self.remaining_chunks -= 1;
                }
                Some(Err(e)) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(io::Error::other(message));
                }
                None => {
                    self.error = Some(VaultError::InvalidInput(
                        "the chunk reader stopped before the dump's end".into(),
                    ));
                    return Err(io::Error::other("the chunk reader stopped"));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_identity_file;
    use crate::progress::NoProgress;
    use crate::store::{RepositoryConfig, StoreLocation};

    /// Deterministic bytes that do not compress, like a dump's table data.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    struct Setup {
        _dir: tempfile::TempDir,
        sink: ChunkSink,
    }

    async fn setup(key: RepositoryKey) -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        let identity = dir.path().join("dba.age");
        let recipients = Recipients::parse(&[generate_identity_file(&identity).expect("id")])
            .expect("recipients")
            .for_run()
            .expect("run");
        let repo = Repository::open(&RepositoryConfig {
            store: StoreLocation::Local(dir.path().join("repo")),
            object_lock: None,
        })
        .await
        .expect("repo");
        Setup {
            _dir: dir,
            sink: ChunkSink {
                packs: Arc::new(crate::pack::PackWriter::new(&repo, "acme", &key)),
                tenant: "acme".into(),
                key,
                recipients,
                existing: HashMap::new(),
                workers: 2,
                runtime: tokio::runtime::Handle::current(),
            },
        }
    }

    async fn cut(sink: &ChunkSink, data: Vec<u8>) -> Result<ChunkedDump> {
        let (repo, tenant, key, recipients, existing, runtime) = (
            sink.packs.repo().clone(),
            sink.tenant.clone(),
            sink.key.clone(),
            sink.recipients.clone(),
            sink.existing.clone(),
            sink.runtime.clone(),
        );
        let packs = Arc::new(crate::pack::PackWriter::new(&repo, &tenant, &key));
        let writer = packs.clone();
        let cut = tokio::task::spawn_blocking(move || {
            let sink = ChunkSink {
                tenant,
                key,
                recipients,
                existing,
                packs,
                workers: 2,
                runtime,
            };
            store_chunks(&data[..], &sink, &NoProgress)
        })
        .await
        .expect("task")?;
        writer.finish().await?;
        Ok(cut)
    }

    fn sizes(d: &ChunkedDump) -> Vec<u64> {
        d.chunks.iter().map(|c| c.size).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_are_bounded_stored_once_and_shift_with_an_insertion_only_locally() {
        let key = RepositoryKey::generate().expect("key");
        let mut world = setup(key.clone()).await;
        let data = noise(6 * 1024 * 1024, 3);
        let first = cut(&world.sink, data.clone()).await.expect("first");
        assert_eq!(first.plain_size, data.len() as u64);
        assert_eq!(
            first.plain_checksum,
            Some(checksum_of(ChecksumAlgorithm::Blake3, &data))
        );
        let n = first.chunks.len();
        assert!((8..=60).contains(&n), "{n} chunks for 6 MiB");
        for (i, size) in sizes(&first).iter().enumerate() {
            assert!(*size <= MAX_CHUNK as u64, "chunk {i}: {size}");
            assert!(i == n - 1 || *size >= MIN_CHUNK as u64, "chunk {i}: {size}");
        }
        assert_eq!(first.uploaded as usize, first.objects.len());
        assert!(first.objects.iter().all(|o| o.stored_checksum.is_some()));
        let index = crate::pack::load(
            world.sink.packs.repo(),
            "acme",
            &crate::pack::index_identities(&world.sink.key),
        )
        .await
        .expect("packs");
        // 6 MiB of noise: under one pack's target, so one pack holds every chunk.
        assert_eq!(index.packs.len(), 1);
        for o in &first.objects {
            let (_, _, length) = index.locate(&o.object).expect("packed");
            assert_eq!(length, o.stored_size);
        }

        // What the repository holds is reused; 100 bytes inserted in the middle cost only
        // the chunks around them.
        world.sink.existing = first
            .objects
            .iter()
            .map(|o| {
                (
                    o.object.rsplit('/').next().expect("name").to_string(),
                    o.stored_size,
                )
            })
            .collect();
        let again = cut(&world.sink, data.clone()).await.expect("again");
        assert_eq!(again.uploaded, 0);
        assert_eq!(again.chunks, first.chunks);
        let mut edited = data.clone();
        edited.splice(3 * 1024 * 1024..3 * 1024 * 1024, noise(100, 9));
        let shifted = cut(&world.sink, edited).await.expect("edited");
        assert!(
            (1..=2).contains(&shifted.uploaded),
            "{} of {} chunks stored again",
            shifted.uploaded,
            shifted.chunks.len()
        );

        // Another tenant key cuts the same bytes elsewhere and names them otherwise.
        let other = setup(RepositoryKey::generate().expect("key")).await;
        let elsewhere = cut(&other.sink, data).await.expect("other key");
        assert_ne!(sizes(&elsewhere), sizes(&first));
        assert!(
            elsewhere
                .chunks
                .iter()
                .all(|c| !first.chunks.iter().any(|f| f.object == c.object))
        );
    }

    /// A source that fails half way: pg_dump dying mid-stream.
    struct Failing(Vec<u8>);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("pg_dump exited with status 1"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_source_that_fails_is_the_error_and_nothing_hangs() {
        let setup = setup(RepositoryKey::generate().expect("key")).await;
        let (repo, tenant, key, recipients, runtime) = (
            setup.sink.packs.repo().clone(),
            setup.sink.tenant.clone(),
            setup.sink.key.clone(),
            setup.sink.recipients.clone(),
            setup.sink.runtime.clone(),
        );
        let result = tokio::task::spawn_blocking(move || {
            let sink = ChunkSink {
                packs: Arc::new(crate::pack::PackWriter::new(&repo, &tenant, &key)),
                tenant,
                key,
                recipients,
                existing: HashMap::new(),
                workers: 1,
                runtime,
            };
            store_chunks(Failing(noise(5 * 1024 * 1024, 4)), &sink, &NoProgress)
        })
        .await
        .expect("task");
        match result {
            Err(VaultError::Io { what, source, .. }) => {
                assert_eq!(what, "reading pg_dump's output");
                assert!(source.to_string().contains("status 1"), "{source}");
            }
            other => panic!("expected the source's error, got {other:?}"),
        }
    }
}
