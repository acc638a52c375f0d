//! People's sessions after an OpenID Connect login, and the logins under way. A login
//! keeps its state's hash, nonce and PKCE verifier until its callback takes it (once); a
//! session cookie is `wards_<id>_<secret>` of which only the secret's SHA-256 is kept.
//!
//! A session records the identity provider's groups, not roles: the server maps groups to
//! roles on every call through the estate in force, so a Team change takes effect at once.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::db::{DbRow, args, now_ms, to_ms};
use crate::error::{SessionRejection, StoreError};
use crate::tokens::{digest, new_credential, parse_credential, secret_matches};

const PREFIX: &str = "wards_";
/// Ended and expired sessions stay listed this long, then go.
const KEEP_ENDED: SignedDuration = SignedDuration::from_hours(24 * 7);

/// A login sent to the identity provider, kept until its callback.
pub struct NewLogin {
    /// The `state` parameter: random, unguessable; only its hash is stored.
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where the browser goes after the login (a path of this server).
    pub next: String,
    pub expires_at: Timestamp,
}

/// A login's callback found its request: what it needs to finish.
pub struct LoginRequest {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("nonce", &"<redacted>")
            .field("pkce_verifier", &"<redacted>")
            .field("next", &self.next)
            .finish()
    }
}

/// A session to open for a person the identity provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The ledger's actor: the Team person, or the provider's email or subject.
    pub subject: String,
    pub issuer: String,
    /// The provider's `sub`.
    pub issuer_subject: String,
    pub email: Option<String>,
    /// The provider's groups, as they were at the login.
    pub groups: Vec<String>,
    pub expires_at: Timestamp,
}

/// An open session as the server sees it: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub subject: String,
    pub issuer: String,
    pub issuer_subject: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A session just opened: its cookie value exists only here and in the browser.
pub struct IssuedSession {
    cookie: String,
    pub info: SessionInfo,
}

impl IssuedSession {
    /// The cookie's value, `wards_<id>_<secret>`.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }
}

