//! API tokens: `ward_<id>_<secret>`, bound to a subject and a role, with an expiry. Only
//! the SHA-256 of the secret is stored (the secret is 32 random bytes, so no slow hash is
//! needed); lookup is by id and the hash comparison is constant-time.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Store;
use crate::db::{DbRow, args, now_ms, to_ms};
use crate::error::{StoreError, TokenRejection};

/// What a token's holder may do, as the server's authorisation understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    PlatformOps,
    Dba,
    SecurityReviewer,
    AppSupport,
}

impl Role {
    /// The word stored and shown: `platform-ops`, `dba`, `security-reviewer`,
    /// `app-support`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformOps => "platform-ops",
            Role::Dba => "dba",
            Role::SecurityReviewer => "security-reviewer",
            Role::AppSupport => "app-support",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Role, StoreError> {
        Ok(match s {
            "platform-ops" => Role::PlatformOps,
            "dba" => Role::Dba,
            "security-reviewer" => Role::SecurityReviewer,
            "app-support" => Role::AppSupport,
            other => {
                return Err(StoreError::InvalidInput(format!(
                    "unknown role {other:?} (platform-ops, dba, security-reviewer, app-support)"
                )));
            }
        })
    }
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The person or robot of the estate's Team it acts as.
    pub subject: String,
    pub role: Role,
    pub expires_at: Timestamp,
    /// Who created it.
    pub created_by: String,
    /// What it is for, for listings.
    pub label: String,
}

/// A token as listed: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub id: String,
    pub subject: String,
    pub role: Role,
    pub label: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
}

/// A token just created: the only time its plaintext exists outside its holder.
pub struct IssuedToken {
    token: String,
    pub info: TokenInfo,
}

impl IssuedToken {
    /// The token to hand to its holder, `ward_<id>_<secret>`. Not stored anywhere.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// Who an authenticated token acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub token_id: String,
    pub subject: String,
    pub role: Role,
    pub expires_at: Timestamp,
}

const PREFIX: &str = "ward_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

pub(crate) fn digest(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

/// A new credential's id and secret, and its text `<prefix><id>_<secret>` (an API token, a
/// session cookie): the only time the secret exists outside its holder.
pub(crate) fn new_credential(
    prefix: &str,
) -> Result<(String, [u8; SECRET_BYTES], String), StoreError> {
    let id = hex::encode(random::<ID_BYTES>()?);
    let secret = random::<SECRET_BYTES>()?;
    let text = format!("{prefix}{id}_{}", hex::encode(secret));
    Ok((id, secret, text))
}

/// Whether `secret` is the one whose SHA-256 is `stored`, in constant time.
pub(crate) fn secret_matches(secret: &[u8], stored: &[u8]) -> bool {
    bool::from(digest(secret).ct_eq(stored))
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Splits `ward_<16 hex>_<64 hex>` into the id and the secret's bytes.
fn parse(token: &str) -> Option<(&str, Vec<u8>)> {
    parse_credential(PREFIX, token)
}

/// Splits `<prefix><16 hex>_<64 hex>` (an API token, a session cookie) into the id and
/// the secret's bytes.
pub(crate) fn parse_credential<'a>(prefix: &str, token: &'a str) -> Option<(&'a str, Vec<u8>)> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != ID_BYTES * 2 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let secret = hex::decode(secret).ok()?;
    (secret.len() == SECRET_BYTES).then_some((id, secret))
}

fn info_from(row: &DbRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: row.text("id")?,
        subject: row.text("subject")?,
        role: row
            .text("role")?
            .parse()
            .map_err(|_| StoreError::Corrupt("a token with an unknown role".into()))?,
        label: row.text("label")?,
        created_by: row.text("created_by")?,
        created_at: row.time("created_ms")?,
        expires_at: row.time("expires_ms")?,
        revoked_at: row.opt_time("revoked_ms")?,
        revoked_by: row.opt_text("revoked_by")?,
    })
}

const INFO_COLUMNS: &str =
    "id, subject, role, label, created_by, created_ms, expires_ms, revoked_ms, revoked_by";

