//! `ward backup run|list|verify|prune`: encrypted, incremental snapshots of an environment's
//! Odoo database and filestore in the vault (`ward-vault`), targets taken from the estate.
//!
//! Also the glue `ward restore` shares: repositories, recipients, identities.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use indicatif::HumanBytes;
use serde_json::{Map, Value, json as j};
use ward_estate::model::{LockMode as EstateLock, Role, SecretRef, StoreKind};
use ward_estate::{Estate, ResolvedEnvironment};
use ward_ledger::Outcome;
use ward_vault::{
    BackupOptions, BackupTarget, DbConnection, Identities, ListedSnapshot, PgTools, Recipients,
    Repository, RepositoryConfig, Retention, S3Location, SecretString, SnapshotFilter,
    SnapshotManifest, StoreLocation, VaultError, VerifyDepth,
};

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Back up, list, verify and prune snapshots in the vault.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Back up one environment: its database (pg_dump → zstd → age) and the filestore blobs
    /// the database references, committed by writing the manifest last.
    #[command(after_help = "Example:\n  \
        ward --estate care backup run billing/prod\n  \
        ward backup run billing/prod --db-url postgres://odoo@127.0.0.1:5432/billing --filestore /var/lib/odoo/filestore/billing\n  \
        PGPASSWORD=… ward backup run billing/prod -o json | jq .new_bytes")]
    Run(Box<RunArgs>),
    /// List committed snapshots. Needs no key: monitoring never needs restore rights.
    #[command(after_help = "Example:\n  \
        ward --estate care backup list\n  \
        ward backup list billing/prod -o json | jq '.[-1].id'")]
    List(ListArgs),
    /// Check a snapshot: every object exists with its recorded size; with --read-data every
    /// byte is decrypted and every checksum checked. Exits 1 and names each bad object.
    #[command(after_help = "Example:\n  \
        ward --estate care backup verify 20261126T101500Z-1a2b3c4d\n  \
        ward backup verify st-marys/billing/prod/20261126T101500Z-1a2b3c4d --read-data")]
    Verify(VerifyArgs),
    /// Apply the tier's retention (keep-last/hourly/daily/weekly/monthly from the posture),
    /// then delete blobs no snapshot references that are older than the grace period.
    #[command(after_help = "Example:\n  \
        ward --estate care backup prune billing/prod --dry-run\n  \
        ward backup prune billing/prod --grace 24h")]
    Prune(PruneArgs),
    /// Generate an environment's backup signing key (Ed25519: it signs snapshots and can
    /// decrypt nothing) and print the public line to pin in the estate's backup.signingKeys.
    #[command(after_help = "Example:\n  \
        ward --estate care backup keygen billing/prod\n  \
        ward backup keygen billing/prod --out /secure/billing-prod.ed25519")]
    Keygen(crate::commands::signing::KeygenArgs),
}

/// Where the PostgreSQL client tools are, and how long to wait for the server.
#[derive(clap::Args, Debug, Clone)]
pub struct PgArgs {
    /// Folder holding pg_dump/pg_restore [default: PATH].
    #[arg(long, env = "WARD_PG_BINDIR", value_name = "DIR")]
    pub pg_bindir: Option<PathBuf>,
    /// How long to wait for the database server to accept the connection and the login
    /// (e.g. 30s) [default: the environment's database.connectTimeout, else 10s].
    #[arg(long, value_name = "DURATION")]
    pub db_connect_timeout: Option<String>,
    /// How long one statement or table-lock wait may take, pg_dump's included (e.g. 15m)
    /// [default: the environment's database.statementTimeout, else 5m].
    #[arg(long, value_name = "DURATION")]
    pub db_statement_timeout: Option<String>,
    #[command(flatten)]
    pub tls: crate::db_tls::DbTlsArgs,
}

impl PgArgs {
    pub fn tools(&self) -> PgTools {
        self.pg_bindir
            .as_ref()
            .map(PgTools::in_dir)
            .unwrap_or_default()
    }

