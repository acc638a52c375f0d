//! The signed statement that commits a snapshot (`statement.json`): canonical bytes listing
//! every part with its stored checksum and the root of the blob index, signed with the
//! environment's backup signing key (Ed25519), whose public half the estate pins.
//!
//! age does not authenticate the sender, so anyone holding the public recipients can write a
//! valid-looking snapshot; only a statement that verifies against a pinned key makes one real.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::checksum::{Checksum, ChecksumAlgorithm, ChecksumHasher, checksum_of};
use crate::error::{Result, VaultError, io_err};
use crate::manifest::{SnapshotManifest, SnapshotRef, StoredObject};
use crate::store::Repository;

/// The statement's `format` field.
pub const STATEMENT_FORMAT: &str = "ward-vault/statement/1";
/// Signed before the canonical bytes, so that a signature over a statement can never be
/// taken for one over anything else this key might sign.
const SIGNING_DOMAIN: &[u8] = b"ward-vault statement/1\n";
/// Hashed before the blob index lines (see [`blob_index_root`]).
const BLOB_INDEX_DOMAIN: &[u8] = b"ward-vault blob-index/1\n";
const KEY_PREFIX: &str = "ed25519:";

/// An environment's backup signing key: it signs statements and cannot decrypt anything.
/// The file holds the 32-byte seed as 64 hex characters and a newline, like the ledger's
/// key, mode 0600 from creation.
#[derive(Clone)]
pub struct BackupSigningKey {
    key: SigningKey,
}

impl fmt::Debug for BackupSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupSigningKey({})", self.public())
    }
}

impl BackupSigningKey {
    /// A new key, written to `path` (which must not exist) with mode 0600 from the moment
    /// the file exists; a missing parent folder is created with mode 0700.
    pub fn generate_file(path: &Path) -> Result<BackupSigningKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| VaultError::InvalidInput(format!("no system randomness: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        let mut text = hex::encode(seed);
        seed.fill(0);
        text.push('\n');
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(parent)
                .map_err(io_err("creating the signing key's folder", parent))?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(path).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
        text.clear();
        written.map_err(io_err("writing the backup signing key", path))?;
        Ok(BackupSigningKey { key })
    }

    /// Reads a key file; one that others may read or change (world access, group write) is
    /// refused.
    pub fn load(path: &Path) -> Result<BackupSigningKey> {
        let bad = |reason: String| VaultError::InvalidSigningKey {
            path: path.to_path_buf(),
            reason,
        };
        let meta = fs::metadata(path).map_err(io_err("reading the backup signing key", path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Group read stays allowed: Kubernetes makes a mounted secret 0440 under an
            // fsGroup. Group write or any world access is refused.
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o027 != 0 {
                return Err(bad(format!(
                    "its mode is {mode:o}, open to others; run chmod 600 on it"
                )));
            }
        }
        if meta.len() > 1024 {
            return Err(bad("it is not a key file (too large)".into()));
        }
        let text =
            fs::read_to_string(path).map_err(io_err("reading the backup signing key", path))?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("it must hold 64 hex characters (an Ed25519 seed)".into()))?;
        Ok(BackupSigningKey {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half, as the estate pins it.
    pub fn public(&self) -> SigningPublicKey {
        SigningPublicKey(self.key.verifying_key())
    }

    fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

/// A pinned backup signing public key, written `ed25519:<base64 of 32 bytes>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningPublicKey(VerifyingKey);

impl fmt::Display for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.0.to_bytes());
        write!(f, "{KEY_PREFIX}{b64}")
    }
}

impl fmt::Debug for SigningPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for SigningPublicKey {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let b64 = s
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| format!("a backup signing key starts with {KEY_PREFIX:?}"))?;
        let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "a backup signing key is ed25519: and 32 bytes in base64".to_string())?;
        VerifyingKey::from_bytes(&raw)
            .map(SigningPublicKey)
            .map_err(|_| "not a valid Ed25519 public key".to_string())
    }
}

impl Serialize for SigningPublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SigningPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The signing keys each environment's snapshots must verify against, from the estate.
/// The library never reads the estate: callers pin what they trust here.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    by_environment: BTreeMap<(String, String, String), Vec<SigningPublicKey>>,
}

impl TrustedKeys {
    pub fn new() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// Pins `keys` for one environment (the first is the current one; the others are still
    /// accepted, for a rotation).
    pub fn pin(
        &mut self,
        tenant: &str,
        workload: &str,
        environment: &str,
        keys: impl IntoIterator<Item = SigningPublicKey>,
    ) {
        self.by_environment
            .entry((tenant.into(), workload.into(), environment.into()))
            .or_default()
            .extend(keys);
    }