impl Store {
    /// Creates a token and returns it with its plaintext, which is not kept.
    pub async fn create_token(&self, new: &NewToken) -> Result<IssuedToken, StoreError> {
        if new.subject.is_empty() {
            return Err(StoreError::InvalidInput("a token needs a subject".into()));
        }
        let (id, secret, token) = new_credential(PREFIX)?;
        let row = self
            .pool
            .fetch_one(
                &format!(
                    "INSERT INTO api_tokens (id, secret_sha256, subject, role, label, created_by, \
                     created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING {INFO_COLUMNS}"
                ),
                args![
                    id.as_str(),
                    digest(&secret),
                    new.subject.as_str(),
                    new.role.as_str(),
                    new.label.as_str(),
                    new.created_by.as_str(),
                    now_ms(),
                    to_ms(new.expires_at)
                ],
            )
            .await?;
        Ok(IssuedToken {
            token,
            info: info_from(&row)?,
        })
    }

    /// Who `token` acts as, or [`StoreError::TokenRejected`] saying why not.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, StoreError> {
        let reject = |why| Err(StoreError::TokenRejected(why));
        let Some((id, secret)) = parse(token.trim()) else {
            return reject(TokenRejection::Malformed);
        };
        let Some(row) = self
            .pool
            .fetch_optional(
                &format!("SELECT {INFO_COLUMNS}, secret_sha256 FROM api_tokens WHERE id = $1"),
                args![id],
            )
            .await?
        else {
            return reject(TokenRejection::Unknown);
        };
        if !secret_matches(&secret, &row.bytes("secret_sha256")?) {
            return reject(TokenRejection::Unknown);
        }
        let info = info_from(&row)?;
        if info.revoked_at.is_some() {
            return reject(TokenRejection::Revoked);
        }
        if info.expires_at <= Timestamp::now() {
            return reject(TokenRejection::Expired);
        }
        Ok(Principal {
            token_id: info.id,
            subject: info.subject,
            role: info.role,
            expires_at: info.expires_at,
        })
    }

    /// Revokes a token (revoking twice keeps the first revocation).
    pub async fn revoke_token(&self, id: &str, by: &str) -> Result<TokenInfo, StoreError> {
        self.pool
            .execute(
                "UPDATE api_tokens SET revoked_ms = $1, revoked_by = $2 \
                 WHERE id = $3 AND revoked_ms IS NULL",
                args![now_ms(), by, id],
            )
            .await?;
        self.token(id)
            .await?
            .ok_or_else(|| StoreError::TokenNotFound { id: id.to_string() })
    }

    /// One token's listing.
    pub async fn token(&self, id: &str) -> Result<Option<TokenInfo>, StoreError> {
        self.pool
            .fetch_optional(
                &format!("SELECT {INFO_COLUMNS} FROM api_tokens WHERE id = $1"),
                args![id],
            )
            .await?
            .map(|row| info_from(&row))
            .transpose()
    }

    /// Every token, newest first, revoked and expired ones included.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.pool
            .fetch_all(
                &format!("SELECT {INFO_COLUMNS} FROM api_tokens ORDER BY created_ms DESC, id"),
                args![],
            )
            .await?
            .iter()
            .map(info_from)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_one_shape() {
        let secret = "ab".repeat(32);
        let ok = format!("ward_0123456789abcdef_{secret}");
        assert_eq!(
            parse(&ok).map(|(id, s)| (id.to_string(), s.len())),
            Some(("0123456789abcdef".to_string(), 32))
        );
        for bad in [
            "".to_string(),
            format!("ward_0123_{secret}"),
            format!("wardx0123456789abcdef_{secret}"),
            format!("ward_0123456789abcdeg_{secret}"),
            "ward_0123456789abcdef_abcd".to_string(),
            format!("ward_0123456789abcdef_{secret}zz"),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn roles_round_trip() {
        for role in [
            Role::PlatformOps,
            Role::Dba,
            Role::SecurityReviewer,
            Role::AppSupport,
        ] {
            assert_eq!(role.as_str().parse::<Role>().expect("parses"), role);
        }
    }
}
