//! Keys: age recipients and identities, the per-tenant repository key that names blobs,
//! and secret strings that never print.
//!
//! Blob names are `HMAC-SHA256(repository key, sha1)`, so the store never shows a content
//! hash that would confirm a known document is present. Identity files others may read
//! are refused, as ssh refuses such keys; key material is wiped from memory once dropped.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, VaultError, io_err};

/// A string that must never be shown: passwords, credentials. `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }
    /// The secret itself, for handing to a library or a child's environment — never to output.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The age recipients (X25519 public keys) every object is encrypted to: each DBA plus a
/// break-glass recovery recipient.
#[derive(Clone)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
    /// Set for a backup run: its objects are sealed under the run's data key, and only
    /// the key itself is encrypted to `keys` (datakey.rs).
    data_key: Option<std::sync::Arc<crate::datakey::DataKey>>,
}

impl Recipients {
    /// Parses `age1…` strings; at least one is required.
    pub fn parse<S: AsRef<str>>(recipients: &[S]) -> Result<Recipients> {
        let mut parsed = Vec::new();
        for r in recipients {
            let r = r.as_ref().trim();
            parsed.push(
                age::x25519::Recipient::from_str(r)
                    .map_err(|_| VaultError::InvalidRecipient(r.to_string()))?,
            );
        }
        if parsed.is_empty() {
            return Err(VaultError::InvalidInput(
                "at least one age recipient is needed to encrypt a backup".into(),
            ));
        }
        Ok(Recipients {
            keys: parsed,
            data_key: None,
        })
    }

    /// The same recipients for one backup run: every object it writes is sealed under a
    /// fresh data key (one stanza, one HKDF per object, however many recipients), which
    /// the run must publish (`datakey::publish`) to the plain recipients first.
    pub(crate) fn for_run(&self) -> Result<Recipients> {
        Ok(Recipients {
            keys: self.keys.clone(),
            data_key: Some(std::sync::Arc::new(crate::datakey::DataKey::generate()?)),
        })
    }

    /// Seals under `key` alone (no recipient): a tenant's pack indexes (pack.rs).
    pub(crate) fn sealed_under(key: crate::datakey::DataKey) -> Recipients {
        Recipients {
            keys: Vec::new(),
            data_key: Some(std::sync::Arc::new(key)),
        }
    }

    /// The run's data key, when these are a run's recipients.
    pub(crate) fn data_key(&self) -> Option<&crate::datakey::DataKey> {
        self.data_key.as_deref()
    }

    /// The recipients themselves, without a run's data key.
    pub(crate) fn plain(&self) -> Recipients {
        Recipients {
            keys: self.keys.clone(),
            data_key: None,
        }
    }

    pub(crate) fn as_dyn(&self) -> std::vec::IntoIter<&dyn age::Recipient> {
        let list: Vec<&dyn age::Recipient> = match &self.data_key {
            Some(key) => vec![key.as_ref() as &dyn age::Recipient],
            None => self.keys.iter().map(|r| r as &dyn age::Recipient).collect(),
        };
        list.into_iter()
    }

    /// The recipients as `age1…` strings (public, safe to show).
    pub fn to_strings(&self) -> Vec<String> {
        self.keys.iter().map(|r| r.to_string()).collect()
    }
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_strings()).finish()
    }
}

/// Age identities (X25519 secret keys) that can decrypt a repository. `Debug` redacts them.
/// No wiping here: age's `x25519::Identity` holds an x25519-dalek `StaticSecret`, which
/// zeroizes itself on drop, as does the `SecretString` its `to_string` returns.
#[derive(Clone)]
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    /// The same keys, for blobs written with one ephemeral key per run (before data keys).
    run: std::sync::Arc<crate::runkey::RunIdentity>,
    /// The data keys opened with these keys so far (datakey.rs), shared by every clone.
    data_keys: std::sync::Arc<crate::datakey::DataKeyRing>,
}

