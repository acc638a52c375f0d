//! The byte pipelines: plaintext → zstd (padded, padding.rs) → age → object store, and back.
//!
//! Encoding runs on a blocking thread and hands fixed-size chunks through a bounded channel
//! to a multipart upload, so memory stays bounded whatever the size of the input.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutMultipartOptions, WriteMultipart};
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;

use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumHasher};
use crate::error::{Result, VaultError, storage_err};
use crate::keys::{Identities, Recipients};
use crate::padding::{CountedWriter, write_padding};
use crate::progress::{Phase, Progress};

const ZSTD_LEVEL: i32 = 3;
/// Chunk handed from the encoder to the uploader; also the multipart part size.
pub(crate) const CHUNK: usize = 8 * 1024 * 1024;
/// Parts in flight per upload.
const PARTS_IN_FLIGHT: usize = 2;
/// zstd compression workers of a streamed upload (the dump, large blobs).
const STREAM_ZSTD_WORKERS: u32 = 1;

/// Which digest of the plaintext to compute: a blob's sha1 (its Odoo name), or a
/// [`Checksum`] (the dump, sealed manifests, keys).
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlainDigest {
    Sha1,
    Checksum(ChecksumAlgorithm),
}

impl PlainDigest {
    /// The checksum everything new is written with.
    pub(crate) const CHECKSUM: PlainDigest = PlainDigest::Checksum(ChecksumAlgorithm::Blake3);
}

enum Hasher {
    Sha1(Sha1),
    Checksum(ChecksumHasher),
}

impl Hasher {
    fn new(kind: PlainDigest) -> Hasher {
        match kind {
            PlainDigest::Sha1 => Hasher::Sha1(Sha1::new()),
            PlainDigest::Checksum(algorithm) => Hasher::Checksum(ChecksumHasher::new(algorithm)),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Checksum(h) => h.update(data),
        }
    }
    /// The sha1 in hex, or the checksum in its text form (`blake3:<hex>`).
    fn finish(self) -> String {
        match self {
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Checksum(h) => h.finish().to_string(),
        }
    }
}

/// What an encoding pass produced.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub plain_size: u64,
    /// As [`PlainDigest`] asked: sha1 hex, or a checksum's text form.
    pub plain_digest: String,
    pub stored_size: u64,
    pub stored: Checksum,
}

/// Counts and hashes what passes through to the inner writer (the stored bytes).
struct CountingWriter<W> {
    inner: W,
    size: u64,
    hasher: ChecksumHasher,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.size += n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Runs `reader` through zstd and age into `sink`, hashing both sides.
fn encode_into<R: Read, W: Write>(
    mut reader: R,
    digest: PlainDigest,
    recipients: &Recipients,
    sink: W,
    progress: Option<(&dyn Progress, Phase)>,
    streaming: bool,
) -> io::Result<(Encoded, W)> {
    let counting = CountingWriter {
        inner: sink,
        size: 0,
        hasher: ChecksumHasher::new(ChecksumAlgorithm::Blake3),
    };
    let encryptor =
        age::Encryptor::with_recipients(recipients.as_dyn()).map_err(io::Error::other)?;
    let age_writer = CountedWriter {
        inner: encryptor.wrap_output(counting)?,
        written: 0,
    };
    let mut zstd = zstd::stream::write::Encoder::new(age_writer, ZSTD_LEVEL)?;
    if streaming {
        // A compression worker beside this thread, which reads, hashes and encrypts: the
        // stream is pipelined like `pg_dump | zstd | age` instead of serialised.
        zstd.multithread(STREAM_ZSTD_WORKERS)?;
    }
    let mut hasher = Hasher::new(digest);
    let mut plain_size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        zstd.write_all(&buf[..n])?;
        plain_size += n as u64;
        if let Some((p, phase)) = progress {
            p.advance(phase, n as u64);
        }
    }
    let mut age_writer = zstd.finish()?;
    let compressed = age_writer.written;
    write_padding(&mut age_writer.inner, compressed)?;
    let counting = age_writer.inner.finish()?;
    Ok((
        Encoded {
            plain_size,
            plain_digest: hasher.finish(),
            stored_size: counting.size,
            stored: counting.hasher.finish(),
        },
        counting.inner,
    ))
}

/// Encodes a small input fully in memory.
pub(crate) fn encode_to_vec<R: Read>(
    reader: R,
    digest: PlainDigest,
    recipients: &Recipients,
) -> io::Result<(Encoded, Vec<u8>)> {
    encode_into(reader, digest, recipients, Vec::new(), None, false)
}

/// Blobs up to this size are read whole and compressed in one call by a [`BlobEncoder`];
/// larger ones are streamed. Three buffers of this size per blob worker bound the memory.
pub(crate) const WHOLE_BLOB_LIMIT: u64 = 1024 * 1024;

