//! Errors the ledger returns to its caller.
//! Tampering is not an error: [`crate::Ledger::verify`] reports it as a [`crate::Problem`].
//! These are for I/O failures and for refusing to write on top of a ledger that cannot be trusted.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while opening, appending to or reading the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A file or folder could not be read, written, locked or synced.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The ledger file holds something that is not a valid ledger line, so it cannot be
    /// read as a list of entries (or, at the largest seq, extended). `line` is 1-based when
    /// known.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Corrupt {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// An append found the ledger it would extend damaged (or lost) and refused to sign
    /// over it. `problem` is what [`crate::Ledger::verify`] reports for the whole ledger;
    /// nothing was written.
    #[error("{}: refusing to append to a ledger that does not verify: {problem}", path.display())]
    Damaged {
        /// The state folder.
        path: PathBuf,
        problem: crate::Problem,
    },
    /// A key file is unreadable, malformed, or does not match its counterpart.
    #[error("{}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    /// A public key given as text is not 64 hex characters of a valid Ed25519 key.
    #[error("unusable public key: {0}")]
    InvalidPublicKey(String),
    /// The chain has reached the largest seq there is and cannot be extended.
    #[error("the last seq is the largest possible: the ledger cannot be extended")]
    SeqExhausted,
    /// The operating system could not provide randomness for a new signing key.
    #[error("could not get randomness for a new signing key: {0}")]
    Random(String),
    /// A line could not be encoded as JSON (not expected to happen with the types here).
    #[error("could not encode a ledger line: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Attaches the path to an I/O error, so that messages say which file failed.
pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}
