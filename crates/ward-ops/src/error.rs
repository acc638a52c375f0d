//! The one error kind of every operation: the estate is invalid, the input is wrong, the
//! controls found something, the caller is not allowed, or something outside Ward failed.
//! The CLI maps it to exit codes, the server to HTTP statuses.

use ward_estate::{Diagnostic, SourceMap};

/// What kind of failure an [`Error`] is, for exit codes and HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The estate, an argument or a request is wrong: fix it and ask again.
    Input,
    /// Controls or checks found problems (unwaived `deny` findings, a failed verify).
    Findings,
    /// The actor may not do this (missing approvals, a role the call needs).
    Denied,
    /// The database, the network, storage or the machine failed.
    Operational,
}

/// A failure an operation reports instead of a result. Messages and hints never hold a
/// secret value; URL credentials are masked where they are printed ([`crate::scrub`]).
#[derive(Debug)]
pub enum Error {
    /// The estate has problems; every one is listed, with the load's warnings.
    Estate {
        sources: SourceMap,
        diagnostics: Vec<Diagnostic>,
        warnings: Vec<Diagnostic>,
    },
    /// Input or usage is wrong: a message and what to do.
    BadInput { message: String, hint: String },
    /// The controls or a check found problems the caller must resolve.
    Findings { message: String, hint: String },
    /// The actor is not allowed to do this.
    Denied { message: String, hint: String },
    /// Something outside Ward failed.
    Operational { message: String, hint: String },
}

impl Error {
    pub fn bad_input(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::BadInput {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn operational(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Operational {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn findings(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Findings {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn denied(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Denied {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Estate { .. } | Error::BadInput { .. } => ErrorKind::Input,
            Error::Findings { .. } => ErrorKind::Findings,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::Operational { .. } => ErrorKind::Operational,
        }
    }

    /// One line saying what failed, for the ledger and logs.
    pub fn message(&self) -> String {
        match self {
            Error::BadInput { message, .. }
            | Error::Findings { message, .. }
            | Error::Denied { message, .. }
            | Error::Operational { message, .. } => message.clone(),
            Error::Estate { diagnostics, .. } => {
                format!("the estate has {} problem(s)", diagnostics.len())
            }
        }
    }

    /// What to do about it (none for an invalid estate: each diagnostic has its own).
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::BadInput { hint, .. }
            | Error::Findings { hint, .. }
            | Error::Denied { hint, .. }
            | Error::Operational { hint, .. } => Some(hint),
            Error::Estate { .. } => None,
        }
    }
}

impl Error {
    /// The same error with `note` added to its hint (an invalid estate is returned as is:
    /// its diagnostics carry their own hints).
    pub fn with_hint_note(self, note: &str) -> Error {
        let add = |hint: String| format!("{hint}; note: {note}");
        match self {
            Error::BadInput { message, hint } => Error::BadInput {
                message,
                hint: add(hint),
            },
            Error::Findings { message, hint } => Error::Findings {
                message,
                hint: add(hint),
            },
            Error::Denied { message, hint } => Error::Denied {
                message,
                hint: add(hint),
            },
            Error::Operational { message, hint } => Error::Operational {
                message,
                hint: add(hint),
            },
            e @ Error::Estate { .. } => e,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::scrub::scrub_credentials(&self.message()))
    }
}

impl std::error::Error for Error {}

impl From<ward_estate::LoadError> for Error {
    fn from(e: ward_estate::LoadError) -> Error {
        match e {
            ward_estate::LoadError::Invalid {
                sources,
                diagnostics,
                warnings,
            } => Error::Estate {
                sources,
                diagnostics,
                warnings,
            },
            e @ ward_estate::LoadError::NotAnEstate { .. } => Error::bad_input(
                e.to_string(),
                "run Ward inside the estate folder, or pass --estate DIR (or set WARD_ESTATE); `ward init DIR --example healthcare` creates one",
            ),
            ward_estate::LoadError::NotAFolder(p) => Error::bad_input(
                format!(
                    "estate folder {} does not exist or is not a folder",
                    p.display()
                ),
                "pass --estate DIR or set WARD_ESTATE; `ward init DIR --example healthcare` creates one",
            ),
            e @ ward_estate::LoadError::Io { .. } => {
                Error::operational(e.to_string(), "check that the folder is readable")
            }
        }
    }
}

/// A ledger error: every one is operational, with a hint that says what happened to the
/// ledger rather than one hint for all.
pub fn ledger_error(e: ward_ledger::LedgerError) -> Error {
    use ward_ledger::LedgerError;
    let hint = match &e {
        LedgerError::Damaged { .. } | LedgerError::Corrupt { .. } => {
            "the ledger is damaged or lost, and Ward does not sign over that: run `ward audit \
             verify` to see the first bad line, restore the state folder (--state, WARD_STATE) \
             from a backup and find out what happened; docs/audit.md says how to start over \
             deliberately"
        }
        LedgerError::Key { .. } => {
            "the ledger key was replaced or removed: keys/ledger.ed25519 and keys/ledger.pub are \
             not the pair that signed this ledger. Restore both from a backup, then run `ward \
             audit verify --public-key <the key you pinned>`"
        }
        // I/O, randomness, encoding.
        _ => "check that the state folder is writable (--state, WARD_STATE)",
    };
    Error::operational(format!("ledger: {e}"), hint)
}
