//! Data keys: each backup run seals every object it writes (chunks, blobs, the sealed
//! manifest) under one fresh 32-byte data key, stored once as `data-keys/<id>.age`, an age
//! file to the recipients. Re-wrapping that small file re-keys the whole run (`rewrap.rs`).
//!
//! Each object stays an age file with its own random file key. Its header carries one
//! `ward-data-key` stanza, `[id, salt]`, the file key sealed (ChaCha20-Poly1305) under
//! `HKDF(salt, data key)`. The backup host forgets the data key when the run ends, so it
//! cannot read what it wrote; the id is a keyed hash of the key, so a planted key file
//! whose key does not give its id is never used.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock};

use age::secrecy::ExposeSecret;
use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use zeroize::Zeroizing;

use crate::error::{Result, VaultError};
use crate::keys::{Identities, Recipients};
use crate::manifest::{data_key_dir, data_key_path};
use crate::pipeline::{DecodeDigests, PlainDigest, decode_bytes, encode_to_vec};
use crate::store::Repository;

const TAG: &str = "ward-data-key";
const WRAP_LABEL: &[u8] = b"ward-vault/data-key/v1/file-key";
const ID_CONTEXT: &str = "ward-vault data key id v1";
const SALT_BYTES: usize = 16;
const KEY_BYTES: usize = 32;

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| VaultError::InvalidInput(format!("no system randomness: {e}")))?;
    Ok(out)
}

/// The id a data key is stored and named under: a keyed hash of the key (32 hex digits).
fn id_of(key: &[u8; KEY_BYTES]) -> String {
    hex::encode(&blake3::derive_key(ID_CONTEXT, key)[..16])
}

/// One backup run's data key. `Debug` shows only its id; the key is wiped when dropped.
pub(crate) struct DataKey {
    id: String,
    key: Zeroizing<[u8; KEY_BYTES]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey({}, ***)", self.id)
    }
}

impl DataKey {
    pub(crate) fn generate() -> Result<DataKey> {
        let key = Zeroizing::new(random::<KEY_BYTES>()?);
        Ok(DataKey {
            id: id_of(&key),
            key,
        })
    }

    /// The key a tenant's pack indexes are sealed under (pack.rs): derived from the tenant
    /// key, so whoever names blobs (a backup, garbage collection) can find them, and no
    /// other key opens the index.
    pub(crate) fn pack_index_key(tenant_key: &crate::keys::RepositoryKey) -> DataKey {
        let key = Zeroizing::new(blake3::derive_key(
            "ward-vault pack index key v1",
            tenant_key.bytes(),
        ));
        DataKey {
            id: id_of(&key),
            key,
        }
    }

    fn from_bytes(bytes: &[u8]) -> Option<DataKey> {
        let key = Zeroizing::new(<[u8; KEY_BYTES]>::try_from(bytes).ok()?);
        Some(DataKey {
            id: id_of(&key),
            key,
        })
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The key file: the key, age-encrypted (standard X25519) to `recipients`.
    fn sealed_to(&self, recipients: &Recipients, object: &str) -> Result<Vec<u8>> {
        // The plain recipients, never a run's data key: a key sealed under itself opens nothing.
        let (_, sealed) = encode_to_vec(&self.key[..], PlainDigest::CHECKSUM, &recipients.plain())
            .map_err(crate::error::io_err("encrypting a data key", object))?;
        Ok(sealed)
    }
}

impl age::Recipient for DataKey {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> std::result::Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let salt = random::<SALT_BYTES>()
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))?;
        let wrap = hkdf(&salt, WRAP_LABEL, &self.key[..]);
        let stanza = Stanza {
            tag: TAG.to_string(),
            args: vec![self.id.clone(), B64.encode(salt)],
            body: aead_encrypt(&wrap, file_key.expose_secret()),
        };
        // A label: age refuses to mix this stanza with others, so an object sealed under a
        // data key is never also readable by a recipient a rewrap cannot reach.
        Ok((vec![stanza], HashSet::from([TAG.to_string()])))
    }
}

