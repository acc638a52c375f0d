//! Amortised X25519 for filestore blobs, as backups wrote them before data keys
//! (datakey.rs): one ephemeral key per backup run instead of one per blob. Still read;
//! only tests write it now.
//!
//! Each blob stays an age file with its own random file key. Its header carries, per
//! recipient, a `ward-x25519-run` stanza: `[epk, salt]` and the file key sealed
//! (ChaCha20-Poly1305) under `HKDF(salt, HKDF(epk ‖ pk, X25519(esk, pk)))`. Only holders of a
//! recipient's identity can unwrap it; the backup host forgets `esk` when the run ends, so
//! it cannot read what it wrote.

use std::collections::HashMap;
#[cfg(test)]
use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

use age::secrecy::ExposeSecret;
use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
#[cfg(test)]
use age_core::primitives::aead_encrypt;
use age_core::primitives::{aead_decrypt, hkdf};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use x25519_dalek::{PublicKey, StaticSecret};

#[cfg(test)]
use crate::error::{Result, VaultError};

const TAG: &str = "ward-x25519-run";
const RUN_LABEL: &[u8] = b"ward-vault/x25519-run/v1";
const BLOB_LABEL: &[u8] = b"ward-vault/x25519-run/v1/blob";
const SALT_BYTES: usize = 16;
/// Run keys remembered by an identity (one per backup run whose blobs it decrypts).
const CACHE_LIMIT: usize = 4096;

#[cfg(test)]
fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| VaultError::InvalidInput(format!("no system randomness: {e}")))?;
    Ok(out)
}

fn bech32_bytes(text: &str) -> Option<[u8; 32]> {
    let (_, data) = bech32::decode(text).ok()?;
    data.try_into().ok()
}

fn run_key(shared: &[u8; 32], epk: &[u8; 32], pk: &[u8; 32]) -> Option<[u8; 32]> {
    // A non-contributory (all-zero) shared secret means a low-order point: refuse it.
    if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
        return None;
    }
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(epk);
    salt[32..].copy_from_slice(pk);
    Some(hkdf(&salt, RUN_LABEL, shared))
}

/// The recipient side for one backup run: an ephemeral key and a run key per recipient.
#[cfg(test)]
pub(crate) struct RunRecipient {
    epk: [u8; 32],
    keys: Vec<[u8; 32]>,
}

#[cfg(test)]
impl fmt::Debug for RunRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunRecipient({} recipient(s), ***)", self.keys.len())
    }
}

#[cfg(test)]
impl RunRecipient {
    pub(crate) fn new(recipients: &[age::x25519::Recipient]) -> Result<RunRecipient> {
        let esk = StaticSecret::from(random::<32>()?);
        let epk = PublicKey::from(&esk).to_bytes();
        let mut keys = Vec::new();
        for r in recipients {
            let text = r.to_string();
            let pk =
                bech32_bytes(&text).ok_or_else(|| VaultError::InvalidRecipient(text.clone()))?;
            let shared = esk.diffie_hellman(&PublicKey::from(pk)).to_bytes();
            keys.push(run_key(&shared, &epk, &pk).ok_or(VaultError::InvalidRecipient(text))?);
        }
        Ok(RunRecipient { epk, keys })
    }
}

#[cfg(test)]
impl age::Recipient for RunRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> std::result::Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let epk = B64.encode(self.epk);
        let mut stanzas = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let salt = random::<SALT_BYTES>()
                .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
            let wrap = hkdf(&salt, BLOB_LABEL, key);
            stanzas.push(Stanza {
                tag: TAG.to_string(),
                args: vec![epk.clone(), B64.encode(salt)],
                body: aead_encrypt(&wrap, file_key.expose_secret()),
            });
        }
        Ok((stanzas, HashSet::new()))
    }
}

/// The identity side: unwraps `ward-x25519-run` stanzas with X25519 secret keys, caching
/// the run key of each ephemeral key it has seen.
pub(crate) struct RunIdentity {
    secrets: Vec<(StaticSecret, [u8; 32])>,
    cache: Mutex<HashMap<[u8; 32], Vec<[u8; 32]>>>,
}

impl fmt::Debug for RunIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunIdentity({} key(s), ***)", self.secrets.len())
    }
}

