//! How a vault command ends: a vault error becomes a failure with its exit code and hint,
//! and the outcome, success or failure, is recorded in the ledger.

use serde_json::{Map, Value};
use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_vault::VaultError;

use crate::context::Context;
use crate::report::Failure;

/// Turns a vault error into a failure with the right exit code and a hint.
pub(crate) fn vault_failure(e: VaultError, hint: &str) -> Failure {
    let hint = match e.cause() {
        VaultError::WrongKey { .. }
        | VaultError::IdentityRequired
        | VaultError::InvalidIdentity { .. }
        | VaultError::KeyUnavailable { .. } => {
            "pass --identity FILE or set WARD_IDENTITY to a DBA or break-glass identity file"
        }
        VaultError::DatabaseExists(_) | VaultError::FilestoreNotEmpty(_) => {
            "restore under another --to-db name, or pass --replace to overwrite (recorded in the ledger)"
        }
        VaultError::FilestoreNotWard(_) => {
            "restore under another --to-db name: --replace removes only a filestore Ward restored"
        }
        VaultError::Timeout {
            setting: "connect", ..
        } => {
            "if the server is only slow, raise --db-connect-timeout or the environment's database.connectTimeout in the estate"
        }
        VaultError::Timeout { .. } => {
            "if the statement only needs longer, raise --db-statement-timeout or the environment's database.statementTimeout in the estate"
        }
        VaultError::StandbyUnavailable { .. } => {
            "check the standby's replication (pg_stat_replication on the primary), or run without --require-standby to read from the primary"
        }
        VaultError::AmbiguousSnapshot { .. } => {
            "pass more characters of the id, or one of the full references above"
        }
        VaultError::CorruptedFilestore(_) => {
            "repair the filestore, or commit anyway with --allow-missing-blobs (recorded in the ledger)"
        }
        _ => hint,
    };
    if e.exit_code() == 2 {
        Failure::bad_input(e.to_string(), hint)
    } else {
        Failure::operational(e.to_string(), hint)
    }
}

/// The message of a failure, for the ledger.
pub(crate) fn failure_message(f: &Failure) -> String {
    match f {
        Failure::BadInput { message, .. } | Failure::Operational { message, .. } => message.clone(),
        Failure::Estate { diagnostics, .. } => {
            format!("the estate has {} problem(s)", diagnostics.len())
        }
    }
}

/// A command's result with its ledger details, or its failure with the details so far.
pub(crate) type Recorded<T> =
    Result<(T, Outcome, Map<String, Value>), (Failure, Map<String, Value>)>;

/// Records a command's outcome; on failure the failure is returned as it was, even if the
/// ledger cannot be written (that problem is then printed too).
pub(crate) fn record_result<T>(
    cx: &Context,
    estate: &Estate,
    action: &str,
    subject: &str,
    result: Recorded<T>,
) -> Result<T, Failure> {
    let state = cx.state_dir();
    match result {
        Ok((value, outcome, details)) => {
            cx.record(&state, action, subject, outcome, &estate.git, details)?;
            Ok(value)
        }
        Err((failure, mut details)) => {
            details.insert("error".into(), failure_message(&failure).into());
            if let Err(ledger) = cx.record(
                &state,
                action,
                subject,
                Outcome::Failed,
                &estate.git,
                details,
            ) {
                crate::report::warn(&format!(
                    "the failure could not be recorded in the ledger: {}",
                    failure_message(&ledger)
                ));
            }
            Err(failure)
        }
    }
}