    /// The limits for `env`'s server: the flags, else the estate's
    /// `database.connectTimeout`/`statementTimeout`, else the defaults.
    pub fn timeouts(
        &self,
        estate: &Estate,
        env: Option<&ResolvedEnvironment>,
    ) -> Result<ward_vault::PgTimeouts, Failure> {
        let declared = env.and_then(|env| {
            estate
                .workloads
                .iter()
                .find(|w| w.name() == env.workload)?
                .spec
                .environments
                .iter()
                .find(|e| e.name.value == env.environment)?
                .database
                .as_ref()
        });
        let pick = |flag: &Option<String>,
                    name: &str,
                    estate_value: Option<&ward_estate::units::Duration>,
                    default: std::time::Duration|
         -> Result<std::time::Duration, Failure> {
            let seconds = match flag {
                Some(text) => ward_estate::units::Duration::parse(text)
                    .map_err(|e| {
                        Failure::bad_input(format!("--{name} {text}: {e}"), "e.g. 30s, 5m, 1h")
                    })?
                    .as_secs(),
                None => match estate_value {
                    Some(d) => d.as_secs(),
                    None => return Ok(default),
                },
            };
            if seconds == 0 {
                return Err(Failure::bad_input(
                    format!("the {name} must be at least 1s"),
                    "e.g. 30s, 5m, 1h",
                ));
            }
            Ok(std::time::Duration::from_secs(seconds))
        };
        let defaults = ward_vault::PgTimeouts::default();
        Ok(ward_vault::PgTimeouts {
            connect: pick(
                &self.db_connect_timeout,
                "db-connect-timeout",
                declared
                    .and_then(|d| d.connect_timeout.as_ref())
                    .map(|s| &s.value),
                defaults.connect,
            )?,
            statement: pick(
                &self.db_statement_timeout,
                "db-statement-timeout",
                declared
                    .and_then(|d| d.statement_timeout.as_ref())
                    .map(|s| &s.value),
                defaults.statement,
            )?,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The environment, as `workload/environment`.
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: String,
    /// Database to dump instead of the estate's endpoint (`postgres://user[:password]@host:port/db`;
    /// without a password in it, PGPASSWORD is used).
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// The database's filestore folder (`<data_dir>/filestore/<db>`) instead of the estate's.
    #[arg(long, value_name = "DIR")]
    pub filestore: Option<PathBuf>,
    /// A hot standby of the database to read the snapshot from (same database and role;
    /// without a password in it, the primary's is used) [default: the environment's
    /// read-only service when its cluster has more than one instance and no --db-url is
    /// given].
    #[arg(long, value_name = "URL", conflicts_with = "no_standby")]
    pub standby_url: Option<String>,
    /// Read the snapshot from the primary even where a standby exists.
    #[arg(long)]
    pub no_standby: bool,
    /// Fail when the standby cannot serve the snapshot (down, lagging, not in recovery)
    /// instead of reading from the primary with a warning.
    #[arg(long, conflicts_with = "no_standby")]
    pub require_standby: bool,
    /// Commit the snapshot even if referenced blobs are missing or corrupted; they are
    /// named in the summary, the manifest and the ledger.
    #[arg(long)]
    pub allow_missing_blobs: bool,
    /// A DBA identity to unlock the tenant's repository key when it is not cached here
    /// [default: WARD_IDENTITY, then the DBA identity in the state folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Push the result to this Prometheus Pushgateway (`ward_backup_*` gauges, grouped by
    /// job and environment) for the staleness alerts.
    #[arg(long, env = "WARD_PUSHGATEWAY", value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Filestore blobs read and uploaded at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// The environment's backup signing key [default: its signing secret in the secrets
    /// folder, then keys/backup/<workload>/<env>.ed25519 in the state folder].
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    #[command(flatten)]
    pub pg: PgArgs,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only this environment (`workload/environment`).
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: Option<String>,
    /// Read this local repository folder instead of the estate's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Snapshot id, unique id prefix, or `tenant/workload/environment/id`.
    pub snapshot: String,
    /// Download, decrypt and decompress every byte; check every blob's sha1 and the dump's
    /// checksum (needs an identity).
    #[arg(long)]
    pub read_data: bool,
    /// Identity file for --read-data [default: WARD_IDENTITY, then the DBA identity in the
    /// state folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Read this local repository folder instead of the estate's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// The environment, as `workload/environment`.
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: String,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Unreferenced blobs younger than this are kept, so that a backup running now keeps
    /// its fresh blobs (e.g. 30m, 6h, 1d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub grace: String,
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    match cmd {
        Command::Run(a) => run_backup(cx, *a),
        Command::List(a) => list(cx, a),
        Command::Verify(a) => verify(cx, a),
        Command::Prune(a) => prune(cx, a),
        Command::Keygen(a) => crate::commands::signing::keygen(cx, a),
    }
}

// ---------------------------------------------------------------------------------------
// Shared glue (also used by `ward restore` and `ward init`).

/// A small multi-threaded runtime: the vault runs the dump and the filestore side by side.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::operational(
                format!("cannot start the async runtime: {e}"),
                "check the process limits (threads, open files)",
            )
        })
}

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

pub(crate) fn environment<'a>(
    estate: &'a Estate,
    address: &str,
) -> Result<&'a ResolvedEnvironment, Failure> {
    estate
        .environment(address)
        .ok_or_else(|| crate::commands::explain::unknown_address(estate, address))
}

/// How to open the platform object store named `name`. S3 credentials come from
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else from the store's `credentials` secret
/// in the secrets folder (`access_key_id` and `secret_access_key` files).
pub(crate) fn repository_config(
    cx: &Context,
    estate: &Estate,
    name: &str,
) -> Result<RepositoryConfig, Failure> {
    let state = cx.state_dir();
    let store = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.object_stores.iter().find(|s| s.name.value == name))
        .ok_or_else(|| {
            Failure::bad_input(
                format!("the platform has no object store `{name}`"),
                "declare it under spec.objectStores of the Platform",
            )
        })?;
    let object_lock = store.object_lock.as_ref().map(|l| ward_vault::ObjectLock {
        mode: match l.mode.value {
            EstateLock::Governance => ward_vault::LockMode::Governance,
            EstateLock::Compliance => ward_vault::LockMode::Compliance,
        },
        days: l.days.value,
    });
    let text = |f: &Option<ward_estate::Spanned<String>>| f.as_ref().map(|s| s.value.clone());
    let location = match store.kind.value {
        StoreKind::Local => {
            let path = PathBuf::from(text(&store.path).unwrap_or_else(|| "vault".into()));
            StoreLocation::Local(if path.is_absolute() {
                path
            } else {
                state.join(path)
            })
        }
        StoreKind::S3 => {
            let mut s3 = S3Location::with_env_credentials(
                text(&store.endpoint),
                text(&store.bucket).unwrap_or_default(),
                text(&store.region).unwrap_or_else(|| "us-east-1".into()),
                text(&store.prefix).unwrap_or_default(),
            );
            if s3.access_key_id.is_none()
                && s3.secret_access_key.is_none()
                && let Some(reference) = &store.credentials
            {
                let secrets = cx.secrets();
                s3.access_key_id = secrets.read(reference, Some("access_key_id"))?;
                s3.secret_access_key = secrets.read(reference, Some("secret_access_key"))?;
            }
            StoreLocation::S3(s3)
        }
    };
    Ok(RepositoryConfig {
        store: location,
        object_lock,
    })
}

