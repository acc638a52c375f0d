//! Typed errors of the vault, each with a message that says what to do next.
//!
//! No variant carries a password, a key or a connection string: only names, paths,
//! object names and messages from tools that never echo credentials.

use std::path::PathBuf;

use crate::backup::BlobProblem;

/// Everything a vault operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Cancelled before its commit point: nothing was committed.
    #[error("cancelled before the snapshot was committed: no snapshot was written")]
    Cancelled,
    #[error(
        "cannot reach the database at {host}:{port}: {reason}; check that PostgreSQL runs there and that host and port are right"
    )]
    DatabaseUnreachable {
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "the database refused user {user:?}: {reason}; check the password (reference) configured for this environment"
    )]
    DatabaseAuth { user: String, reason: String },
    #[error("database error: {0}")]
    Database(String),
    #[error(
        "{program} not found ({path}); install the PostgreSQL client tools or point the PostgreSQL binary folder at them"
    )]
    ToolMissing { program: String, path: PathBuf },
    #[error(
        "{program} {client} is older than the server (PostgreSQL {server}); install the PostgreSQL {server} client tools or newer"
    )]
    ToolTooOld {
        program: String,
        client: u32,
        server: u32,
    },
    #[error("{program} failed ({status}): {stderr}")]
    ToolFailed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error(
        "object storage failed to {action} {path}: {message}; check the store location, its credentials and its free space"
    )]
    Storage {
        action: &'static str,
        path: String,
        message: String,
    },
    #[error("{what} ({path}): {source}{hint}", hint = io_hint(source))]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("snapshot {0} not found: no committed manifest has that id")]
    SnapshotNotFound(String),
    /// A prefix that matches several snapshots: `candidates` are the newest
    /// [`AMBIGUOUS_SHOWN`] of them as full references, newest first, of `matches` in all.
    #[error(
        "snapshot id {prefix} is ambiguous: it matches {matches} snapshots{}",
        list_candidates(candidates, *matches)
    )]
    AmbiguousSnapshot {
        prefix: String,
        candidates: Vec<String>,
        matches: usize,
    },
    #[error(
        "the given identity cannot decrypt {object}: it is not one of the recipients the repository was encrypted to; use a DBA or break-glass identity"
    )]
    WrongKey { object: String },
    #[error("invalid age recipient {0:?}: expected an X25519 public key starting with age1")]
    InvalidRecipient(String),
    #[error("identity file {path}: {reason}")]
    InvalidIdentity { path: PathBuf, reason: String },
    #[error("no age identity given: pass an identity file (--identity or WARD_IDENTITY)")]
    IdentityRequired,
    #[error(
        "the filestore is corrupted: {}; fix or restore these files, or back up anyway with allow_missing_blobs",
        describe_problems(.0)
    )]
    CorruptedFilestore(Vec<BlobProblem>),
    #[error(
        "another backup of {environment} holds the lease (holder {holder}, until {expires}); wait for it to finish or for the lease to expire"
    )]
    LeaseHeld {
        environment: String,
        holder: String,
        expires: String,
    },
    #[error("database {0:?} already exists; choose another name or pass replace to overwrite it")]
    DatabaseExists(String),
    #[error("filestore folder {0} is not empty; choose another folder or pass replace")]
    FilestoreNotEmpty(PathBuf),
    #[error(
        "filestore folder {0} is not empty and Ward did not restore it (it has no {marker} marker), so replace will not delete it; choose another database name, or move that folder away yourself",
        marker = crate::restore::RESTORED_MARKER
    )]
    FilestoreNotWard(PathBuf),
    #[error("{cause}; {cleanup}")]
    RestoreFailed {
        cause: Box<VaultError>,
        cleanup: crate::restore::Cleanup,
    },
    #[error(
        "the database server at {host}:{port} has no role {user:?} ({reason}); create the role there or log in as another user"
    )]
    RoleMissing {
        user: String,
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "the standby at {server} cannot serve the snapshot: {reason}; fix the standby (or its replication), or let the backup read from the primary (no --require-standby)"
    )]
    StandbyUnavailable { server: String, reason: String },
    #[error(
        "the database at {server} did not answer within {limit_seconds}s while {phase}; check the server (a lock held by another session, an overloaded or hung server) or raise the {setting} timeout"
    )]
    Timeout {
        server: String,
        phase: String,
        limit_seconds: u64,
        /// Which limit ran out: `connect` or `statement`.
        setting: &'static str,
    },
    #[error(
        "repository object {object} is corrupted: {reason}; run verify and restore from another snapshot"
    )]
    Corrupted { object: String, reason: String },
    #[error(
        "the repository key given for tenant {tenant} is not the one this repository uses; unlock the tenant's key with an identity"
    )]
    KeyMismatch { tenant: String },
    #[error(
        "the repository key for tenant {tenant} is not available here; pass a DBA identity once so it can be unlocked and cached"
    )]
    KeyUnavailable { tenant: String },
    #[error(
        "blob {object} vanished before the snapshot was committed (concurrent garbage collection?); run the backup again"
    )]
    BlobVanished { object: String },
    #[error(
        "garbage collection is running for tenant {0}; run the backup again when it has finished"
    )]
    GcRunning(String),
    #[error("backup signing key {path}: {reason}")]
    InvalidSigningKey { path: PathBuf, reason: String },
    #[error(
        "snapshot {snapshot} is not signed (it has a manifest but no statement.json): a format-1 snapshot, a forgery, or a backup that crashed before its commit point; it is refused. Sign snapshots written before statements once with `ward backup sign-existing <workload>/<env>`, which signs only those whose every byte matches their recorded checksums"
    )]
    Unsigned { snapshot: String },
    #[error(
        "snapshot {snapshot} does not verify: {reason}; it is refused (anyone who can write the bucket can write a snapshot; only one signed with a key pinned in the estate's backup.signingKeys is used)"
    )]
    Unverified { snapshot: String, reason: String },
    #[error(
        "the tenant key of {tenant} changed in the repository: {detail}; it is not used or cached. Someone may have replaced key.json/key.age; restore them from a verified copy, or investigate before backing up"
    )]
    TenantKeyChanged { tenant: String, detail: String },
    #[error(
        "the backup signing key {key} is not pinned for {environment}; add it to the environment's backup.signingKeys in the estate (ward backup keygen prints the line), get the change approved, then back up"
    )]
    SigningKeyNotPinned { key: String, environment: String },
    #[error(
        "garbage collection stopped: manifest {object} cannot be read ({reason}); fix or remove it first, so that no referenced blob is deleted"
    )]
    GcUnsafe { object: String, reason: String },
}

