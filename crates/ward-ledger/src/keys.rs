//! The ledger's Ed25519 key pair under `<state>/keys/`, and the record of its first signature.
//! The private key is created on first append, with mode 0600 from the moment the file
//! exists (never chmod-ed later, so there is no window in which others can read it).

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, io_at};
use crate::seal::short;
use crate::store::{self, Paths, sync_dir, write_atomic};

/// The ledger's Ed25519 signing key, for signing a chain kept somewhere other than the
/// state folder's `ledger.jsonl` (the control plane's store). It is still the state
/// folder's `keys/ledger.ed25519`: loading and creating it stays here.
pub struct LedgerKey {
    key: SigningKey,
}

impl LedgerKey {
    /// Loads `keys/ledger.ed25519` (and checks `keys/ledger.pub` against it) from
    /// `state_dir`; refuses with [`LedgerError::Key`] when it is missing.
    pub fn load(state_dir: &Path) -> Result<LedgerKey, LedgerError> {
        let paths = Paths::new(state_dir);
        let key = load_or_create(&paths, false)?;
        Ok(LedgerKey { key })
    }

    /// Like [`LedgerKey::load`], but creates the pair (under the writers' lock) when the
    /// folder has never had one: no key, no file ledger and no first-use record. A folder
    /// whose key is gone but whose ledger or first-use record is not is refused, as an
    /// append to the file ledger would be.
    pub fn load_or_create(state_dir: &Path) -> Result<LedgerKey, LedgerError> {
        let paths = Paths::new(state_dir);
        fs::create_dir_all(&paths.state).map_err(io_at(&paths.state))?;
        let _lock = store::lock(&paths)?;
        let fresh = !paths.ledger.exists() && !paths.head.exists() && first_use(&paths)?.is_none();
        let key = load_or_create(&paths, fresh)?;
        Ok(LedgerKey { key })
    }

    /// A key from its 32-byte seed (for tests, and for keys kept elsewhere).
    pub fn from_seed(seed: [u8; 32]) -> LedgerKey {
        LedgerKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The public half, as checkpoints and heads name it.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    pub(crate) fn from_signing(key: SigningKey) -> LedgerKey {
        LedgerKey { key }
    }

    pub(crate) fn signing(&self) -> &SigningKey {
        &self.key
    }
}

impl fmt::Debug for LedgerKey {
    /// Shows the public half only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerKey")
            .field("public", &self.public_key().to_hex())
            .finish()
    }
}

/// The ledger's Ed25519 public key: what verification checks signatures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// Parses 64 hex characters (surrounding whitespace ignored), as `keys/ledger.pub`
    /// and a pinned key hold it.
    pub fn from_hex(text: &str) -> Result<PublicKey, LedgerError> {
        parse_public_hex(text)
            .map(PublicKey)
            .map_err(LedgerError::InvalidPublicKey)
    }

    /// Lowercase hex, as checkpoints and heads name it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Loads the signing key, creating the pair when neither half exists yet and `may_create`
/// (the ledger is new). Must be called with the ledger lock held, so two writers never
/// race to create it.
pub(crate) fn load_or_create(paths: &Paths, may_create: bool) -> Result<SigningKey, LedgerError> {
    match fs::read(&paths.private_key) {
        Ok(bytes) => {
            let key = SigningKey::from_bytes(&decode32(&bytes, &paths.private_key)?);
            ensure_public(paths, &key.verifying_key())?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if paths.public_key.exists() {
                // A new key would make every existing signature unverifiable: refuse.
                return Err(LedgerError::Key {
                    path: paths.private_key.clone(),
                    message: "the private key is missing but keys/ledger.pub exists; restore \
                              the key rather than start a second one"
                        .to_string(),
                });
            }
            if !may_create {
                // A second key would sign over a ledger the first one signed.
                return Err(LedgerError::Key {
                    path: paths.keys.clone(),
                    message: "the ledger key (keys/ledger.ed25519 and keys/ledger.pub) is \
                              missing but a ledger exists: restore the key rather than start a \
                              second one"
                        .to_string(),
                });
            }
            create(paths)
        }
        Err(e) => Err(io_at(&paths.private_key)(e)),
    }
}

