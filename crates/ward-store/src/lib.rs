//! The control plane's state for `ward serve`: the run queue and its logs, leader election
//! with fencing terms, schedule state, API tokens, people's sessions, the estate commits cache and the served
//! ledger, in one SQLite file (one replica) or PostgreSQL (several). Holds no business rules.
//!
//! Every type here is storage: the store records what the server and scheduler decide
//! (which run is due, who may do what) and guarantees the atomicity they need (a slot is
//! enqueued once, a run is leased to one worker, a deposed leader's writes fail, the
//! ledger has one writer at a time). See `docs/store.md` for the schema and the rules.
//!
//! Times are [`jiff::Timestamp`]s, stored as unix milliseconds; the clock is the calling
//! process's, so replicas' clocks must agree to well within a lease.

mod commits;
mod db;
mod error;
mod leader;
mod ledger;
mod runs;
mod schema;
mod sessions;
mod tokens;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use commits::{CommitRecord, CommitStatus};
pub use db::Backend;
pub use error::{SessionRejection, StoreError, TokenRejection};
pub use leader::{Fence, LeaderLease};
pub use ledger::{ExportedLedger, ImportReport, StoreLedger};
pub use runs::{
    ClaimedRun, Enqueued, Lease, LogLevel, LogLine, NewRun, QueueStats, Requeued, Run, RunFilter,
    RunOutcome, RunState, ScheduleState, Trigger,
};
pub use schema::SCHEMA_VERSION;
pub use sessions::{IssuedSession, LoginRequest, NewLogin, NewSession, SessionInfo, csrf_token};
pub use tokens::{IssuedToken, NewToken, Principal, Role, TokenInfo};

use db::Pool;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool (PostgreSQL; SQLite uses at most this many readers and
    /// one writer at a time).
    pub max_connections: u32,
    /// How long to wait for a connection, and (SQLite) for the writer lock.
    pub timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An open store. Cheap to clone (a pool of connections inside); safe to share between
/// tasks.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// How to open the dedicated connection a PostgreSQL leader holds its lock on.
    pg: Option<PgConnectOptions>,
}

impl Store {
    /// Opens the store at `url` with [`StoreOptions::default`]: `sqlite:PATH` (also
    /// `sqlite://PATH`; the file and its folder are created if missing) or
    /// `postgres://…` / `postgresql://…` (libpq-style URL; `sslmode` is honoured, TLS
    /// through rustls). Runs the migrations this binary knows, refusing a database whose
    /// schema is newer ([`StoreError::SchemaTooNew`]).
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let store = match scheme {
            "sqlite" => {
                let rest = url.strip_prefix("sqlite:").unwrap_or_default();
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                let path = rest.split('?').next().unwrap_or_default();
                if path == ":memory:" {
                    return Err(StoreError::InvalidInput(
                        "an in-memory SQLite store would lose everything at exit (and differ \
                         per connection): give a file path"
                            .to_string(),
                    ));
                }
                if path.is_empty() {
                    return Err(StoreError::InvalidInput(
                        "a sqlite: store URL needs a file path (sqlite:/var/lib/ward/store.db)"
                            .to_string(),
                    ));
                }
                return Store::open_sqlite(Path::new(path), options).await;
            }
            "postgres" | "postgresql" => {
                let connect = PgConnectOptions::from_str(url)?.application_name("ward");
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.timeout)
                    .connect_with(connect.clone())
                    .await?;
                Store {
                    pool: Pool::Postgres(pool),
                    pg: Some(connect),
                }
            }
            other => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: other.chars().take(20).collect(),
                });
            }
        };
        schema::migrate(&store.pool).await?;
        Ok(store)
    }

    /// Opens (creating if missing) the SQLite store in the file at `path`: WAL journal,
    /// `synchronous = FULL` (a committed ledger append survives a power cut), foreign
    /// keys on, and a busy timeout of `options.timeout` for the single writer lock.
    pub async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.timeout)
            .connect_with(connect)
            .await?;
        let store = Store {
            pool: Pool::Sqlite(pool),
            pg: None,
        };
        schema::migrate(&store.pool).await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// The schema version the database records (after open: [`SCHEMA_VERSION`]).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let row = self
            .pool
            .fetch_one(
                "SELECT COALESCE(MAX(version), 0) AS version FROM ward_schema",
                db::args![],
            )
            .await?;
        row.i64("version")
    }

    /// The served ledger (see [`StoreLedger`]).
    pub fn ledger(&self) -> StoreLedger {
        StoreLedger::new(self.clone())
    }

    /// Closes every pooled connection; waits for those in use to come back.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