pub(crate) async fn open_repository(config: &RepositoryConfig) -> Result<Repository, Failure> {
    Repository::open(config).await.map_err(|e| {
        vault_failure(
            e,
            "check the object store in the platform (path, bucket, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        )
    })
}

fn local_config(dir: &Path) -> RepositoryConfig {
    RepositoryConfig {
        store: StoreLocation::Local(dir.to_path_buf()),
        object_lock: None,
    }
}

/// Every distinct object store environments back up to, in estate order.
fn stores_in_use(cx: &Context, estate: &Estate) -> Vec<String> {
    let mut seen = BTreeSet::new();
    estate
        .environments
        .iter()
        .map(|e| cx.store_of(e))
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// The recipients a backup of `env` is encrypted to: each `dba`'s age key, break-glass,
/// and the drill recipient of the environment's stack (`rendering.drillRecipients`), so
/// that a stack's drill identity reads that stack's backups and no other's.
pub(crate) fn recipients(
    estate: &Estate,
    env: &ResolvedEnvironment,
) -> Result<Recipients, Failure> {
    let mut keys: Vec<String> = estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .filter(|p| p.has(Role::Dba))
        .filter_map(|p| p.age_recipient.as_ref().map(|r| r.value.clone()))
        .collect();
    if keys.is_empty() {
        return Err(Failure::bad_input(
            "no person with role dba has an age key: nobody could restore this backup",
            "add `keys: { age: age1… }` to a dba in a Team (age-keygen prints one)",
        ));
    }
    let break_glass = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.break_glass_recipient.as_ref())
        .ok_or_else(|| {
            Failure::bad_input(
                "the platform has no breakGlassRecipient: backups need a recovery key of last resort",
                "add `breakGlassRecipient: age1…` to the Platform spec and keep its identity offline",
            )
        })?;
    keys.push(break_glass.value.clone());
    if let Some(drill) = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.rendering.drill_recipients.get(&env.stack))
    {
        keys.push(drill.value.clone());
    }
    keys.sort();
    keys.dedup();
    Recipients::parse(&keys).map_err(|e| vault_failure(e, "fix the age recipients in the estate"))
}

/// The DBA identity `ward init` keeps in the state folder (`keys/<dba>.age`), if any.
pub(crate) fn state_identity(estate: &Estate, state: &Path) -> Option<PathBuf> {
    estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .filter(|p| p.has(Role::Dba))
        // A person's name becomes a file name: only one safe component does.
        .filter(|p| ward_vault::check_component("person name", &p.name.value).is_ok())
        .map(|p| state.join("keys").join(format!("{}.age", p.name.value)))
        .find(|p| p.is_file())
}

/// `--identity`, then `WARD_IDENTITY`, then the state folder's DBA identity.
pub(crate) fn identities(
    estate: &Estate,
    state: &Path,
    explicit: Option<&Path>,
) -> Result<Identities, Failure> {
    let fallback = state_identity(estate, state);
    Identities::locate(explicit, fallback.as_deref())
        .map_err(|e| vault_failure(e, "pass --identity FILE or set WARD_IDENTITY"))
}

/// A database to connect to, and where its password came from (for the hint when the
/// server refuses it).
pub(crate) struct DbTarget {
    pub db: DbConnection,
    pub password_source: String,
    /// Where the user name came from, for the hint when the server has no such role.
    pub user_source: String,
}

impl DbTarget {
    /// The failure for a vault error, pointing at the password's source when the server
    /// refused the login.
    pub(crate) fn failure(&self, e: VaultError, hint: &str) -> Failure {
        match e.cause() {
            VaultError::DatabaseAuth { .. } => {
                let hint = format!("the password came from {}", self.password_source);
                vault_failure(e, &hint)
            }
            VaultError::RoleMissing { user, .. } => {
                let hint = format!(
                    "the user name {user:?} came from {}: create that role on the server, or fix the name there",
                    self.user_source
                );
                vault_failure(e, &hint)
            }
            _ => vault_failure(e, hint),
        }
    }
}

/// Who logs in where when no `--db-url` says: an environment's own role on its database,
/// or the drill role on its server's maintenance database, each with the secret reference
/// its password is read from (resolved once in `ward_estate::resolve`).
pub(crate) struct Login<'e> {
    host: &'e str,
    port: u32,
    dbname: &'e str,
    user: &'e str,
    password_secret: &'e SecretRef,
    /// Where `user` came from, said in the hint when the server has no such role.
    user_source: String,
}