fn create(paths: &Paths) -> Result<SigningKey, LedgerError> {
    create_private_dir(&paths.keys)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| LedgerError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let mut text = hex::encode(seed);
    seed.fill(0);
    text.push('\n');

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let at = io_at(&paths.private_key);
    let mut file = options.open(&paths.private_key).map_err(at)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    text.clear();
    written.map_err(io_at(&paths.private_key))?;
    ensure_public(paths, &key.verifying_key())?;
    sync_dir(&paths.keys)?;
    Ok(key)
}

fn create_private_dir(dir: &Path) -> Result<(), LedgerError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_at(dir))
}

/// Writes `ledger.pub` if it is missing (a crash between the two writes), and refuses a
/// `ledger.pub` that belongs to another key.
fn ensure_public(paths: &Paths, public: &VerifyingKey) -> Result<(), LedgerError> {
    match fs::read(&paths.public_key) {
        Ok(bytes) => {
            if decode32(&bytes, &paths.public_key)? != public.to_bytes() {
                return Err(LedgerError::Key {
                    path: paths.public_key.clone(),
                    message: "does not match the private key keys/ledger.ed25519".to_string(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let text = format!("{}\n", hex::encode(public.to_bytes()));
            write_atomic(&paths.public_key, &paths.public_key_tmp, text.as_bytes())
        }
        Err(e) => Err(io_at(&paths.public_key)(e)),
    }
}

/// The key's first signature here, recorded beside it so that it outlives a deleted ledger.
/// A tripwire rather than a proof: whoever can delete `keys/` can delete it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FirstUse {
    key: String,
    /// The seq of the entry it first signed: 0, or the seq at which a ledger written
    /// before first-use records existed got its record.
    seq: u64,
    time: String,
}

/// Records the key's first signature, unless one is recorded already.
pub(crate) fn record_first_use(
    paths: &Paths,
    key: &VerifyingKey,
    seq: u64,
    time: &str,
) -> Result<(), LedgerError> {
    if paths.first_use.exists() {
        return Ok(());
    }
    let record = FirstUse {
        key: hex::encode(key.to_bytes()),
        seq,
        time: time.to_string(),
    };
    let mut bytes = serde_json::to_vec(&record)?;
    bytes.push(b'\n');
    write_atomic(&paths.first_use, &paths.first_use_tmp, &bytes)
}

/// The key's first signature in words (`key 1a2b… first signed at … (seq 0)`), `None` when
/// none is recorded. An unreadable record still means a key signed here.
pub(crate) fn first_use(paths: &Paths) -> Result<Option<String>, LedgerError> {
    let bytes = match fs::read(&paths.first_use) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(&paths.first_use)(e)),
    };
    Ok(Some(match serde_json::from_slice::<FirstUse>(&bytes) {
        Ok(r) => format!(
            "key {} first signed at {} (seq {})",
            short(&r.key),
            r.time,
            r.seq
        ),
        Err(e) => format!(
            "a key first signed here ({} is unreadable: {e})",
            paths.first_use.display()
        ),
    }))
}

/// Why the public key cannot be used, in words: verify reports this as a problem.
pub(crate) fn load_public(paths: &Paths) -> Result<Result<VerifyingKey, String>, LedgerError> {
    let bytes = match fs::read(&paths.public_key) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Err(format!(
                "{} is missing, so no signature can be checked",
                paths.public_key.display()
            )));
        }
        Err(e) => return Err(io_at(&paths.public_key)(e)),
    };
    Ok(match decode32(&bytes, &paths.public_key) {
        Ok(raw) => parse_public(&raw).map_err(|m| format!("{}: {m}", paths.public_key.display())),
        Err(e) => Err(e.to_string()),
    })
}

