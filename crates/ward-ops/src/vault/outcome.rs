//! How a vault command ends: a vault error becomes a failure with its exit code and hint,
//! and the outcome, success or failure, is recorded in the ledger.

use serde_json::Map;
use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_vault::VaultError;

use crate::{Error, Event, Workspace};

/// Turns a vault error into a failure with the right exit code and a hint.
pub fn vault_error(e: VaultError, hint: &str) -> Error {
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
        VaultError::Cancelled => {
            "run the backup again when ready; what the cancelled one uploaded is unreferenced and the next prune removes it"
        }
        _ => hint,
    };
    if e.exit_code() == 2 {
        Error::bad_input(e.to_string(), hint)
    } else {
        Error::operational(e.to_string(), hint)
    }
}

/// A command's result with its ledger event, or its failure with the event's details so
/// far.
pub type Recorded<T> = Result<(T, Outcome, Event), (Error, Event)>;

/// Records a command's outcome; on failure the failure is returned as it was, even if the
/// ledger cannot be written (that problem is then printed too).
pub fn record_result<T>(
    ws: &Workspace,
    estate: &Estate,
    subject: &str,
    result: Recorded<T>,
) -> Result<T, Error> {
    match result {
        Ok((value, outcome, event)) => {
            ws.record(&event, subject, outcome, &estate.git)?;
            Ok(value)
        }
        Err((failure, event)) => {
            let mut error = Map::new();
            error.insert("error".into(), failure.message().into());
            if let Err(ledger) =
                ws.record_with(&event, subject, Outcome::Failed, &estate.git, error)
            {
                tracing::warn!(error = %ledger, "the failure could not be recorded in the ledger");
                return Err(failure.with_hint_note(&format!(
                    "the failure could not be recorded in the ledger: {}",
                    ledger.message()
                )));
            }
            Err(failure)
        }
    }
}
