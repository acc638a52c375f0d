//! Which store the server's commands use (`--store`, `--store-url-file`, `--store-ca-file`):
//! one flag set shared by `serve`, `token` and `audit … --store`, one default
//! (`sqlite:<state>/ward.db`), and one runtime to reach it from a command.

use std::path::PathBuf;

use crate::context::Context;
use crate::report::Failure;

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The control plane's store: `sqlite:PATH` or `postgres://…` [default:
    /// sqlite:<state>/ward.db].
    #[arg(long = "store", env = "WARD_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Read the store URL from this file (a mounted Secret) instead of --store.
    #[arg(long, value_name = "FILE", conflicts_with = "store")]
    pub store_url_file: Option<PathBuf>,
    /// Verify the PostgreSQL store's certificate against this CA (sslmode=verify-full).
    #[arg(long, value_name = "FILE")]
    pub store_ca_file: Option<PathBuf>,
}

impl StoreArgs {
    /// The store URL the flags give. The URL may hold a password: it is never printed.
    pub fn url(&self, cx: &Context) -> Result<String, Failure> {
        let mut url = match (&self.store, &self.store_url_file) {
            (Some(url), _) => url.trim().to_string(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| {
                    Failure::bad_input(
                        format!("--store-url-file {}: {e}", file.display()),
                        "mount the store's URL there, or pass --store",
                    )
                })?
                .trim()
                .to_string(),
            (None, None) => format!("sqlite:{}", cx.state_dir().join("ward.db").display()),
        };
        if let Some(ca) = &self.store_ca_file {
            if !url.starts_with("postgres") {
                return Err(Failure::bad_input(
                    "--store-ca-file is for a PostgreSQL store",
                    "drop it, or pass a postgres:// store",
                ));
            }
            let sep = if url.contains('?') { '&' } else { '?' };
            if !url.contains("sslmode=") {
                url.push_str(&format!("{sep}sslmode=verify-full"));
            }
            url.push_str(&format!("&sslrootcert={}", ca.display()));
        }
        Ok(url)
    }
}

/// A store error as the CLI reports it.
pub fn store_failure(e: ward_store::StoreError) -> Failure {
    ward_ops::audit::store_error(e)
}

/// A runtime for one command's store calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::operational(format!("cannot start the async runtime: {e}"), "retry"))
}

/// Appends one entry to the store's ledger, signed with the state folder's ledger key
/// (the key `ward serve` signs with): what the server's commands change is in the served
/// ledger, beside the server's own entries.
pub async fn record_in_store(
    store: &ward_store::Store,
    cx: &Context,
    event: &ward_ops::Event,
    subject: &str,
) -> Result<(), Failure> {
    let state = cx.state_dir();
    let key =
        ward_ledger::LedgerKey::load_or_create(&state).map_err(crate::context::ledger_failure)?;
    store
        .ledger()
        .append(
            &key,
            ward_ledger::NewEntry {
                actor: cx.ws.actor.clone(),
                action: event.action().to_string(),
                subject: subject.to_string(),
                result: ward_ledger::Outcome::Ok,
                estate_commit: None,
                details: event.details().into_iter().collect(),
            },
        )
        .await
        .map_err(store_failure)?;
    Ok(())
}