    /// The keys pinned for the environment of `snapshot` (empty: none, so nothing verifies).
    pub fn for_snapshot(&self, snapshot: &SnapshotRef) -> &[SigningPublicKey] {
        self.for_environment(&snapshot.tenant, &snapshot.workload, &snapshot.environment)
    }

    pub fn for_environment(
        &self,
        tenant: &str,
        workload: &str,
        environment: &str,
    ) -> &[SigningPublicKey] {
        self.by_environment
            .get(&(tenant.into(), workload.into(), environment.into()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// One stored object the statement vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementPart {
    /// Path relative to the repository root.
    pub path: String,
    pub stored_size: u64,
    /// BLAKE3 of the stored (encrypted) bytes.
    pub stored_checksum: Checksum,
    /// The S3 version id the write returned, where the store keeps versions.
    pub version: Option<String>,
}

/// The root of a snapshot's blob index (see [`blob_index_root`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobIndexRoot {
    pub count: u64,
    pub stored_bytes: u64,
    pub root: Checksum,
}

/// What a backup signs. Its canonical form is its JSON encoding with the fields in this
/// order, no whitespace, integers only, `null` for an absent value (see docs/vault.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    pub format: String,
    pub snapshot: SnapshotRef,
    /// BLAKE3 of the canonical bytes of the environment's previous verified statement, when
    /// this backup started; `None` for the first.
    pub previous: Option<Checksum>,
    /// RFC 3339, UTC, as the backup wrote them (kept as text so they round-trip exactly).
    pub started: String,
    pub finished: String,
    pub tenant_key_id: String,
    pub recipients: Vec<String>,
    /// Every part of the snapshot, sorted by path.
    pub parts: Vec<StatementPart>,
    pub blob_index: BlobIndexRoot,
}

impl Statement {
    /// The canonical bytes: what is hashed and (after the domain prefix) signed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // A struct of strings, integers, options and vectors: serde_json writes its fields in
        // declaration order with no whitespace, and cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// BLAKE3 of the canonical bytes: what the next statement's `previous` names.
    pub fn hash(&self) -> Checksum {
        checksum_of(ChecksumAlgorithm::Blake3, &self.canonical_bytes())
    }

    pub fn part(&self, path: &str) -> Option<&StatementPart> {
        self.parts.iter().find(|p| p.path == path)
    }
}

/// `statement.json`: the statement, who signed it and the signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedStatement {
    statement: Statement,
    signer: SigningPublicKey,
    /// `ed25519:<base64 of 64 bytes>` over [`SIGNING_DOMAIN`] ‖ canonical bytes.
    signature: String,
}

/// A statement whose signature verified against a pinned key.
#[derive(Debug, Clone)]
pub struct VerifiedStatement {
    pub statement: Statement,
    pub signer: SigningPublicKey,
}

/// The statement that commits `manifest`, whose stored `manifest.json` has `manifest_size`
/// bytes with checksum `manifest_checksum`: its parts (the manifest, the sealed part and a
/// format-1 dump), with the S3 version written where the store keeps versions, its blob
/// index root, chained to `previous`. Call once the parts are written.
pub(crate) async fn statement_for(
    repo: &Repository,
    manifest: &SnapshotManifest,
    objects: &crate::objects::SnapshotObjects,
    manifest_size: u64,
    manifest_checksum: Checksum,
    previous: Option<Checksum>,
) -> Result<Statement> {
    let snapshot = &manifest.snapshot;
    let unrecorded = |object: &str| VaultError::Corrupted {
        object: object.to_string(),
        reason: "the manifest records no stored checksum for it".into(),
    };
    let mut recorded = vec![(snapshot.manifest_path(), manifest_size, manifest_checksum)];
    for part in manifest
        .dump
        .iter()
        .chain(&manifest.objects)
        .chain([&manifest.sealed])
    {
        let checksum = part
            .stored_checksum
            .clone()
            .ok_or_else(|| unrecorded(&part.object))?;
        recorded.push((part.object.clone(), part.stored_size, checksum));
    }
    let mut parts = Vec::new();
    for (path, stored_size, stored_checksum) in recorded {
        let version = repo.head(&path).await?.and_then(|meta| meta.version);
        parts.push(StatementPart {
            path,
            stored_size,
            stored_checksum,
            version,
        });
    }
    parts.sort_by(|a, b| a.path.cmp(&b.path));
    let blob_index = blob_index_root(objects.shared()).map_err(|reason| VaultError::Corrupted {
        object: snapshot.manifest_path(),
        reason,
    })?;
    Ok(Statement {
        format: STATEMENT_FORMAT.into(),
        snapshot: snapshot.clone(),
        previous,
        started: manifest.started.to_string(),
        finished: manifest.finished.to_string(),
        tenant_key_id: manifest.key_id.clone(),
        recipients: manifest.recipients.clone(),
        parts,
        blob_index,
    })
}