impl RunIdentity {
    pub(crate) fn new(identities: &[age::x25519::Identity]) -> RunIdentity {
        let secrets = identities
            .iter()
            .filter_map(|i| bech32_bytes(i.to_string().expose_secret()))
            .map(|sk| {
                let secret = StaticSecret::from(sk);
                let pk = PublicKey::from(&secret).to_bytes();
                (secret, pk)
            })
            .collect();
        RunIdentity {
            secrets,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn run_keys(&self, epk: &[u8; 32]) -> Vec<[u8; 32]> {
        if let Some(keys) = self.cache.lock().ok().and_then(|c| c.get(epk).cloned()) {
            return keys;
        }
        let keys: Vec<[u8; 32]> = self
            .secrets
            .iter()
            .filter_map(|(sk, pk)| {
                let shared = sk.diffie_hellman(&PublicKey::from(*epk)).to_bytes();
                run_key(&shared, epk, pk)
            })
            .collect();
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(*epk, keys.clone());
        }
        keys
    }
}

impl age::Identity for RunIdentity {
    fn unwrap_stanza(
        &self,
        stanza: &Stanza,
    ) -> Option<std::result::Result<FileKey, age::DecryptError>> {
        if stanza.tag != TAG {
            return None;
        }
        let invalid = Some(Err(age::DecryptError::InvalidHeader));
        let [epk, salt] = stanza.args.as_slice() else {
            return invalid;
        };
        let (Some(epk), Some(salt)) = (
            B64.decode(epk)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok()),
            B64.decode(salt)
                .ok()
                .and_then(|b| <[u8; SALT_BYTES]>::try_from(b).ok()),
        ) else {
            return invalid;
        };
        if stanza.body.len() != FILE_KEY_BYTES + 16 {
            return invalid;
        }
        for key in self.run_keys(&epk) {
            let wrap = hkdf(&salt, BLOB_LABEL, &key);
            if let Ok(plain) = aead_decrypt(&wrap, FILE_KEY_BYTES, &stanza.body) {
                return Some(Ok(FileKey::init_with_mut(|fk| fk.copy_from_slice(&plain))));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn roundtrip(recipient: &RunRecipient, identity: &RunIdentity, data: &[u8]) -> Option<Vec<u8>> {
        let enc =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .expect("encryptor");
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).expect("wrap");
        w.write_all(data).expect("write");
        w.finish().expect("finish");
        let dec = age::Decryptor::new(&out[..]).expect("decryptor");
        let mut r = dec
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .ok()?;
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).ok()?;
        Some(plain)
    }

    #[test]
    fn every_recipient_decrypts_and_strangers_do_not() {
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let stranger = age::x25519::Identity::generate();
        let run = RunRecipient::new(&[a.to_public(), b.to_public()]).expect("run");
        for id in [&a, &b] {
            let ident = RunIdentity::new(std::slice::from_ref(id));
            for data in [&b""[..], b"hello", &[7u8; 100_000][..]] {
                assert_eq!(roundtrip(&run, &ident, data).as_deref(), Some(data));
            }
        }
        let other = RunIdentity::new(&[stranger]);
        assert_eq!(roundtrip(&run, &other, b"secret"), None);
        // A standard age identity ignores the stanza (no matching key), never panics.
        let enc = age::Encryptor::with_recipients(std::iter::once(&run as &dyn age::Recipient))
            .expect("encryptor");
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).expect("wrap");
        w.write_all(b"x").expect("write");
        w.finish().expect("finish");
        let dec = age::Decryptor::new(&out[..]).expect("decryptor");
        assert!(
            dec.decrypt(std::iter::once(&a as &dyn age::Identity))
                .is_err()
        );
        assert!(!format!("{run:?} {other:?}").contains("AGE-SECRET"));
    }

    #[test]
    fn two_runs_use_different_ephemeral_keys() {
        let a = age::x25519::Identity::generate();
        let r1 = RunRecipient::new(&[a.to_public()]).expect("run");
        let r2 = RunRecipient::new(&[a.to_public()]).expect("run");
        assert_ne!(r1.epk, r2.epk);
        assert_ne!(r1.keys, r2.keys);
    }
}