impl VaultError {
    /// The process exit code the CLI should use: 2 bad input, 3 an operational failure
    /// (database, network, storage, corruption found while working).
    pub fn exit_code(&self) -> i32 {
        match self.cause() {
            VaultError::InvalidInput(_)
            | VaultError::InvalidRecipient(_)
            | VaultError::InvalidIdentity { .. }
            | VaultError::IdentityRequired
            | VaultError::SnapshotNotFound(_)
            | VaultError::AmbiguousSnapshot { .. }
            | VaultError::DatabaseExists(_)
            | VaultError::FilestoreNotEmpty(_)
            | VaultError::FilestoreNotWard(_) => 2,
            _ => 3,
        }
    }

    /// The error itself, under what a failed restore says it cleaned up.
    pub fn cause(&self) -> &VaultError {
        match self {
            VaultError::RestoreFailed { cause, .. } => cause.cause(),
            other => other,
        }
    }
}

/// How many candidates an ambiguous snapshot id names.
pub const AMBIGUOUS_SHOWN: usize = 10;

/// The candidates of an ambiguous id, one per line, and how many more there are.
fn list_candidates(candidates: &[String], matches: usize) -> String {
    let mut out: String = candidates.iter().map(|c| format!("\n  {c}")).collect();
    if matches > candidates.len() {
        out.push_str(&format!("\n  and {} older", matches - candidates.len()));
    }
    out
}

fn describe_problems(problems: &[BlobProblem]) -> String {
    let shown: Vec<String> = problems.iter().take(20).map(|p| p.to_string()).collect();
    let more = problems.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn io_hint(err: &std::io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(28) => " — the disk is full: free space or choose another folder",
        Some(122) => " — the disk quota is exceeded: free space or raise the quota",
        Some(13) => " — permission denied: check the folder's owner and mode",
        _ => "",
    }
}

/// Result alias of this crate.
pub type Result<T, E = VaultError> = std::result::Result<T, E>;

pub(crate) fn io_err(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> VaultError {
    let path = path.into();
    move |source| VaultError::Io { what, path, source }
}

pub(crate) fn storage_err(
    action: &'static str,
    path: &object_store::path::Path,
) -> impl FnOnce(object_store::Error) -> VaultError {
    let path = path.to_string();
    move |e| VaultError::Storage {
        action,
        path,
        message: storage_message(&e),
    }
}

/// object_store errors can embed request URLs; keep the first line and drop query strings
/// so that presigned parameters or credentials never reach a message.
pub(crate) fn storage_message(e: &object_store::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .map(|w| match w.find('?') {
            Some(i) if w.contains("://") => &w[..i],
            _ => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}
