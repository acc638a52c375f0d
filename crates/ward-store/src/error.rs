//! Errors the store returns. Refusals the caller acts on (a lost lease, a deposed leader,
//! a rejected token, a schema too new) are variants of their own; database failures are
//! [`StoreError::Database`].

use std::path::PathBuf;

use ward_ledger::{LedgerError, Problem};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names neither SQLite nor PostgreSQL. Only its scheme is repeated here, so
    /// that a password in it is never shown.
    #[error(
        "unsupported store URL (scheme {scheme:?}): use sqlite:PATH (a file, created if missing) \
         or postgres://USER@HOST/DATABASE"
    )]
    UnsupportedUrl { scheme: String },
    /// The SQLite file's folder could not be created.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed a statement, or could not be reached.
    #[error("store database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database's schema is newer than this binary knows: it was migrated by a newer
    /// ward, whose tables this one could misread or damage.
    #[error(
        "the store's schema is version {found} (written by ward {found_by}), but this ward \
         ({ours}) knows versions up to {supported}: upgrade ward to at least {found_by}, or \
         point --store at another database"
    )]
    SchemaTooNew {
        found: i64,
        found_by: String,
        supported: i64,
        ours: String,
    },
    /// A value read back cannot be what the store wrote (an unknown state, a time out of
    /// range): the database was edited by hand or by something else.
    #[error("the store holds an unreadable value: {0}")]
    Corrupt(String),
    /// A value passed in cannot be stored (an empty kind, a negative duration, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No run has this id.
    #[error("no run {id}")]
    RunNotFound { id: i64 },
    /// The worker's lease on the run is gone: it expired and the run was requeued (and
    /// perhaps claimed by another worker), or the run was handed back or finished. The
    /// worker must stop working on it and write nothing more about it.
    #[error(
        "the lease of {owner} on run {run_id} (attempt epoch {epoch}) is no longer held: the \
         run is {state}{}",
        holder.as_ref().map(|h| format!(", leased to {h}")).unwrap_or_default()
    )]
    LeaseLost {
        run_id: i64,
        owner: String,
        epoch: i64,
        state: String,
        holder: Option<String>,
    },
    /// A finished run cannot be cancelled.
    #[error("run {id} is {state} and cannot be cancelled")]
    NotCancellable { id: i64, state: String },
    /// A write made under an election term that is no longer the current one: a newer
    /// leader exists, so this replica is deposed and must stop scheduling.
    #[error(
        "refused a write under term {term} of {name:?}: {}",
        current.map(|c| format!("term {c} is current, this replica is no longer the leader")).unwrap_or_else(|| "no leader was ever elected".to_string())
    )]
    Fenced {
        name: String,
        term: i64,
        current: Option<i64>,
    },
    /// The leader's dedicated connection (and with it the lock) is gone, or a newer term
    /// exists: this replica no longer leads.
    #[error("lost the leadership of {name:?} (term {term}): {reason}")]
    LeadershipLost {
        name: String,
        term: i64,
        reason: String,
    },
    /// An API token was refused.
    #[error("token refused: {0}")]
    TokenRejected(TokenRejection),
    /// A session cookie was refused.
    #[error("session refused: {0}")]
    SessionRejected(SessionRejection),
    /// No API token has this id.
    #[error("no token {id}")]
    TokenNotFound { id: String },
    /// The ledger library failed (reading a key, a file ledger, encoding a line).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// An append found the store's ledger damaged (or lost) and refused to sign over it;
    /// `problem` is what verify reports. Nothing was written.
    #[error("refusing to append to a store ledger that does not verify: {problem}")]
    LedgerDamaged { problem: Problem },
    /// The signing key given is not the one the store's ledger was signed with.
    #[error(
        "the store's ledger is signed with key {recorded}, but the key given is {given}: \
         restore the state folder's keys/ledger.ed25519 that signed it"
    )]
    LedgerKeyMismatch { recorded: String, given: String },
    /// An import was refused because the file ledger does not verify.
    #[error("refusing to import a file ledger that does not verify: {problem}")]
    ImportDamaged { problem: Problem },
    /// An import was refused because the store's ledger is not a prefix of the file's.
    #[error("refusing to import: {0}")]
    ImportConflict(String),
    /// A JSON document could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The operating system could not provide randomness for a token.
    #[error("could not get randomness: {0}")]
    Random(String),
    /// Blocking work (reading a file ledger) could not be run.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Why an API token was refused. Deliberately coarse: an unknown id and a wrong secret
/// are both `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not of the form `ward_<id>_<secret>`.
    #[error("not a ward API token")]
    Malformed,
    /// No such token, or the secret does not match.
    #[error("unknown token")]
    Unknown,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
    /// Revoked.
    #[error("the token was revoked")]
    Revoked,
}

/// Why a session cookie was refused; as coarse as [`TokenRejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRejection {
    /// Not of the form `wards_<id>_<secret>`.
    #[error("not a ward session")]
    Malformed,
    /// No such session, or the secret does not match.
    #[error("unknown session")]
    Unknown,
    /// Past its expiry: log in again.
    #[error("the session has expired")]
    Expired,
    /// Logged out.
    #[error("the session was ended by a logout")]
    Ended,
}