/// The data keys an identity has opened, shared by its clones: unwraps `ward-data-key`
/// stanzas whose key it holds.
#[derive(Default)]
pub(crate) struct DataKeyRing {
    keys: RwLock<HashMap<String, Arc<DataKey>>>,
}

impl fmt::Debug for DataKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.keys.read().map(|k| k.len()).unwrap_or(0);
        write!(f, "DataKeyRing({n} key(s), ***)")
    }
}

impl DataKeyRing {
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.keys.read().is_ok_and(|k| k.contains_key(id))
    }
    pub(crate) fn insert(&self, key: DataKey) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.id.clone(), Arc::new(key));
        }
    }
    fn get(&self, id: &str) -> Option<Arc<DataKey>> {
        self.keys.read().ok()?.get(id).cloned()
    }
}

impl age::Identity for DataKeyRing {
    fn unwrap_stanza(
        &self,
        stanza: &Stanza,
    ) -> Option<std::result::Result<FileKey, age::DecryptError>> {
        if stanza.tag != TAG {
            return None;
        }
        let invalid = Some(Err(age::DecryptError::InvalidHeader));
        let [id, salt] = stanza.args.as_slice() else {
            return invalid;
        };
        let Some(salt) = B64
            .decode(salt)
            .ok()
            .and_then(|b| <[u8; SALT_BYTES]>::try_from(b).ok())
        else {
            return invalid;
        };
        if stanza.body.len() != FILE_KEY_BYTES + 16 {
            return invalid;
        }
        let key = self.get(id)?;
        let wrap = hkdf(&salt, WRAP_LABEL, &key.key[..]);
        match aead_decrypt(&wrap, FILE_KEY_BYTES, &stanza.body) {
            Ok(plain) => Some(Ok(FileKey::init_with_mut(|fk| fk.copy_from_slice(&plain)))),
            Err(_) => Some(Err(age::DecryptError::DecryptionFailed)),
        }
    }
}

/// Stores a run's data key, encrypted to `recipients`, before anything is sealed under it.
pub(crate) async fn publish(
    repo: &Repository,
    tenant: &str,
    key: &DataKey,
    recipients: &Recipients,
) -> Result<()> {
    let object = data_key_path(tenant, key.id());
    let sealed = key.sealed_to(recipients, &object)?;
    repo.put(&object, sealed.into()).await
}

/// What opening a stored key file gave.
pub(crate) enum Opened {
    Key(DataKey),
    /// None of the identities is a recipient of the file.
    NotOurs,
}

/// Decrypts one stored key file with `ids`' X25519 keys, refusing one whose key does not
/// give the id it is stored under.
pub(crate) fn open_file(object: &str, id: &str, bytes: &[u8], ids: &Identities) -> Result<Opened> {
    match decode_bytes(bytes, ids, DecodeDigests::checksummed(None, None)) {
        Ok((_, plain)) => {
            let plain = Zeroizing::new(plain);
            match DataKey::from_bytes(&plain) {
                Some(key) if key.id == id => Ok(Opened::Key(key)),
                _ => Err(VaultError::Corrupted {
                    object: object.to_string(),
                    reason: "the key it holds does not give the id it is stored under".into(),
                }),
            }
        }
        Err(crate::pipeline::DecodeError::WrongKey) => Ok(Opened::NotOurs),
        Err(e) => Err(e.into_vault(object)),
    }
}

/// The ids of the tenant's stored data keys, with their object paths, sorted.
pub(crate) async fn stored_ids(repo: &Repository, tenant: &str) -> Result<Vec<(String, String)>> {
    Ok(repo
        .list(&data_key_dir(tenant))
        .await?
        .into_iter()
        .filter_map(|(rel, _)| {
            let id = rel.rsplit('/').next()?.strip_suffix(".age")?.to_string();
            (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, rel))
        })
        .collect())
}

