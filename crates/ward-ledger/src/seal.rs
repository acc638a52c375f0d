//! Signed statements about the chain: in-file checkpoints and the `ledger.head` file.
//! Both sign a domain-separated JSON array, so a checkpoint signature can never be
//! replayed as a head signature (or the other way round) and no field can bleed into another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// A signed statement, on its own line, that the chain up to entry `seq` hashes to `head`.
/// On disk it is wrapped: `{"checkpoint":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The seq of the entry immediately before this line.
    pub seq: u64,
    pub time: String,
    /// SHA-256 of the line of entry `seq`.
    pub head: String,
    /// SHA-256 of the previous checkpoint line, or 64 zeros for the first: removing or
    /// reordering checkpoint lines breaks this second chain.
    pub prev: String,
    /// The signer's public key, hex; must equal `keys/ledger.pub`.
    pub key: String,
    /// Ed25519 signature, hex, over `["ward-ledger checkpoint v1", seq, time, head, prev]`.
    pub signature: String,
}

/// The contents of `ledger.head`: where the ledger ended after the latest append, signed.
/// It exists so that removing entries after the last checkpoint is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The seq of the last entry.
    pub seq: u64,
    pub time: String,
    /// SHA-256 of the last entry's line.
    pub hash: String,
    /// SHA-256 of the last checkpoint line, or 64 zeros when there is none yet.
    pub checkpoint: String,
    pub key: String,
    /// Ed25519 signature, hex, over `["ward-ledger head v1", seq, time, hash, checkpoint]`.
    pub signature: String,
}

const CHECKPOINT_DOMAIN: &str = "ward-ledger checkpoint v1";
const HEAD_DOMAIN: &str = "ward-ledger head v1";

fn message(
    domain: &str,
    seq: u64,
    time: &str,
    a: &str,
    b: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&(domain, seq, time, a, b))
}

impl Checkpoint {
    pub(crate) fn sign(
        key: &SigningKey,
        seq: u64,
        time: String,
        head: String,
        prev: String,
    ) -> Result<Checkpoint, serde_json::Error> {
        let msg = message(CHECKPOINT_DOMAIN, seq, &time, &head, &prev)?;
        Ok(Checkpoint {
            seq,
            time,
            head,
            prev,
            key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(key.sign(&msg).to_bytes()),
        })
    }

    /// Checks the signature against `public`; the reason comes back in words.
    pub(crate) fn check(&self, public: &VerifyingKey) -> Result<(), String> {
        let msg = message(
            CHECKPOINT_DOMAIN,
            self.seq,
            &self.time,
            &self.head,
            &self.prev,
        )
        .map_err(|e| format!("cannot encode the signed message: {e}"))?;
        check_signature(public, &self.key, &self.signature, &msg)
    }
}

impl Head {
    pub(crate) fn sign(
        key: &SigningKey,
        seq: u64,
        time: String,
        hash: String,
        checkpoint: String,
    ) -> Result<Head, serde_json::Error> {
        let msg = message(HEAD_DOMAIN, seq, &time, &hash, &checkpoint)?;
        Ok(Head {
            seq,
            time,
            hash,
            checkpoint,
            key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(key.sign(&msg).to_bytes()),
        })
    }

    pub(crate) fn check(&self, public: &VerifyingKey) -> Result<(), String> {
        let msg = message(
            HEAD_DOMAIN,
            self.seq,
            &self.time,
            &self.hash,
            &self.checkpoint,
        )
        .map_err(|e| format!("cannot encode the signed message: {e}"))?;
        check_signature(public, &self.key, &self.signature, &msg)
    }
}

fn check_signature(
    public: &VerifyingKey,
    claimed_key: &str,
    signature: &str,
    msg: &[u8],
) -> Result<(), String> {
    let expected = hex::encode(public.to_bytes());
    if claimed_key != expected {
        return Err(format!(
            "signed by key {} but keys/ledger.pub is {}: the ledger's key files were replaced, \
             or this was signed with another ledger's key",
            short(claimed_key),
            short(&expected)
        ));
    }
    let bytes: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "signature is not 64 bytes of hex".to_string())?;
    public
        .verify_strict(msg, &Signature::from_bytes(&bytes))
        .map_err(|_| "signature is invalid".to_string())
}

/// The first 16 characters of a hash or key, enough to tell two apart in a message.
pub(crate) fn short(hex: &str) -> String {
    hex.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::GENESIS;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn checkpoint_signature_verifies_and_rejects_any_field_change() {
        let k = key(7);
        let cp =
            Checkpoint::sign(&k, 63, "t".into(), "a".repeat(64), GENESIS.into()).expect("signs");
        assert_eq!(cp.check(&k.verifying_key()), Ok(()));

        let mut changed = cp.clone();
        changed.seq = 64;
        assert_eq!(
            changed.check(&k.verifying_key()),
            Err("signature is invalid".into())
        );
        let mut changed = cp.clone();
        changed.head = "b".repeat(64);
        assert!(changed.check(&k.verifying_key()).is_err());
        let mut changed = cp.clone();
        changed.prev = "c".repeat(64);
        assert!(changed.check(&k.verifying_key()).is_err());
        let mut changed = cp.clone();
        changed.time = "u".into();
        assert!(changed.check(&k.verifying_key()).is_err());
        let mut changed = cp;
        changed.signature = "zz".into();
        assert_eq!(
            changed.check(&k.verifying_key()),
            Err("signature is not 64 bytes of hex".into())
        );
    }

    #[test]
    fn another_key_is_named_in_the_error() {
        let cp = Checkpoint::sign(&key(1), 0, "t".into(), GENESIS.into(), GENESIS.into())
            .expect("signs");
        let err = cp.check(&key(2).verifying_key()).expect_err("wrong key");
        assert!(err.starts_with("signed by key "), "{err}");
    }

    #[test]
    fn a_checkpoint_signature_is_not_a_head_signature() {
        let k = key(3);
        let cp =
            Checkpoint::sign(&k, 5, "t".into(), "a".repeat(64), GENESIS.into()).expect("signs");
        let head = Head {
            seq: cp.seq,
            time: cp.time.clone(),
            hash: cp.head.clone(),
            checkpoint: cp.prev.clone(),
            key: cp.key.clone(),
            signature: cp.signature.clone(),
        };
        assert_eq!(
            head.check(&k.verifying_key()),
            Err("signature is invalid".into())
        );
        let real = Head::sign(&k, 5, "t".into(), "a".repeat(64), GENESIS.into()).expect("signs");
        assert_eq!(real.check(&k.verifying_key()), Ok(()));
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        // With naive concatenation "ab"+"c" and "a"+"bc" would sign the same bytes.
        assert_ne!(
            message(HEAD_DOMAIN, 1, "t", "ab", "c").expect("encodes"),
            message(HEAD_DOMAIN, 1, "t", "a", "bc").expect("encodes")
        );
    }
}