/// One blob worker's reusable state. Thousands of small attachments make per-blob setup the
/// main cost: a fresh zstd context and fresh buffers per blob spent more time allocating and
/// clearing memory than compressing, so one worker keeps its context and buffers for every
/// blob it encodes. The stored format is the same zstd → age file as the streaming encoder's.
pub(crate) struct BlobEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    plain: Vec<u8>,
    packed: Vec<u8>,
    stored: Vec<u8>,
}

impl BlobEncoder {
    pub(crate) fn new() -> io::Result<BlobEncoder> {
        Ok(BlobEncoder {
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            plain: Vec::new(),
            packed: Vec::new(),
            stored: Vec::new(),
        })
    }

    /// Reads the file whole and returns the sha1 of its content, or `None` when it holds
    /// more than [`WHOLE_BLOB_LIMIT`] bytes (it grew since it was measured): stream it then.
    pub(crate) fn read(&mut self, path: &Path, size: u64) -> io::Result<Option<String>> {
        self.plain.clear();
        self.plain
            .reserve(usize::try_from(size.min(WHOLE_BLOB_LIMIT) + 1).unwrap_or(0));
        std::fs::File::open(path)?
            .take(WHOLE_BLOB_LIMIT + 1)
            .read_to_end(&mut self.plain)?;
        if self.plain.len() as u64 > WHOLE_BLOB_LIMIT {
            return Ok(None);
        }
        Ok(Some(hex::encode(Sha1::digest(&self.plain))))
    }

    /// Compresses and encrypts what [`BlobEncoder::read`] read; the stored bytes are in
    /// [`BlobEncoder::stored`] until the next blob.
    pub(crate) fn seal(&mut self, sha1: String, recipients: &Recipients) -> io::Result<Encoded> {
        let plain = std::mem::take(&mut self.plain);
        let sealed = self.seal_plain(&plain, sha1, recipients);
        self.plain = plain;
        sealed
    }

    /// Compresses and encrypts `plain` (a dump chunk), whose digest is `digest`; the stored
    /// bytes are in [`BlobEncoder::stored`] until the next call.
    pub(crate) fn seal_plain(
        &mut self,
        plain: &[u8],
        digest: String,
        recipients: &Recipients,
    ) -> io::Result<Encoded> {
        self.packed.clear();
        self.packed
            .reserve(zstd::zstd_safe::compress_bound(plain.len()));
        self.compressor
            .compress_to_buffer(plain, &mut self.packed)?;
        let compressed = self.packed.len() as u64;
        write_padding(&mut self.packed, compressed)?;
        self.stored.clear();
        let encryptor =
            age::Encryptor::with_recipients(recipients.as_dyn()).map_err(io::Error::other)?;
        let mut age_writer = encryptor.wrap_output(&mut self.stored)?;
        age_writer.write_all(&self.packed)?;
        age_writer.finish()?;
        Ok(Encoded {
            plain_size: plain.len() as u64,
            plain_digest: digest,
            stored_size: self.stored.len() as u64,
            stored: crate::checksum::checksum_of(ChecksumAlgorithm::Blake3, &self.stored),
        })
    }

    pub(crate) fn stored(&self) -> &[u8] {
        &self.stored
    }
}

/// Runs `reader` through zstd and age into `sink` on this thread (no compression worker:
/// blob workers already keep the CPUs busy), hashing the plaintext with sha1.
pub(crate) fn encode_blob_into<R: Read, W: Write>(
    reader: R,
    recipients: &Recipients,
    sink: W,
) -> io::Result<(Encoded, W)> {
    encode_into(reader, PlainDigest::Sha1, recipients, sink, None, false)
}