/// Parses a public key given as 64 hex characters (a pinned key).
pub(crate) fn parse_public_hex(text: &str) -> Result<VerifyingKey, String> {
    let raw: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a public key must be 64 hex characters".to_string())?;
    parse_public(&raw)
}

fn parse_public(raw: &[u8; 32]) -> Result<VerifyingKey, String> {
    VerifyingKey::from_bytes(raw).map_err(|_| "not a valid Ed25519 public key".to_string())
}

/// Key files hold 32 bytes as 64 hex characters and a newline.
fn decode32(bytes: &[u8], path: &Path) -> Result<[u8; 32], LedgerError> {
    let bad = || LedgerError::Key {
        path: path.to_path_buf(),
        message: "expected 64 hex characters (32 bytes)".to_string(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = Paths::new(dir.path());
        (dir, paths)
    }

    #[test]
    fn creates_once_then_reloads_the_same_key() {
        let (_dir, paths) = paths();
        let first = load_or_create(&paths, true).expect("creates");
        let again = load_or_create(&paths, true).expect("loads");
        assert_eq!(first.to_bytes(), again.to_bytes());
        let public = load_public(&paths).expect("reads").expect("valid");
        assert_eq!(public, first.verifying_key());
    }

    #[cfg(unix)]
    #[test]
    fn private_key_is_0600_and_its_folder_0700() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, paths) = paths();
        load_or_create(&paths, true).expect("creates");
        let mode = |p: &Path| fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&paths.private_key), 0o600);
        assert_eq!(mode(&paths.keys), 0o700);
    }

    #[test]
    fn a_missing_public_key_is_rewritten_from_the_private_key() {
        let (_dir, paths) = paths();
        let key = load_or_create(&paths, true).expect("creates");
        fs::remove_file(&paths.public_key).expect("remove");
        load_or_create(&paths, true).expect("loads");
        assert_eq!(load_public(&paths).expect("reads"), Ok(key.verifying_key()));
    }

    #[test]
    fn refuses_a_public_key_of_another_pair() {
        let (_dir, paths) = paths();
        load_or_create(&paths, true).expect("creates");
        let other = SigningKey::from_bytes(&[9; 32]).verifying_key();
        fs::write(&paths.public_key, hex::encode(other.to_bytes())).expect("write");
        let err = load_or_create(&paths, true).expect_err("mismatch");
        assert!(matches!(err, LedgerError::Key { .. }), "{err}");
    }

    #[test]
    fn refuses_to_replace_a_lost_private_key() {
        let (_dir, paths) = paths();
        load_or_create(&paths, true).expect("creates");
        fs::remove_file(&paths.private_key).expect("remove");
        let err = load_or_create(&paths, true).expect_err("lost key");
        assert!(err.to_string().contains("private key is missing"), "{err}");
        assert!(!paths.private_key.exists());
    }

    #[test]
    fn garbage_key_files_are_typed_errors() {
        let (_dir, paths) = paths();
        fs::create_dir_all(&paths.keys).expect("mkdir");
        fs::write(&paths.private_key, b"\xff\xfe not hex").expect("write");
        assert!(matches!(
            load_or_create(&paths, true),
            Err(LedgerError::Key { .. })
        ));
        fs::write(&paths.public_key, b"abcd").expect("write");
        let problem = load_public(&paths).expect("reads").expect_err("bad");
        assert!(problem.contains("64 hex characters"), "{problem}");
    }

    #[test]
    fn a_missing_public_key_is_a_problem_not_an_error() {
        let (_dir, paths) = paths();
        let problem = load_public(&paths).expect("reads").expect_err("missing");
        assert!(problem.contains("is missing"), "{problem}");
    }

    #[test]
    fn pinned_keys_are_parsed_from_hex() {
        let key = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert_eq!(parse_public_hex(&hex::encode(key.to_bytes())), Ok(key));
        assert!(parse_public_hex("nothex").is_err());
    }
}