impl Identities {
    /// Reads an age identity file (`AGE-SECRET-KEY-1…` lines; `#` comments allowed),
    /// refusing one that others may read ([`private_file_exposure`]). Its text is wiped
    /// once parsed.
    pub fn from_file(path: &Path) -> Result<Identities> {
        let invalid = |reason: String| VaultError::InvalidIdentity {
            path: path.to_path_buf(),
            reason,
        };
        let text = read_private_file(path, "reading the identity file").map_err(|e| match e {
            PrivateRead::Exposed(reason) => invalid(reason),
            PrivateRead::Failed(e) => e,
        })?;
        Self::parse(&text).map_err(invalid)
    }

    /// Uses `explicit` if given (the caller's flag, else its `WARD_IDENTITY`), else
    /// `fallback` if it exists.
    pub fn locate(explicit: Option<&Path>, fallback: Option<&Path>) -> Result<Identities> {
        if let Some(p) = explicit {
            return Self::from_file(p);
        }
        match fallback {
            Some(p) if p.exists() => Self::from_file(p),
            _ => Err(VaultError::IdentityRequired),
        }
    }

    fn parse(text: &str) -> std::result::Result<Identities, String> {
        let mut ids = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echo the line: it is a secret key.
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| format!("line {} is not an age X25519 secret key", n + 1))?;
            ids.push(id);
        }
        if ids.is_empty() {
            return Err("no AGE-SECRET-KEY line found".into());
        }
        let run = std::sync::Arc::new(crate::runkey::RunIdentity::new(&ids));
        Ok(Identities {
            keys: ids,
            run,
            data_keys: Default::default(),
        })
    }

    /// Opens only what is sealed under `key`: the pack indexes, for a backup or a garbage
    /// collection that holds the tenant key and no identity.
    pub(crate) fn of_data_key(key: crate::datakey::DataKey) -> Identities {
        let ids = Identities {
            keys: Vec::new(),
            run: std::sync::Arc::new(crate::runkey::RunIdentity::new(&[])),
            data_keys: Default::default(),
        };
        ids.data_keys.insert(key);
        ids
    }

    pub(crate) fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys
            .iter()
            .map(|i| i as &dyn age::Identity)
            .chain(std::iter::once(self.run.as_ref() as &dyn age::Identity))
            .chain(std::iter::once(
                self.data_keys.as_ref() as &dyn age::Identity
            ))
    }

    pub(crate) fn data_keys(&self) -> &crate::datakey::DataKeyRing {
        &self.data_keys
    }

    /// The public recipients of these identities.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} key(s), ***)", self.keys.len())
    }
}

/// What exposes a private key file to others, if anything, from its permission bits, its
/// owner and the user reading it: any bit for others (`o`), or a bit for the group when
/// the file is the reader's own. The rule is ssh's for its private keys, plus the
/// world-readable case whoever owns the file. A group bit on a file another user owns is
/// allowed, because that is how Kubernetes mounts a Secret for a non-root container (the
/// file is root's, mode `0440` with the pod's `fsGroup`: only the pod's user reads it).
pub fn private_file_exposure(mode: u32, owner: u32, reader: u32) -> Option<String> {
    let bits = mode & 0o777;
    let exposed = bits & 0o007 != 0 || (owner == reader && bits & 0o070 != 0);
    exposed.then(|| {
        let who = if bits & 0o007 != 0 {
            "every user"
        } else {
            "its group"
        };
        format!("its permissions ({bits:04o}) let {who} read or change it")
    })
}

enum PrivateRead {
    Exposed(String),
    Failed(VaultError),
}

/// Reads a private key file, checking the opened file (not the path again) with
/// [`private_file_exposure`], into a buffer sized once (no reallocation leaves a copy
/// behind) and wiped when dropped.
fn read_private_file(
    path: &Path,
    what: &'static str,
) -> std::result::Result<Zeroizing<String>, PrivateRead> {
    use std::os::unix::fs::MetadataExt;
    let failed = |e| PrivateRead::Failed(io_err(what, path)(e));
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    let reader = rustix::process::geteuid().as_raw();
    if let Some(problem) = private_file_exposure(meta.mode(), meta.uid(), reader) {
        return Err(PrivateRead::Exposed(format!(
            "{problem}, and a private key must be its owner's alone (ssh refuses such keys \
             too); run `chmod 600 {}`",
            path.display()
        )));
    }
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.read_to_string(&mut text).map_err(failed)?;
    Ok(text)
}