/// Sends full chunks to the uploader; a closed channel means the upload failed.
struct ChunkSender {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams `reader` (opened on a blocking thread by `open`) through zstd and age into a
/// multipart upload at `path`. If `expect_digest` is given and the plaintext digest differs,
/// the upload is aborted and `Ok(Err(actual))` returned: nothing is left at `path`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload_stream<R, F>(
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
    open: F,
    digest: PlainDigest,
    expect_digest: Option<String>,
    recipients: Recipients,
    progress: Arc<dyn Progress>,
    phase: Phase,
) -> Result<std::result::Result<Encoded, String>>
where
    R: Read,
    F: FnOnce() -> Result<R> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(PARTS_IN_FLIGHT);
    let encoder = tokio::task::spawn_blocking(move || -> Result<Encoded> {
        let reader = open()?;
        let sink = ChunkSender {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let (encoded, mut sink) = encode_into(
            reader,
            digest,
            &recipients,
            sink,
            Some((progress.as_ref(), phase)),
            true,
        )
        .map_err(|e| VaultError::Io {
            what: "encoding a stream",
            path: std::path::PathBuf::from(phase.to_string()),
            source: e,
        })?;
        sink.send().map_err(|e| VaultError::Io {
            what: "encoding a stream",
            path: std::path::PathBuf::from(phase.to_string()),
            source: e,
        })?;
        Ok(encoded)
    });

    let upload = store
        .put_multipart_opts(&path, PutMultipartOptions::default())
        .await
        .map_err(storage_err("start writing", &path))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK);
    let mut upload_error = None;
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            upload_error = Some(storage_err("write", &path)(e));
            break;
        }
        writer.put(chunk);
    }
    // Dropping the receiver makes a still-running encoder stop with BrokenPipe.
    drop(rx);
    let encoded = encoder
        .await
        .map_err(|e| VaultError::InvalidInput(format!("encoder task: {e}")));
    let encoded = match (upload_error, encoded) {
        (Some(e), _) => {
            let _ = writer.abort().await;
            return Err(e);
        }
        (None, Err(e)) | (None, Ok(Err(e))) => {
            let _ = writer.abort().await;
            return Err(e);
        }
        (None, Ok(Ok(encoded))) => encoded,
    };
    if let Some(expected) = expect_digest
        && expected != encoded.plain_digest
    {
        let _ = writer.abort().await;
        return Ok(Err(encoded.plain_digest));
    }
    writer
        .finish()
        .await
        .map_err(storage_err("finish writing", &path))?;
    Ok(Ok(encoded))
}

/// A blocking reader over an async byte stream (used on blocking threads only).
pub(crate) struct StreamReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    current: Bytes,
    failed: bool,
}

impl StreamReader {
    /// Starts pumping `stream` into a bounded channel on the runtime.
    pub(crate) fn spawn(
        mut stream: BoxStream<'static, object_store::Result<Bytes>>,
    ) -> StreamReader {
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| crate::error::storage_message(&e));
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        StreamReader {
            rx,
            current: Bytes::new(),
            failed: false,
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.failed {
                return Err(io::Error::other("object read failed"));
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(msg)) => {
                    self.failed = true;
                    return Err(io::Error::other(msg));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Why decoding failed.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// None of the identities is a recipient.
    WrongKey,
    /// The bytes are not a valid age/zstd stream (corruption, truncation).
    Corrupt(String),
    /// Reading the source or writing the output failed.
    Io(io::Error),
}

impl DecodeError {
    pub(crate) fn into_vault(self, object: &str) -> VaultError {
        match self {
            DecodeError::WrongKey => VaultError::WrongKey {
                object: object.to_string(),
            },
            DecodeError::Corrupt(reason) => VaultError::Corrupted {
                object: object.to_string(),
                reason,
            },
            DecodeError::Io(e) => VaultError::Io {
                what: "reading",
                path: object.into(),
                source: e,
            },
        }
    }
}

/// Which digests a decoding pass computes: of the plaintext as asked, and of the stored
/// bytes in the algorithm their recorded checksum used (BLAKE3 when none was recorded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeDigests {
    plain: PlainDigest,
    stored: ChecksumAlgorithm,
}

impl DecodeDigests {
    /// A filestore blob: the sha1 of its content.
    pub(crate) fn blob(recorded_stored: Option<&Checksum>) -> DecodeDigests {
        DecodeDigests {
            plain: PlainDigest::Sha1,
            stored: recorded_stored.map(Checksum::algorithm).unwrap_or_default(),
        }
    }

    /// A checksummed object (the dump, a sealed manifest, a key): its content's checksum in
    /// the algorithm it was recorded with.
    pub(crate) fn checksummed(
        recorded_plain: Option<&Checksum>,
        recorded_stored: Option<&Checksum>,
    ) -> DecodeDigests {
        DecodeDigests {
            plain: PlainDigest::Checksum(
                recorded_plain.map(Checksum::algorithm).unwrap_or_default(),
            ),
            stored: recorded_stored.map(Checksum::algorithm).unwrap_or_default(),
        }
    }
}

/// What a decoding pass produced.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub stored_size: u64,
    pub stored: Checksum,
    pub plain_size: u64,
    pub plain_digest: String,
}

