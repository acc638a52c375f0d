//! Checksums of stored objects and of the dump: BLAKE3 for everything written now, SHA-256
//! still read from snapshots written before. The algorithm is part of the recorded value
//! (`blake3:<hex>`), so a checksum is never compared with one of another algorithm.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The algorithm of a [`Checksum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumAlgorithm {
    /// What the vault writes: fast enough to hash a dump as it streams.
    #[default]
    Blake3,
    /// What snapshots written before BLAKE3 recorded (as bare hex).
    Sha256,
}

impl ChecksumAlgorithm {
    fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Blake3 => "blake3",
            ChecksumAlgorithm::Sha256 => "sha256",
        }
    }
}

/// A checksum with its algorithm, written `blake3:<64 hex>` or `sha256:<64 hex>`. A bare 64-hex
/// value, as older manifests hold, reads as SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    algorithm: ChecksumAlgorithm,
    hex: String,
}

impl Checksum {
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The digest in lowercase hex, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Checksum {
    type Err = String;

    fn from_str(s: &str) -> Result<Checksum, String> {
        let (algorithm, hex) = match s.split_once(':') {
            Some(("blake3", hex)) => (ChecksumAlgorithm::Blake3, hex),
            Some(("sha256", hex)) => (ChecksumAlgorithm::Sha256, hex),
            Some((other, _)) => {
                return Err(format!(
                    "unknown checksum algorithm `{other}` (expected blake3 or sha256)"
                ));
            }
            None => (ChecksumAlgorithm::Sha256, s),
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{s}` is not a checksum (64 hex digits expected)"));
        }
        Ok(Checksum {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Checksum, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Computes a [`Checksum`] incrementally.
pub(crate) enum ChecksumHasher {
    // Boxed: the BLAKE3 hasher keeps a ~2 KB chunk stack.
    Blake3(Box<blake3::Hasher>),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub(crate) fn new(algorithm: ChecksumAlgorithm) -> ChecksumHasher {
        match algorithm {
            ChecksumAlgorithm::Blake3 => ChecksumHasher::Blake3(Box::default()),
            ChecksumAlgorithm::Sha256 => ChecksumHasher::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            ChecksumHasher::Blake3(h) => {
                h.update(data);
            }
            ChecksumHasher::Sha256(h) => h.update(data),
        }
    }

    pub(crate) fn finish(self) -> Checksum {
        let (algorithm, hex) = match self {
            ChecksumHasher::Blake3(h) => {
                (ChecksumAlgorithm::Blake3, h.finalize().to_hex().to_string())
            }
            ChecksumHasher::Sha256(h) => (ChecksumAlgorithm::Sha256, hex::encode(h.finalize())),
        };
        Checksum { algorithm, hex }
    }
}

/// The checksum of bytes held in memory.
pub(crate) fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> Checksum {
    let mut hasher = ChecksumHasher::new(algorithm);
    hasher.update(data);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors_and_text_form() {
        let b3 = checksum_of(ChecksumAlgorithm::Blake3, b"abc");
        assert_eq!(
            b3.to_string(),
            "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        let sha = checksum_of(ChecksumAlgorithm::Sha256, b"abc");
        assert_eq!(
            sha.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b3.to_string().parse::<Checksum>(), Ok(b3.clone()));
        assert_eq!(sha.to_string().parse::<Checksum>(), Ok(sha.clone()));
        let json = serde_json::to_string(&b3).expect("json");
        assert_eq!(serde_json::from_str::<Checksum>(&json).expect("back"), b3);
    }

    #[test]
    fn bare_hex_is_legacy_sha256() {
        let legacy: Checksum = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
            .parse()
            .expect("legacy");
        assert_eq!(legacy, checksum_of(ChecksumAlgorithm::Sha256, b"abc"));
    }

    #[test]
    fn malformed_checksums_are_refused() {
        for bad in ["", "blake3:", "md5:00", "sha256:xyz", &"a".repeat(63)] {
            assert!(bad.parse::<Checksum>().is_err(), "{bad:?} accepted");
        }
    }
}