/// Generates a new age X25519 identity into `path` (created new, mode 0600) and returns its
/// public recipient (`age1…`). Fails if the file exists, so a key is never overwritten.
pub fn generate_identity_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err("creating the identity folder", parent))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("creating the identity file", path))?;
    let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    // `identity` and the `SecretString` of its text wipe themselves; the file's text too.
    let body = Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    ));
    file.write_all(body.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io_err("writing the identity file", path))?;
    Ok(recipient)
}

/// The per-tenant secret that names blobs. Stored in the repository encrypted to the
/// recipients; backups need it in the clear, so the CLI caches it (mode 0600). Wiped when
/// dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RepositoryKey([u8; 32]);

impl Drop for RepositoryKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for RepositoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryKey(id {}, ***)", self.id())
    }
}

type HmacSha256 = Hmac<Sha256>;

impl RepositoryKey {
    pub fn generate() -> Result<RepositoryKey> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| VaultError::InvalidInput(format!("no system randomness: {e}")))?;
        Ok(RepositoryKey(key))
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<RepositoryKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(RepositoryKey(arr))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC zero-pads keys shorter than the block, so padding here gives the standard
        // HMAC of the 32-byte key through the infallible constructor.
        // The padded copy is wiped; hmac 0.12 keeps the key's inner and outer pads in its
        // state and does not wipe them (no `zeroize` support in that version).
        let mut padded = Zeroizing::new([0u8; 64]);
        padded[..32].copy_from_slice(&self.0);
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new(&(*padded).into());
        mac.update(domain);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A public fingerprint of the key (safe to store in plaintext): tells which key a
    /// repository uses without revealing it.
    pub fn id(&self) -> String {
        hex::encode(&self.mac(b"ward-vault key id\0", b"")[..8])
    }

    /// The object name of a blob whose content sha1 (hex) is `sha1_hex`.
    pub fn blob_name(&self, sha1_hex: &str) -> String {
        hex::encode(self.mac(b"ward-vault blob v1\0", sha1_hex.as_bytes()))
    }

    /// The object name of a dump chunk whose plaintext checksum is `checksum`; another
    /// domain than blobs', so a chunk and an attachment never share a name.
    pub(crate) fn chunk_name(&self, checksum: &crate::checksum::Checksum) -> String {
        hex::encode(self.mac(b"ward-vault chunk v1\0", checksum.to_string().as_bytes()))
    }

    /// The seed of the tenant's chunker gear: cut points depend on a secret, so chunk
    /// sizes do not fingerprint a known dump (restic picks a random polynomial likewise).
    pub(crate) fn chunker_seed(&self) -> u64 {
        let mac = self.mac(b"ward-vault chunker seed v1\0", b"");
        u64::from_le_bytes(mac[..8].try_into().unwrap_or_default())
    }

    /// Reads a cached key file written by [`RepositoryKey::save`].
    pub fn load(path: &Path) -> Result<RepositoryKey> {
        let mut text = Zeroizing::new(String::with_capacity(65));
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(io_err("reading the repository key", path))?;
        hex::decode(text.trim())
            .ok()
            .map(Zeroizing::new)
            .and_then(|b| Self::from_bytes(&b))
            .ok_or_else(|| {
                VaultError::InvalidInput(format!("{} is not a repository key file", path.display()))
            })
    }

    /// Writes the key to `path` with mode 0600 (replacing an existing file atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err("creating the key folder", parent))?;
        }
        let tmp: PathBuf = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("writing the repository key", &tmp))?;
        f.write_all(Zeroizing::new(hex::encode(self.0)).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io_err("writing the repository key", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err("writing the repository key", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = SecretString::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let k = RepositoryKey::generate().expect("key");
        assert!(!format!("{k:?}").contains(&hex::encode(k.bytes())));
    }

    #[test]
    fn blob_names_depend_on_key() {
        let a = RepositoryKey::generate().expect("key");
        let b = RepositoryKey::generate().expect("key");
        let sha = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        assert_eq!(a.blob_name(sha), a.blob_name(sha));
        assert_ne!(a.blob_name(sha), b.blob_name(sha));
        assert!(!a.blob_name(sha).contains(sha));
        assert_eq!(a.blob_name(sha).len(), 64);
        let mut reference = HmacSha256::new_from_slice(a.bytes()).expect("hmac");
        reference.update(b"ward-vault blob v1\0");
        reference.update(sha.as_bytes());
        assert_eq!(
            a.blob_name(sha),
            hex::encode(reference.finalize().into_bytes())
        );
    }

    #[test]
    fn identity_file_is_private_and_parses() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state/dba.age");
        let recipient = generate_identity_file(&path).expect("generate");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let ids = Identities::from_file(&path).expect("parse");
        assert_eq!(ids.recipients(), vec![recipient.clone()]);
        assert!(Recipients::parse(&[recipient]).is_ok());
        assert!(generate_identity_file(&path).is_err(), "never overwrites");
        assert!(!format!("{ids:?}").contains("AGE-SECRET"));
    }

    #[test]
    fn exposure_follows_ssh_and_admits_a_mounted_secret() {
        let (me, root) = (1000, 0);
        for mode in [0o600, 0o400, 0o700, 0o100600] {
            assert_eq!(private_file_exposure(mode, me, me), None, "{mode:o}");
        }
        for mode in [0o640, 0o644, 0o660, 0o604, 0o606, 0o100644] {
            assert!(private_file_exposure(mode, me, me).is_some(), "{mode:o}");
        }
        // A Kubernetes Secret file: root's, 0440 through the pod's fsGroup.
        assert_eq!(private_file_exposure(0o440, root, me), None);
        // Bits for every user expose it whoever owns it.
        assert!(private_file_exposure(0o444, root, me).is_some());
        let why = private_file_exposure(0o644, me, me).expect("exposed");
        assert!(why.contains("0644") && why.contains("every user"), "{why}");
        let why = private_file_exposure(0o640, me, me).expect("exposed");
        assert!(why.contains("its group"), "{why}");
    }

    #[test]
    fn an_identity_file_others_may_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("dba.age");
        generate_identity_file(&path).expect("generate");
        let chmod = |mode| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        for mode in [0o644, 0o640, 0o604] {
            chmod(mode);
            let err = Identities::from_file(&path).expect_err("exposed");
            let text = err.to_string();
            assert!(matches!(err, VaultError::InvalidIdentity { .. }), "{text}");
            assert_eq!(err.exit_code(), 2, "bad input");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                text.contains(&format!("`chmod 600 {}`", path.display())),
                "{text}"
            );
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(!text.contains("AGE-SECRET"), "{text}");
        }
        for mode in [0o600, 0o400] {
            chmod(mode);
            Identities::from_file(&path).expect("private again");
        }
        // Another user's file, mode 0440, as a Kubernetes Secret volume with an fsGroup
        // mounts it: only root can make one here.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&path, Some(65_532), Some(65_532)).expect("chown");
            chmod(0o440);
            Identities::from_file(&path).expect("a mounted secret is read");
            chmod(0o444);
            Identities::from_file(&path).expect_err("but not one every user reads");
        }
    }

    #[test]
    fn bad_identity_file_does_not_echo_content() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bad");
        std::fs::write(&path, "AGE-SECRET-KEY-NOTREALLYAKEY\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = Identities::from_file(&path).expect_err("invalid");
        assert!(err.to_string().contains("line 1 is not"), "{err}");
        assert!(!err.to_string().contains("NOTREALLY"), "{err}");
    }
}