/// Opens every data key of `tenant` that `ids` can and does not hold yet, so that objects
/// sealed under them decrypt. Key files the identities are no recipient of are skipped (a
/// rewrap may have moved them to others); a damaged or mislabelled one is skipped too, and
/// any object sealed under it then fails to decrypt, naming itself.
pub(crate) async fn open_tenant_keys(
    repo: &Repository,
    tenant: &str,
    ids: &Identities,
) -> Result<()> {
    let ring = ids.data_keys();
    for (id, object) in stored_ids(repo, tenant).await? {
        if ring.holds(&id) {
            continue;
        }
        let Some(bytes) = repo.get_bytes(&object).await? else {
            continue;
        };
        if let Ok(Opened::Key(key)) = open_file(&object, &id, &bytes, ids) {
            ring.insert(key);
        }
    }
    Ok(())
}

/// After [`open_tenant_keys`]: fails unless `ids` hold data key `id`, naming why: the key
/// file is missing (nothing its run sealed decrypts), or not encrypted to these identities.
pub(crate) async fn require(
    repo: &Repository,
    tenant: &str,
    id: &str,
    ids: &Identities,
) -> Result<()> {
    if ids.data_keys().holds(id) {
        return Ok(());
    }
    let object = data_key_path(tenant, id);
    match repo.head(&object).await? {
        None => Err(VaultError::Corrupted {
            object,
            reason: "the run's data key is missing: nothing the run sealed can be decrypted".into(),
        }),
        Some(_) => Err(VaultError::WrongKey { object }),
    }
}

/// Re-encrypts one opened key to `recipients`: the bytes to store in its place.
pub(crate) fn reseal(key: &DataKey, recipients: &Recipients, object: &str) -> Result<Vec<u8>> {
    key.sealed_to(recipients, object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn seal(key: &DataKey, data: &[u8]) -> Vec<u8> {
        let enc = age::Encryptor::with_recipients(std::iter::once(key as &dyn age::Recipient))
            .expect("encryptor");
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).expect("wrap");
        w.write_all(data).expect("write");
        w.finish().expect("finish");
        out
    }

    fn open(ring: &DataKeyRing, sealed: &[u8]) -> Option<Vec<u8>> {
        let dec = age::Decryptor::new(sealed).expect("decryptor");
        let mut r = dec
            .decrypt(std::iter::once(ring as &dyn age::Identity))
            .ok()?;
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).ok()?;
        Some(plain)
    }

    #[test]
    fn only_a_ring_holding_the_key_opens_it() {
        let key = DataKey::generate().expect("key");
        let sealed = seal(&key, b"patient record");
        let empty = DataKeyRing::default();
        assert_eq!(open(&empty, &sealed), None);
        let other = DataKeyRing::default();
        other.insert(DataKey::generate().expect("key"));
        assert_eq!(open(&other, &sealed), None);
        let ring = DataKeyRing::default();
        ring.insert(DataKey::from_bytes(&key.key[..]).expect("copy"));
        assert_eq!(
            open(&ring, &sealed).as_deref(),
            Some(&b"patient record"[..])
        );
        assert!(!format!("{key:?} {ring:?}").contains(&hex::encode(&key.key[..])));
    }

    #[test]
    fn a_key_file_under_another_id_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let id_path = dir.path().join("id");
        let recipient = crate::keys::generate_identity_file(&id_path).expect("id");
        let recipients = Recipients::parse(&[recipient]).expect("r");
        let ids = Identities::from_file(&id_path).expect("ids");
        let key = DataKey::generate().expect("key");
        let bytes = key.sealed_to(&recipients, "k").expect("seal");
        assert!(matches!(
            open_file("k", key.id(), &bytes, &ids),
            Ok(Opened::Key(k)) if k.id == key.id
        ));
        let forged_id = "0".repeat(32);
        assert!(open_file("k", &forged_id, &bytes, &ids).is_err());
    }
}