pub(crate) fn encode_signed(statement: &Statement, key: &BackupSigningKey) -> Vec<u8> {
    let mut message = SIGNING_DOMAIN.to_vec();
    message.extend_from_slice(&statement.canonical_bytes());
    let signature = key.sign(&message);
    let file = SignedStatement {
        statement: statement.clone(),
        signer: key.public(),
        signature: format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
        ),
    };
    let mut out = serde_json::to_vec(&file).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Checks a `statement.json` against the keys pinned for its environment. The reason says
/// in words why it does not verify.
pub(crate) fn decode_verified(
    bytes: &[u8],
    pinned: &[SigningPublicKey],
) -> std::result::Result<VerifiedStatement, String> {
    let file: SignedStatement = serde_json::from_slice(bytes)
        .map_err(|e| format!("statement.json is not a signed statement ({e})"))?;
    if file.statement.format != STATEMENT_FORMAT {
        return Err(format!(
            "unsupported statement format {:?}",
            file.statement.format
        ));
    }
    if pinned.is_empty() {
        return Err(
            "no backup signing key is pinned for this environment (backup.signingKeys)".into(),
        );
    }
    if !pinned.contains(&file.signer) {
        return Err(format!(
            "it is signed by {}, which is not a key pinned for this environment",
            file.signer
        ));
    }
    let raw: [u8; 64] = file
        .signature
        .strip_prefix(KEY_PREFIX)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "its signature is not ed25519: and 64 bytes in base64".to_string())?;
    let mut message = SIGNING_DOMAIN.to_vec();
    message.extend_from_slice(&file.statement.canonical_bytes());
    file.signer
        .0
        .verify_strict(&message, &Signature::from_bytes(&raw))
        .map_err(|_| "its signature does not verify".to_string())?;
    Ok(VerifiedStatement {
        statement: file.statement,
        signer: file.signer,
    })
}

/// The root of a blob index: BLAKE3 over [`BLOB_INDEX_DOMAIN`] and one line
/// `<object> <stored size> <stored checksum>\n` per blob, sorted by object name. Every blob
/// must carry its stored checksum (deduplication copies it from the verified record).
pub(crate) fn blob_index_root<'a>(
    blobs: impl IntoIterator<Item = &'a StoredObject>,
) -> std::result::Result<BlobIndexRoot, String> {
    let mut sorted: Vec<&StoredObject> = blobs.into_iter().collect();
    sorted.sort_by(|a, b| a.object.cmp(&b.object));
    let mut hasher = ChecksumHasher::new(ChecksumAlgorithm::Blake3);
    hasher.update(BLOB_INDEX_DOMAIN);
    let mut stored_bytes = 0u64;
    for b in &sorted {
        let checksum = b
            .stored_checksum
            .as_ref()
            .ok_or_else(|| format!("blob {} has no recorded stored checksum", b.object))?;
        hasher.update(format!("{} {} {checksum}\n", b.object, b.stored_size).as_bytes());
        stored_bytes += b.stored_size;
    }
    Ok(BlobIndexRoot {
        count: sorted.len() as u64,
        stored_bytes,
        root: hasher.finish(),
    })
}