impl<'e> Login<'e> {
    /// The environment's own role on its own database (backups, restores).
    pub(crate) fn owner(env: &'e ResolvedEnvironment) -> Login<'e> {
        let d = &env.database;
        Login {
            host: &d.host,
            port: d.port,
            dbname: &d.name,
            user: &d.user,
            password_secret: &d.password_secret,
            user_source: format!(
                "the estate: environment {}'s database.user, or its default when not set ({})",
                env.address(),
                env.location
            ),
        }
    }

    /// The drill role on the environment's drill server (never its production one, unless
    /// the estate declares the host), at its maintenance database (drills).
    pub(crate) fn drill(env: &'e ResolvedEnvironment) -> Login<'e> {
        let d = &env.database;
        Login {
            host: &d.drill.host,
            port: d.port,
            dbname: &d.drill.database,
            user: &d.drill.user,
            password_secret: &d.drill.password_secret,
            user_source: "the drill role the renderer gives every PostgreSQL cluster (docs/rendering.md, \"The drill role\"); pass --db-url to drill as another user".into(),
        }
    }
}

/// The database to connect to: `--db-url`, else `login`. The password comes from the
/// URL, else `PGPASSWORD`, else the login's password secret in the secrets folder (see
/// [`crate::secrets`]).
pub(crate) fn db_connection(
    cx: &Context,
    login: Option<Login<'_>>,
    url: Option<&str>,
) -> Result<DbTarget, Failure> {
    let mut db = match (url, &login) {
        (Some(url), _) => DbConnection::from_url(url)
            .map_err(|e| vault_failure(e, "use postgres://user[:password]@host:port/db"))?,
        (None, Some(login)) => DbConnection {
            host: login.host.to_string(),
            port: u16::try_from(login.port).map_err(|_| {
                Failure::bad_input(
                    format!("database port {} is out of range", login.port),
                    "fix the environment's database port in the estate",
                )
            })?,
            dbname: login.dbname.to_string(),
            user: login.user.to_string(),
            password: None,
            // Settled by `DbTlsArgs::apply` from the flags and the estate.
            sslmode: ward_vault::SslMode::VerifyFull,
            sslrootcert: None,
            channel_binding: ward_vault::ChannelBinding::Prefer,
            timeouts: ward_vault::PgTimeouts::default(),
            hostaddr: None,
        },
        (None, None) => {
            return Err(Failure::bad_input(
                "no database to connect to: the snapshot's environment is not in the estate",
                "pass --db-url postgres://user@host:port/postgres",
            ));
        }
    };
    let user_source = match (url, &login) {
        (None, Some(login)) => login.user_source.clone(),
        _ => "the --db-url".into(),
    };
    if db.password.is_some() {
        return Ok(DbTarget {
            db,
            password_source: "the --db-url".into(),
            user_source,
        });
    }
    if let Ok(pw) = std::env::var("PGPASSWORD")
        && !pw.is_empty()
    {
        db.password = Some(SecretString::new(pw));
        return Ok(DbTarget {
            db,
            password_source: "PGPASSWORD".into(),
            user_source,
        });
    }
    let Some(login) = login else {
        return Ok(DbTarget {
            db,
            password_source: "nowhere: put it in the --db-url or PGPASSWORD".into(),
            user_source,
        });
    };
    let secrets = cx.secrets();
    let secret = login.password_secret;
    let path = secrets.path_of(secret, None)?;
    let named = crate::secrets::SecretsDir::describe(secret);
    db.password = secrets.read(secret, None)?;
    let password_source = if db.password.is_some() {
        format!("the secret {named} ({})", path.display())
    } else {
        format!(
            "nowhere: the secret {named} is not at {}; write it there (or mount it, or pass --secrets-dir), or set PGPASSWORD",
            path.display()
        )
    };
    Ok(DbTarget {
        db,
        password_source,
        user_source,
    })
}

/// A snapshot found in one of the estate's repositories (or `--repo`).
pub(crate) struct Located {
    pub repo: Repository,
    /// Verified against `keys`, the estate's pinned signing keys.
    pub manifest: SnapshotManifest,
    pub keys: ward_vault::TrustedKeys,
}

/// Finds a snapshot by reference or id prefix: in `--repo`, else in its environment's
/// object store, else in every object store the estate uses.
pub(crate) async fn locate_snapshot(
    cx: &Context,
    estate: &Estate,
    reference: &str,
    repo_dir: Option<&Path>,
) -> Result<Located, Failure> {
    let keys = crate::commands::signing::trusted_keys(estate)?;
    let configs: Vec<RepositoryConfig> = if let Some(dir) = repo_dir {
        vec![local_config(dir)]
    } else {
        let own_store = reference
            .parse::<ward_vault::SnapshotRef>()
            .ok()
            .and_then(|r| estate.environment(&format!("{}/{}", r.workload, r.environment)))
            .map(|e| cx.store_of(e));
        let names = match own_store {
            Some(s) => vec![s],
            None => stores_in_use(cx, estate),
        };
        names
            .iter()
            .map(|n| repository_config(cx, estate, n))
            .collect::<Result<_, _>>()?
    };
    for config in &configs {
        if let StoreLocation::Local(dir) = &config.store
            && !dir.exists()
        {
            continue;
        }
        let repo = open_repository(config).await?;
        match ward_vault::find_snapshot(&repo, reference, &keys).await {
            Ok(manifest) => {
                return Ok(Located {
                    repo,
                    manifest,
                    keys,
                });
            }
            Err(VaultError::SnapshotNotFound(_)) => continue,
            Err(e) => {
                return Err(vault_failure(
                    e,
                    "check the snapshot id with `ward backup list`",
                ));
            }
        }
    }
    Err(vault_failure(
        VaultError::SnapshotNotFound(reference.to_string()),
        "list the snapshots with `ward backup list`",
    ))
}

// ---------------------------------------------------------------------------------------
// ward backup run

fn run_backup(cx: &Context, args: RunArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let env = environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let state = cx.state_dir();
    let mut details = Map::new();
    details.insert("environment".into(), env.address().into());
    details.insert("object_store".into(), cx.store_of(env).into());
    let result = (|| {
        let recipients = recipients(&estate, env)?;
        let config = repository_config(cx, &estate, &cx.store_of(env))?;
        let mut db = db_connection(cx, Some(Login::owner(env)), args.db_url.as_deref())?;
        db.db.timeouts = args.pg.timeouts(&estate, Some(env))?;
        args.pg
            .tls
            .apply(&mut db.db, Some(env), args.db_url.as_deref())?;
        let filestore = args
            .filestore
            .clone()
            .unwrap_or_else(|| PathBuf::from(&env.filestore));
        if args.concurrency == 0 {
            return Err(Failure::bad_input(
                "--concurrency must be at least 1",
                "use the default (8)",
            ));
        }
        // An identity is optional here: only needed when the tenant key is not cached.
        let ids = match Identities::locate(
            args.identity.as_deref(),
            state_identity(&estate, &state).as_deref(),
        ) {
            Ok(ids) => Some(ids),
            Err(VaultError::IdentityRequired) => None,
            Err(e) => return Err(vault_failure(e, "pass a valid --identity FILE")),
        };
        let standby = standby_connection(env, &args, &db.db)?;
        if args.require_standby && standby.is_none() {
            return Err(Failure::bad_input(
                format!(
                    "--require-standby: there is no standby to read {} from (with --db-url, none unless --standby-url names one; else the environment's cluster has one instance, or the estate declares its database host)",
                    env.address()
                ),
                "pass --standby-url postgres://user@standby:5432/db, or drop --require-standby",
            ));
        }
        if let Some(standby) = &standby {
            details.insert("standby".into(), standby.server().into());
        }
        let target = BackupTarget {
            tenant: env.tenant.clone(),
            workload: env.workload.clone(),
            environment: env.environment.clone(),
            db: db.db.clone(),
            standby,
            filestore,
        };
        let signing_key =
            crate::commands::signing::signing_key(cx, env, args.signing_key.as_deref())?;
        let trusted = crate::commands::signing::trusted_keys(&estate)?;
        let mut options = BackupOptions::new(recipients.clone(), signing_key, trusted.clone());
        options.require_standby = args.require_standby;
        // As long as the standby may take to replay up to the primary as one statement.
        options.standby_catch_up = db.db.timeouts.statement;
        options.estate_commit = estate.git.commit.clone();
        options.allow_missing_blobs = args.allow_missing_blobs;
        options.pg_tools = args.pg.tools();
        options.blob_concurrency = args.concurrency;
        let progress = crate::progress::for_command(cx);
        ward_vault::check_component("tenant name", &env.tenant)
            .map_err(|e| vault_failure(e, "fix the tenant's name in the estate"))?;
        let cache = state.join("keys").join(format!("{}.key", env.tenant));
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            // The tenant key the signed chain names: a changed one is refused, never cached.
            let pinned = ward_vault::pinned_tenant_key_id(&repo, &env.tenant, &trusted)
                .await
                .map_err(|e| vault_failure(e, "check the object store"))?;
            let key = ward_vault::tenant_key(
                &repo,
                &env.tenant,
                &recipients,
                &cache,
                ids.as_ref(),
                pinned.as_deref(),
            )
            .await
            .map_err(|e| vault_failure(e, "check the repository and the state folder"))?;
            ward_vault::backup(&repo, &target, &key, &options, progress)
                .await
                .map_err(|e| {
                    db.failure(
                        e,
                        "no snapshot was committed; fix the cause and run the backup again",
                    )
                })
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.insert("snapshot".into(), summary.snapshot.to_string().into());
            details.insert(
                "source".into(),
                serde_json::to_value(&summary.source).unwrap_or(Value::Null),
            );
            if let Some(skipped) = &summary.standby_skipped {
                details.insert(
                    "standby_skipped".into(),
                    serde_json::to_value(skipped).unwrap_or(Value::Null),
                );
            }
            details.insert("new_bytes".into(), summary.new_bytes.into());
            details.insert("dump_bytes".into(), summary.dump_bytes.into());
            details.insert("dump_stored_bytes".into(), summary.dump_stored_bytes.into());
            details.insert("attachments".into(), summary.attachments.into());
            details.insert("blobs_uploaded".into(), summary.blobs_uploaded.into());
            details.insert("blobs_reused".into(), summary.blobs_reused.into());
            details.insert(
                "duration_seconds".into(),
                round(summary.duration_seconds).into(),
            );
            let outcome = if summary.problems.is_empty() {
                Outcome::Ok
            } else {
                details.insert(
                    "missing_blobs".into(),
                    summary
                        .problems
                        .iter()
                        .map(|p| Value::from(p.to_string()))
                        .collect::<Vec<_>>()
                        .into(),
                );
                Outcome::Findings
            };
            Ok((summary, outcome, details))
        }
        Err(f) => Err((f, details)),
    };
    let recorded = record_result(cx, &estate, "backup.run", &subject, result);
    push_backup_metrics(args.pushgateway.as_deref(), &env.address(), &recorded);
    let summary = recorded?;
    if let Some(skipped) = &summary.standby_skipped {
        // On stderr in both formats: a scripted run sees it too, and JSON has it as a field.
        crate::report::warn(&format!(
            "the standby at {} was not used ({}); the snapshot was read from the primary at {}",
            skipped.server, skipped.reason, summary.source.server
        ));
    }
    match cx.output {
        Output::Json => print_json(&summary)?,
        Output::Text => {
            let p = &summary.phases;
            println!("snapshot {} committed", summary.snapshot);
            println!(
                "  source     {} {}",
                match summary.source.role {
                    ward_vault::DumpRole::Primary => "primary",
                    ward_vault::DumpRole::Standby => "standby",
                },
                summary.source.server
            );
            println!(
                "  dump       {} → {} stored in {:.1}s",
                HumanBytes(summary.dump_bytes),
                HumanBytes(summary.dump_stored_bytes),
                p.dump_seconds
            );
            println!(
                "  filestore  {} attachments: {} blobs uploaded, {} reused, in {:.1}s",
                summary.attachments,
                summary.blobs_uploaded,
                summary.blobs_reused,
                p.filestore_seconds
            );
            println!("  manifest   written in {:.1}s", p.manifest_seconds);
            println!(
                "  new bytes {}, duration {:.1}s, throughput {}/s",
                HumanBytes(summary.new_bytes),
                summary.duration_seconds,
                HumanBytes(summary.throughput_bytes_per_second as u64)
            );
            if !summary.problems.is_empty() {
                eprintln!(
                    "warning: {} referenced blob(s) could not be backed up (--allow-missing-blobs):",
                    summary.problems.len()
                );
                for problem in &summary.problems {
                    eprintln!("  {problem}");
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// The standby a backup reads its snapshot from: none with `--no-standby`; the
/// `--standby-url`; none when `--db-url` overrides the estate (Ward cannot know that
/// server's standbys); else the environment's `snapshot_host` where it is not its `host`
/// (CloudNativePG's `-ro` service), logging in as on the primary.
fn standby_connection(
    env: &ResolvedEnvironment,
    args: &RunArgs,
    primary: &DbConnection,
) -> Result<Option<DbConnection>, Failure> {
    if args.no_standby {
        return Ok(None);
    }
    if let Some(url) = &args.standby_url {
        let mut standby = DbConnection::from_url(url).map_err(|e| {
            vault_failure(
                e,
                "use --standby-url postgres://user[:password]@host:port/db",
            )
        })?;
        if standby.password.is_none() {
            standby.password = primary.password.clone();
        }
        standby.timeouts = primary.timeouts;
        return Ok(Some(standby));
    }
    if args.db_url.is_some() || env.database.snapshot_host == env.database.host {
        return Ok(None);
    }
    Ok(Some(DbConnection {
        host: env.database.snapshot_host.clone(),
        ..primary.clone()
    }))
}

fn push_backup_metrics(
    pushgateway: Option<&str>,
    environment: &str,
    recorded: &Result<ward_vault::BackupSummary, Failure>,
) {
    use crate::metrics::{Gauge, Group, now_seconds, push_or_warn};
    let gauges = match recorded {
        Ok(summary) => vec![
            Gauge {
                name: "ward_backup_last_success_timestamp_seconds",
                help: "When the last backup of the environment was committed",
                value: now_seconds(),
            },
            Gauge {
                name: "ward_backup_duration_seconds",
                help: "Wall time of the last successful backup",
                value: summary.duration_seconds,
            },
            Gauge {
                name: "ward_backup_new_bytes",
                help: "Bytes the last successful backup stored anew",
                value: summary.new_bytes as f64,
            },
        ],
        Err(_) => vec![Gauge {
            name: "ward_backup_last_failure_timestamp_seconds",
            help: "When a backup of the environment last failed",
            value: now_seconds(),
        }],
    };
    let group = Group {
        job: "ward_backup",
        environment,
    };
    push_or_warn(pushgateway, &group, &gauges);
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------
// ward backup list

/// One line of `backup list -o json`: the plaintext manifest without the blob list.
#[derive(serde::Serialize)]
struct ListRow<'a> {
    snapshot: String,
    tenant: &'a str,
    workload: &'a str,
    environment: &'a str,
    id: &'a str,
    /// Its signed statement verifies against a key the estate pins for the environment.
    verified: bool,
    /// Why it does not verify (then nothing below is trusted: it is what the plaintext
    /// manifest claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    unverified: Option<&'a str>,
    /// It has no statement at all (format 1, a forgery, or a backup killed before its
    /// commit point).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unsigned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estate_commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postgres_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    odoo_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dump_stored_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob_stats: Option<&'a ward_vault::BlobStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_lock: Option<&'a ward_vault::SnapshotLock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<&'a [String]>,
}

fn list_row(l: &ListedSnapshot) -> ListRow<'_> {
    let s = l.snapshot();
    let m = match l {
        ListedSnapshot::Verified { manifest, .. } => Some(manifest.as_ref()),
        ListedSnapshot::Unverified { manifest, .. } => manifest.as_deref(),
    };
    ListRow {
        snapshot: s.to_string(),
        tenant: &s.tenant,
        workload: &s.workload,
        environment: &s.environment,
        id: &s.id,
        verified: l.verified().is_some(),
        unverified: match l {
            ListedSnapshot::Unverified { reason, .. } => Some(reason),
            ListedSnapshot::Verified { .. } => None,
        },
        unsigned: matches!(l, ListedSnapshot::Unverified { unsigned: true, .. }),
        started: m.map(|m| m.started),
        finished: m.map(|m| m.finished),
        estate_commit: m.and_then(|m| m.estate_commit.as_deref()),
        postgres_version: m.map(|m| m.postgres_version.as_str()),
        odoo_version: m.and_then(|m| m.odoo_version.as_deref()),
        dump_stored_bytes: m.map(|m| m.dump_stored_bytes()),
        stored_bytes: m.map(|m| m.stored_bytes()),
        blob_stats: m.map(|m| &m.blob_stats),
        object_lock: m.and_then(|m| m.object_lock.as_ref()),
        recipients: m.map(|m| m.recipients.as_slice()),
    }
}

fn list(cx: &Context, args: ListArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let keys = crate::commands::signing::trusted_keys(&estate)?;
    let (filter, configs) = match &args.target {
        Some(t) => {
            let env = environment(&estate, t)?;
            let filter = SnapshotFilter {
                tenant: Some(env.tenant.clone()),
                workload: Some(env.workload.clone()),
                environment: Some(env.environment.clone()),
            };
            let config = match &args.repo {
                Some(dir) => local_config(dir),
                None => repository_config(cx, &estate, &cx.store_of(env))?,
            };
            (filter, vec![config])
        }
        None => {
            let configs = match &args.repo {
                Some(dir) => vec![local_config(dir)],
                None => stores_in_use(cx, &estate)
                    .iter()
                    .map(|n| repository_config(cx, &estate, n))
                    .collect::<Result<_, _>>()?,
            };
            (SnapshotFilter::default(), configs)
        }
    };
    let listed = runtime()?.block_on(async {
        let mut all = Vec::new();
        for config in &configs {
            if let StoreLocation::Local(dir) = &config.store
                && !dir.exists()
            {
                continue; // nothing backed up there yet
            }
            let repo = open_repository(config).await?;
            let found = ward_vault::list(&repo, &filter, &keys)
                .await
                .map_err(|e| vault_failure(e, "check the object store"))?;
            all.extend(found);
        }
        Ok::<_, Failure>(all)
    })?;
    let rows: Vec<ListRow> = listed.iter().map(list_row).collect();
    match cx.output {
        Output::Json => print_json(&rows)?,
        Output::Text => {
            if rows.is_empty() {
                println!("no snapshots");
                return Ok(Exit::Ok);
            }
            let mut table = vec![
                [
                    "ID",
                    "TENANT",
                    "WORKLOAD/ENV",
                    "STARTED",
                    "TOOK",
                    "POSTGRES",
                    "ODOO",
                    "ATTACHMENTS",
                    "STORED",
                    "LOCKED UNTIL",
                    "VERIFIED",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (l, r) in listed.iter().zip(&rows) {
                let row = match l {
                    ListedSnapshot::Verified { manifest: m, .. } => {
                        let took = m.finished.duration_since(m.started).as_secs_f64();
                        vec![
                            r.id.to_string(),
                            r.tenant.to_string(),
                            format!("{}/{}", r.workload, r.environment),
                            m.started.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
                            format!("{:.1}s", took.max(0.0)),
                            m.postgres_version.clone(),
                            m.odoo_version.clone().unwrap_or_else(|| "-".into()),
                            m.blob_stats.referenced.to_string(),
                            HumanBytes(m.stored_bytes()).to_string(),
                            m.object_lock
                                .map(|l| l.retain_until.strftime("%Y-%m-%d").to_string())
                                .unwrap_or_else(|| "-".into()),
                            "yes".into(),
                        ]
                    }
                    // What an unverified manifest claims is not shown: nothing in it is
                    // trusted.
                    ListedSnapshot::Unverified { reason, .. } => vec![
                        r.id.to_string(),
                        r.tenant.to_string(),
                        format!("{}/{}", r.workload, r.environment),
                        format!("NOT VERIFIED: {reason}"),
                    ],
                };
                table.push(row);
            }
            print!("{}", crate::commands::classify::table(&table));
        }
    }
    Ok(Exit::Ok)
}

// ---------------------------------------------------------------------------------------
// ward backup verify

fn verify(cx: &Context, args: VerifyArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let state = cx.state_dir();
    let mut details = Map::new();
    details.insert("read_data".into(), args.read_data.into());
    let mut subject = args.snapshot.clone();
    let progress = crate::progress::for_command(cx);
    let result = runtime()?.block_on(async {
        let ids = if args.read_data {
            Some(identities(&estate, &state, args.identity.as_deref())?)
        } else {
            None
        };
        let found = locate_snapshot(cx, &estate, &args.snapshot, args.repo.as_deref()).await?;
        subject = found.manifest.snapshot.to_string();
        let depth = match &ids {
            Some(ids) => VerifyDepth::ReadData(ids),
            None => VerifyDepth::Metadata,
        };
        ward_vault::verify(
            &found.repo,
            &found.manifest.snapshot,
            &found.keys,
            depth,
            progress,
        )
        .await
        .map_err(|e| vault_failure(e, "check the object store"))
    });
    let result = match result {
        Ok(report) => {
            details.insert("objects_checked".into(), report.objects_checked.into());
            details.insert("stored_bytes_read".into(), report.stored_bytes_read.into());
            details.insert(
                "faults".into(),
                report
                    .faults
                    .iter()
                    .map(|f| j!({"object": f.object, "problem": f.problem}))
                    .collect::<Vec<_>>()
                    .into(),
            );
            let outcome = if report.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Findings
            };
            Ok((report, outcome, details))
        }
        Err(f) => Err((f, details)),
    };
    let report = record_result(cx, &estate, "backup.verify", &subject, result)?;
    match cx.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            let how = if report.read_data {
                format!(
                    "every byte read ({} objects, {})",
                    report.objects_checked,
                    HumanBytes(report.stored_bytes_read)
                )
            } else {
                format!(
                    "{} objects present with their recorded sizes",
                    report.objects_checked
                )
            };
            if report.is_ok() {
                println!("snapshot {} OK: {how}", report.snapshot);
            } else {
                println!(
                    "snapshot {} has {} bad object(s):",
                    report.snapshot,
                    report.faults.len()
                );
                for f in &report.faults {
                    println!("  BAD {}: {}", f.object, f.problem);
                }
            }
        }
    }
    Ok(if report.is_ok() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

// ---------------------------------------------------------------------------------------
// ward backup prune

fn prune(cx: &Context, args: PruneArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let env = environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let r = &env.classification.posture.retention;
    let retention = Retention {
        keep_last: r.keep_last,
        hourly: r.hourly,
        daily: r.daily,
        weekly: r.weekly,
        monthly: r.monthly,
    };
    let mut details = Map::new();
    details.insert("dry_run".into(), args.dry_run.into());
    details.insert("grace".into(), args.grace.clone().into());
    details.insert(
        "retention".into(),
        j!({"keep_last": r.keep_last, "hourly": r.hourly, "daily": r.daily, "weekly": r.weekly, "monthly": r.monthly}),
    );
    let result = (|| {
        let grace = ward_estate::units::Duration::parse(&args.grace).map_err(|e| {
            Failure::bad_input(format!("--grace {}: {e}", args.grace), "e.g. 30m, 6h, 1d")
        })?;
        let config = repository_config(cx, &estate, &cx.store_of(env))?;
        let keys = crate::commands::signing::trusted_keys(&estate)?;
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            let pruned = ward_vault::prune(
                &repo,
                &env.tenant,
                &env.workload,
                &env.environment,
                &keys,
                &retention,
                args.dry_run,
            )
            .await
            .map_err(|e| vault_failure(e, "nothing more was removed; run prune again"))?;
            let gc = ward_vault::collect_garbage(
                &repo,
                &env.tenant,
                &keys,
                std::time::Duration::from_secs(grace.as_secs()),
                args.dry_run,
            )
            .await
            .map_err(|e| {
                vault_failure(
                    e,
                    "snapshots were pruned; run prune again to collect garbage",
                )
            })?;
            Ok::<_, Failure>((pruned, gc))
        })
    })();
    let result = match result {
        Ok((pruned, gc)) => {
            details.insert(
                "removed".into(),
                pruned
                    .removed
                    .iter()
                    .map(|s| Value::from(s.to_string()))
                    .collect::<Vec<_>>()
                    .into(),
            );
            details.insert(
                "kept".into(),
                (pruned.decisions.len() - pruned.removed.len()).into(),
            );
            details.insert("deleted_objects".into(), gc.deleted.len().into());
            details.insert("unverified".into(), gc.unverified.clone().into());
            details.insert("deleted_bytes".into(), gc.deleted_bytes.into());
            Ok(((pruned, gc), Outcome::Ok, details))
        }
        Err(f) => Err((f, details)),
    };
    let (pruned, gc) = record_result(cx, &estate, "backup.prune", &subject, result)?;
    match cx.output {
        Output::Json => print_json(&j!({"prune": pruned, "gc": gc}))?,
        Output::Text => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for d in &pruned.decisions {
                println!(
                    "  {} {}  {}",
                    if d.keep { "keep  " } else { "remove" },
                    d.snapshot.id,
                    d.reasons.join(", ")
                );
            }
            println!(
                "{subject}: kept {}, {verb} {} snapshot(s); garbage: {verb} {} object(s) ({}), {} too fresh (grace {}), {} under object lock",
                pruned.decisions.len() - pruned.removed.len(),
                pruned.removed.len(),
                gc.deleted.len(),
                HumanBytes(gc.deleted_bytes),
                gc.kept_fresh,
                args.grace,
                gc.kept_locked
            );
            if !gc.unverified.is_empty() {
                println!(
                    "{} snapshot(s) do not verify; left in place, never counted, their blob lists ignored:",
                    gc.unverified.len()
                );
                for u in &gc.unverified {
                    println!("  {u}");
                }
            }
        }
    }
    Ok(Exit::Ok)
}
