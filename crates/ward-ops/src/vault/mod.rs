//! The glue every vault operation shares: the database it connects to and how, the
//! repositories of the platform's object stores, the age keys and signing keys of a
//! backup, and how a vault error becomes an [`crate::Error`] and a ledger entry.

mod age_keys;
mod connection;
mod db_tls;
mod outcome;
mod repository;
mod signing;

pub use age_keys::{
    identities, identities_if_any, recipients, state_identity, tenant_key_cache, tenant_key_if_held,
};
pub use connection::{DbTarget, Login, PgSettings, db_connection};
pub use db_tls::TlsSettings;
pub use outcome::{Recorded, record_result, vault_error};
pub use repository::{
    Located, local_config, locate_snapshot, newest_verified_snapshot, open_repository,
    repository_config, stores_in_use,
};
pub use signing::{backup_key_path, signing_key, state_key_path, trusted_keys};

use crate::Error;

/// A small multi-threaded runtime: the vault runs the dump and the filestore side by side.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::operational(
                format!("cannot start the async runtime: {e}"),
                "check the process limits (threads, open files)",
            )
        })
}

/// Seconds rounded to the millisecond, as outputs and the ledger give durations.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