/// A verified statement with a fixed test key, for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_verified() -> VerifiedStatement {
    VerifiedStatement {
        statement: tests::sample(),
        signer: SigningPublicKey(SigningKey::from_bytes(&[7u8; 32]).verifying_key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Statement {
        let blobs = vec![StoredObject {
            object: format!("tenants/t/blobs/ab/{}", "ab".repeat(32)),
            stored_size: 10,
            stored_checksum: Some(checksum_of(ChecksumAlgorithm::Blake3, b"x")),
        }];
        Statement {
            format: STATEMENT_FORMAT.into(),
            snapshot: "t/w/e/20260101T000000Z-abcd0123".parse().expect("ref"),
            previous: None,
            started: "2026-01-01T00:00:00Z".into(),
            finished: "2026-01-01T00:00:01.5Z".into(),
            tenant_key_id: "k".into(),
            recipients: vec!["age1x".into()],
            parts: vec![StatementPart {
                path: "tenants/t/snapshots/w/e/20260101T000000Z-abcd0123/dump.age".into(),
                stored_size: 3,
                stored_checksum: checksum_of(ChecksumAlgorithm::Blake3, b"abc"),
                version: None,
            }],
            blob_index: blob_index_root(&blobs).expect("root"),
        }
    }

    fn key(dir: &Path) -> BackupSigningKey {
        BackupSigningKey::generate_file(&dir.join("keys/backup.ed25519")).expect("key")
    }

    #[test]
    fn the_canonical_form_is_fixed_order_compact_json() {
        let text = String::from_utf8(sample().canonical_bytes()).expect("utf8");
        assert!(text.starts_with(
            r#"{"format":"ward-vault/statement/1","snapshot":{"tenant":"t","workload":"w","environment":"e","id":"20260101T000000Z-abcd0123"},"previous":null,"started":"2026-01-01T00:00:00Z""#
        ), "{text}");
        assert!(!text.contains(' ') && !text.contains('\n'), "{text}");
        assert_eq!(sample().hash(), sample().hash());
    }

    #[test]
    fn a_signed_statement_verifies_only_against_its_pinned_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let signer = key(dir.path());
        let other = BackupSigningKey::generate_file(&dir.path().join("other")).expect("other");
        let bytes = encode_signed(&sample(), &signer);
        let verified = decode_verified(&bytes, &[signer.public()]).expect("verifies");
        assert_eq!(verified.statement, sample());
        // A rotation: the old key is still accepted beside the new one.
        assert!(decode_verified(&bytes, &[other.public(), signer.public()]).is_ok());
        let err = decode_verified(&bytes, &[other.public()]).expect_err("foreign signer");
        assert!(err.contains("not a key pinned"), "{err}");
        assert!(decode_verified(&bytes, &[]).is_err());
        // An attacker signing with their own key and naming the pinned one as signer.
        let forged = String::from_utf8(encode_signed(&sample(), &other))
            .expect("utf8")
            .replace(&other.public().to_string(), &signer.public().to_string());
        let err = decode_verified(forged.as_bytes(), &[signer.public()]).expect_err("forged");
        assert!(err.contains("does not verify"), "{err}");
    }

    #[test]
    fn any_changed_field_breaks_the_signature() {
        let dir = tempfile::tempdir().expect("tmp");
        let signer = key(dir.path());
        let text = String::from_utf8(encode_signed(&sample(), &signer)).expect("utf8");
        for (from, to) in [
            (r#""stored_size":3"#, r#""stored_size":4"#),
            (r#""tenant_key_id":"k""#, r#""tenant_key_id":"j""#),
            (
                r#""previous":null"#,
                &format!(r#""previous":"{}""#, sample().hash()),
            ),
            ("20260101T000000Z-abcd0123", "20260101T000000Z-abcd0124"),
        ] {
            assert!(text.contains(from), "{from}");
            let changed = text.replace(from, to);
            assert!(
                decode_verified(changed.as_bytes(), &[signer.public()]).is_err(),
                "{from} -> {to} still verified"
            );
        }
        // Unknown fields are refused rather than ignored.
        let extra = text.replacen(r#"{"statement":"#, r#"{"extra":1,"statement":"#, 1);
        assert!(decode_verified(extra.as_bytes(), &[signer.public()]).is_err());
    }

    #[test]
    fn the_blob_index_root_is_order_independent_and_needs_checksums() {
        let a = StoredObject {
            object: "tenants/t/blobs/aa/a".into(),
            stored_size: 1,
            stored_checksum: Some(checksum_of(ChecksumAlgorithm::Blake3, b"a")),
        };
        let b = StoredObject {
            object: "tenants/t/blobs/bb/b".into(),
            stored_size: 2,
            stored_checksum: Some(checksum_of(ChecksumAlgorithm::Blake3, b"b")),
        };
        let one = blob_index_root(&[a.clone(), b.clone()]).expect("root");
        assert_eq!(one, blob_index_root(&[b.clone(), a.clone()]).expect("root"));
        assert_eq!((one.count, one.stored_bytes), (2, 3));
        let mut grown = b.clone();
        grown.stored_size = 3;
        assert_ne!(
            one.root,
            blob_index_root(&[a.clone(), grown]).expect("root").root
        );
        let bare = StoredObject {
            stored_checksum: None,
            ..a
        };
        assert!(blob_index_root(&[bare]).is_err());
    }

    #[test]
    fn key_files_are_private_and_public_keys_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("keys/backup.ed25519");
        let k = BackupSigningKey::generate_file(&path).expect("key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert_eq!(
                BackupSigningKey::load(&path).expect("load").public(),
                k.public()
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = BackupSigningKey::load(&path).expect_err("world-readable");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        assert!(
            BackupSigningKey::generate_file(&path).is_err(),
            "never overwritten"
        );
        let text = k.public().to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<SigningPublicKey>().expect("parse"), k.public());
        assert!("ed25519:AAAA".parse::<SigningPublicKey>().is_err());
        assert!(text[8..].parse::<SigningPublicKey>().is_err());
        assert!(!format!("{k:?}").contains(&hex::encode(k.key.to_bytes())));
    }
}