impl fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedSession")
            .field("cookie", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// The anti-forgery token of the session whose cookie is `cookie`: derived from the
/// cookie's secret, so only a page that holds the session can know it and nothing more is
/// stored. `None` for a value that is not a session cookie.
pub fn csrf_token(cookie: &str) -> Option<String> {
    let (_, secret) = parse_credential(PREFIX, cookie.trim())?;
    let mut hasher = Sha256::new();
    hasher.update(b"ward session csrf\0");
    hasher.update(&secret);
    Some(hex::encode(hasher.finalize()))
}

fn hash_state(state: &str) -> String {
    hex::encode(digest(state.as_bytes()))
}

fn info_from(row: &DbRow) -> Result<SessionInfo, StoreError> {
    Ok(SessionInfo {
        id: row.text("id")?,
        subject: row.text("subject")?,
        issuer: row.text("issuer")?,
        issuer_subject: row.text("issuer_subject")?,
        email: row.opt_text("email")?,
        groups: serde_json::from_str(&row.text("idp_groups")?)?,
        created_at: row.time("created_ms")?,
        expires_at: row.time("expires_ms")?,
    })
}

const INFO_COLUMNS: &str =
    "id, subject, issuer, issuer_subject, email, idp_groups, created_ms, expires_ms, ended_ms";

impl Store {
    /// Keeps a login until its callback, and forgets logins that were never finished.
    pub async fn begin_login(&self, new: &NewLogin) -> Result<(), StoreError> {
        if new.state.len() < 16 {
            return Err(StoreError::InvalidInput(
                "a login's state must be at least 16 characters".into(),
            ));
        }
        self.pool
            .execute(
                "DELETE FROM login_requests WHERE expires_ms < $1",
                args![now_ms()],
            )
            .await?;
        self.pool
            .execute(
                "INSERT INTO login_requests (state_sha256, nonce, pkce_verifier, next, \
                 created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                args![
                    hash_state(&new.state),
                    new.nonce.as_str(),
                    new.pkce_verifier.as_str(),
                    new.next.as_str(),
                    now_ms(),
                    to_ms(new.expires_at)
                ],
            )
            .await?;
        Ok(())
    }

    /// The login `state` began, taken out of the store so that no second callback can use
    /// it; `None` when there is none, or it expired.
    pub async fn take_login(&self, state: &str) -> Result<Option<LoginRequest>, StoreError> {
        let row = self
            .pool
            .fetch_optional(
                "DELETE FROM login_requests WHERE state_sha256 = $1 \
                 RETURNING nonce, pkce_verifier, next, expires_ms",
                args![hash_state(state)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if row.time("expires_ms")? <= Timestamp::now() {
            return Ok(None);
        }
        Ok(Some(LoginRequest {
            nonce: row.text("nonce")?,
            pkce_verifier: row.text("pkce_verifier")?,
            next: row.text("next")?,
        }))
    }

    /// Opens a session and returns its cookie, which is not kept.
    pub async fn create_session(&self, new: &NewSession) -> Result<IssuedSession, StoreError> {
        if new.subject.is_empty() || new.issuer_subject.is_empty() {
            return Err(StoreError::InvalidInput(
                "a session needs a subject and the provider's subject".into(),
            ));
        }
        self.pool
            .execute(
                "DELETE FROM sessions WHERE expires_ms < $1",
                args![to_ms(Timestamp::now() - KEEP_ENDED)],
            )
            .await?;
        let (id, secret, cookie) = new_credential(PREFIX)?;
        let row = self
            .pool
            .fetch_one(
                &format!(
                    "INSERT INTO sessions (id, secret_sha256, subject, issuer, issuer_subject, \
                     email, idp_groups, created_ms, expires_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {INFO_COLUMNS}"
                ),
                args![
                    id.as_str(),
                    digest(&secret),
                    new.subject.as_str(),
                    new.issuer.as_str(),
                    new.issuer_subject.as_str(),
                    new.email.clone(),
                    serde_json::to_string(&new.groups)?,
                    now_ms(),
                    to_ms(new.expires_at)
                ],
            )
            .await?;
        Ok(IssuedSession {
            cookie,
            info: info_from(&row)?,
        })
    }

    /// The open session whose cookie is `cookie`, or [`StoreError::SessionRejected`]
    /// saying why not.
    pub async fn session(&self, cookie: &str) -> Result<SessionInfo, StoreError> {
        let reject = |why| Err(StoreError::SessionRejected(why));
        let Some((id, secret)) = parse_credential(PREFIX, cookie.trim()) else {
            return reject(SessionRejection::Malformed);
        };
        let Some(row) = self
            .pool
            .fetch_optional(
                &format!("SELECT {INFO_COLUMNS}, secret_sha256 FROM sessions WHERE id = $1"),
                args![id],
            )
            .await?
        else {
            return reject(SessionRejection::Unknown);
        };
        if !secret_matches(&secret, &row.bytes("secret_sha256")?) {
            return reject(SessionRejection::Unknown);
        }
        if row.opt_time("ended_ms")?.is_some() {
            return reject(SessionRejection::Ended);
        }
        let info = info_from(&row)?;
        if info.expires_at <= Timestamp::now() {
            return reject(SessionRejection::Expired);
        }
        Ok(info)
    }

    /// Ends a session (a logout); whether it was open.
    pub async fn end_session(&self, id: &str) -> Result<bool, StoreError> {
        let ended = self
            .pool
            .execute(
                "UPDATE sessions SET ended_ms = $1 WHERE id = $2 AND ended_ms IS NULL",
                args![now_ms(), id],
            )
            .await?;
        Ok(ended > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_the_sessions_own_and_nothing_elses() {
        let a = format!("{PREFIX}0123456789abcdef_{}", "ab".repeat(32));
        let b = format!("{PREFIX}0123456789abcdef_{}", "cd".repeat(32));
        let ta = csrf_token(&a).expect("a session cookie");
        assert_eq!(ta.len(), 64);
        assert_eq!(csrf_token(&a), Some(ta.clone()));
        assert_ne!(csrf_token(&b), Some(ta.clone()));
        assert!(!a.contains(&ta));
        assert_eq!(csrf_token("ward_0123456789abcdef_00"), None);
    }
}
