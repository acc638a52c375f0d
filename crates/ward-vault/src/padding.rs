//! Padded objects: every stored object's compressed bytes are followed, inside the
//! encryption, by a zstd skippable frame that brings them to a Padmé length, so that an
//! object's size names a size class of documents, not one document.
//!
//! Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
//! Communication with PURBs", 2019) rounds a length L up so that only the top
//! ⌊log2 ⌊log2 L⌋⌋ + 1 bits vary: at most 12% more, and it leaks O(log log L) bits of the
//! size. Skippable frames are part of the zstd format: every decoder (the `zstd` command
//! line too) reads past them, so a padded object decodes as before.

use std::io::{self, Write};

/// A zstd skippable frame: magic (little-endian 0x184D2A50), 4-byte length, payload.
const SKIPPABLE_MAGIC: u32 = 0x184D_2A50;
const FRAME_HEADER: u64 = 8;

/// The Padmé length of `len`.
pub(crate) fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros());
    let s = 64 - u64::from(e.leading_zeros());
    let mask = (1u64 << (e - s)) - 1;
    (len + mask) & !mask
}

/// Writes the skippable frame that pads `compressed` bytes of zstd frames to the Padmé
/// length of `compressed` plus the frame's own header. Returns the bytes written.
pub(crate) fn write_padding<W: Write>(out: &mut W, compressed: u64) -> io::Result<u64> {
    let total = padme(compressed + FRAME_HEADER);
    let payload = total - compressed - FRAME_HEADER;
    let len = u32::try_from(payload)
        .map_err(|_| io::Error::other("an object too large to pad in one frame"))?;
    out.write_all(&SKIPPABLE_MAGIC.to_le_bytes())?;
    out.write_all(&len.to_le_bytes())?;
    // Zeros: the frame is encrypted with everything else, so its content reveals nothing.
    let zeros = [0u8; 8192];
    let mut left = payload;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        out.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    Ok(total - compressed)
}

/// Counts the bytes written through it: the compressed size, before encryption.
pub(crate) struct CountedWriter<W> {
    pub(crate) inner: W,
    pub(crate) written: u64,
}

impl<W: Write> Write for CountedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_paper_and_bounds_the_overhead() {
        assert_eq!(padme(0), 0);
        assert_eq!(padme(1), 1);
        assert_eq!(padme(9), 10);
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(1024), 1024);
        assert_eq!(padme(1025), 1088);
        for len in (2..200_000u64).step_by(997).chain([1 << 20, (1 << 30) + 7]) {
            let p = padme(len);
            assert!(p >= len);
            assert!((p - len) as f64 <= len as f64 * 0.12 + 1.0, "{len} → {p}");
            assert_eq!(padme(p), p, "a padded length is its own class");
        }
    }

    #[test]
    fn padded_frames_decode_as_the_frame_alone() {
        for size in [0usize, 1, 100, 5_000, 70_000] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let mut frame = zstd::bulk::compress(&data, 3).expect("compress");
            let compressed = frame.len() as u64;
            let padded = write_padding(&mut frame, compressed).expect("pad");
            assert_eq!(frame.len() as u64, padme(compressed + FRAME_HEADER));
            assert_eq!(compressed + padded, frame.len() as u64);
            let mut out = Vec::new();
            zstd::stream::copy_decode(&frame[..], &mut out).expect("decode");
            assert_eq!(out, data);
        }
    }

    #[test]
    fn documents_of_nearby_sizes_are_stored_in_one_size_class() {
        let dir = tempfile::tempdir().expect("tmp");
        let id = dir.path().join("id");
        let r = crate::keys::generate_identity_file(&id).expect("id");
        let recipients = crate::keys::Recipients::parse(&[r]).expect("r");
        let ids = crate::keys::Identities::from_file(&id).expect("ids");
        // Incompressible documents (a PDF's streams are), 49,200 to 51,100 bytes: one
        // Padmé class (compressed and padded to 51,200 bytes).
        // Blobs up to 1 MiB are sealed whole, larger ones streamed: each path on its own.
        let mut sizes = std::collections::BTreeSet::new();
        let mut whole_sizes = std::collections::BTreeSet::new();

        let mut encoder = crate::pipeline::BlobEncoder::new().expect("encoder");
        for len in (49_200..51_100).step_by(100) {
            let mut doc = vec![0u8; len];
            getrandom::fill(&mut doc).expect("random");
            let (_, whole) = crate::pipeline::encode_to_vec(
                &doc[..],
                crate::pipeline::PlainDigest::CHECKSUM,
                &recipients,
            )
            .expect("encode");
            let sealed = encoder
                .seal_plain(&doc, "x".into(), &recipients)
                .expect("seal");
            sizes.insert(sealed.stored_size);
            whole_sizes.insert(whole.len() as u64);
            // Still an object that decrypts to the document; the padding is read past.
            let (_, plain) = crate::pipeline::decode_bytes(
                encoder.stored(),
                &ids,
                crate::pipeline::DecodeDigests::checksummed(None, None),
            )
            .map_err(|_| "decode")
            .expect("decode");
            assert_eq!(plain, doc);
        }
        // What is left of the sizes is age's own random header grease (up to a few hundred
        // bytes), not the 1,900 bytes between the documents.
        for s in sizes.iter().chain(&whole_sizes) {
            let s = *s;
            assert!(
                (51_200..51_200 + 600).contains(&s),
                "{sizes:?} {whole_sizes:?}"
            );
        }
    }
}