struct CountingReader<R> {
    inner: R,
    size: u64,
    hasher: ChecksumHasher,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.size += n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

thread_local! {
    /// The decode buffer of this thread (see [`decode_into`]).
    static DECODE_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Decrypts and decompresses `source` into `out`, hashing both sides.
pub(crate) fn decode_into<R: Read, W: Write>(
    source: R,
    identities: &Identities,
    digests: DecodeDigests,
    out: &mut W,
    progress: Option<(&dyn Progress, Phase)>,
) -> std::result::Result<Decoded, DecodeError> {
    let mut counting = CountingReader {
        inner: source,
        size: 0,
        hasher: ChecksumHasher::new(digests.stored),
    };
    let plain_result = {
        let decryptor =
            age::Decryptor::new_buffered(io::BufReader::new(&mut counting)).map_err(map_age)?;
        let reader = decryptor.decrypt(identities.as_dyn()).map_err(map_age)?;
        let mut zstd = zstd::stream::read::Decoder::new(reader).map_err(DecodeError::Io)?;
        let mut hasher = Hasher::new(digests.plain);
        let mut plain_size = 0u64;
        // One buffer per thread, reused: a restore decodes tens of thousands of small
        // objects, and zeroing a fresh 256 KiB for each showed in its profile.
        // Taken out while in use, so a nested decode on this thread gets a buffer of its own.
        let mut buf = DECODE_BUFFER.take();
        if buf.is_empty() {
            buf.resize(256 * 1024, 0);
        }
        let read = (|| {
            loop {
                let n = match zstd.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(classify_read_error(e)),
                };
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(DecodeError::Io)?;
                plain_size += n as u64;
                if let Some((p, phase)) = progress {
                    p.advance(phase, n as u64);
                }
            }
            Ok(())
        })();
        DECODE_BUFFER.set(buf);
        read?;
        (plain_size, hasher.finish())
    };
    // Trailing garbage after the age stream would go unnoticed otherwise.
    let mut rest = [0u8; 1];
    if counting.read(&mut rest).map_err(DecodeError::Io)? != 0 {
        return Err(DecodeError::Corrupt(
            "unexpected bytes after the end of the encrypted stream".into(),
        ));
    }
    Ok(Decoded {
        stored_size: counting.size,
        stored: counting.hasher.finish(),
        plain_size: plain_result.0,
        plain_digest: plain_result.1,
    })
}

fn map_age(e: age::DecryptError) -> DecodeError {
    match e {
        age::DecryptError::NoMatchingKeys => DecodeError::WrongKey,
        age::DecryptError::Io(io) => classify_read_error(io),
        other => DecodeError::Corrupt(format!("not a valid encrypted object ({other})")),
    }
}

fn classify_read_error(e: io::Error) -> DecodeError {
    // age and zstd report authentication and format failures as InvalidData / UnexpectedEof.
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => {
            DecodeError::Corrupt(format!("decryption or decompression failed ({e})"))
        }
        io::ErrorKind::Other
            if e.to_string().contains("Unknown frame") || e.to_string().contains("corrupt") =>
        {
            DecodeError::Corrupt(format!("decompression failed ({e})"))
        }
        _ => DecodeError::Io(e),
    }
}

/// Decodes a whole small object held in memory.
pub(crate) fn decode_bytes(
    bytes: &[u8],
    identities: &Identities,
    digests: DecodeDigests,
) -> std::result::Result<(Decoded, Vec<u8>), DecodeError> {
    let mut out = Vec::new();
    let decoded = decode_into(bytes, identities, digests, &mut out, None)?;
    Ok((decoded, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let id_path = dir.path().join("id");
        let recipient = crate::keys::generate_identity_file(&id_path).expect("id");
        let other = dir.path().join("other");
        crate::keys::generate_identity_file(&other).expect("id");
        let recipients = Recipients::parse(&[recipient]).expect("r");
        let data = b"hello odoo".repeat(1000);
        let (enc, stored) = encode_to_vec(&data[..], PlainDigest::Sha1, &recipients).expect("enc");
        assert_eq!(enc.stored_size as usize, stored.len());
        let ids = Identities::from_file(&id_path).expect("ids");
        let blob = DecodeDigests::blob(Some(&enc.stored));
        let (dec, plain) = decode_bytes(&stored, &ids, blob).expect("dec");
        assert_eq!(plain, data);
        assert_eq!(dec.plain_digest, enc.plain_digest);
        assert_eq!(dec.stored, enc.stored);
        // A snapshot written before BLAKE3 recorded SHA-256: decoding recomputes that.
        let legacy = crate::checksum::checksum_of(ChecksumAlgorithm::Sha256, &stored);
        let (dec, _) = decode_bytes(
            &stored,
            &ids,
            DecodeDigests::checksummed(None, Some(&legacy)),
        )
        .expect("dec");
        assert_eq!(dec.stored, legacy);
        assert!(dec.plain_digest.starts_with("blake3:"));
        let wrong = Identities::from_file(&other).expect("ids");
        assert!(matches!(
            decode_bytes(&stored, &wrong, blob),
            Err(DecodeError::WrongKey)
        ));
        for i in [0, 30, stored.len() / 2, stored.len() - 1] {
            let mut bad = stored.clone();
            bad[i] ^= 0x40;
            assert!(
                decode_bytes(&bad, &ids, blob).is_err(),
                "flip at {i} undetected"
            );
        }
    }
}
