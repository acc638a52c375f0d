//! `backup run`: one encrypted, incremental snapshot of an environment's database and
//! filestore, read from a hot standby where there is one, recorded in the ledger whether it
//! succeeds or fails. The CLI and the scheduler both call [`run`].

use std::path::PathBuf;
use std::sync::Arc;

use ward_estate::{Estate, ResolvedEnvironment};
use ward_ledger::Outcome;
use ward_vault::{BackupOptions, BackupSummary, BackupTarget, DbConnection, Progress};

use crate::vault::{
    Login, PgSettings, db_connection, identities_if_any, open_repository, recipients,
    record_result, repository_config, round, runtime, signing_key, tenant_key_cache, trusted_keys,
    vault_error,
};
use crate::{Error, Workspace, environment, event};

/// Where a backup reads its snapshot from.
#[derive(Clone, Debug, Default)]
pub enum StandbyChoice {
    /// The environment's read-only service when its cluster has more than one instance
    /// and no database URL overrides the estate.
    #[default]
    Auto,
    /// The primary, even where a standby exists.
    Primary,
    /// This standby (same database and role; without a password in it, the primary's).
    Url(String),
}

/// What a backup of one environment is asked to do.
#[derive(Clone, Debug)]
pub struct BackupRequest {
    /// The environment, as `workload/environment`.
    pub address: String,
    /// A database to dump instead of the estate's endpoint.
    pub db_url: Option<String>,
    /// The filestore folder instead of the estate's.
    pub filestore: Option<PathBuf>,
    pub standby: StandbyChoice,
    /// Fail when the standby cannot serve the snapshot instead of reading the primary.
    pub require_standby: bool,
    /// Commit even if referenced blobs are missing or corrupted (named in the ledger).
    pub allow_missing_blobs: bool,
    /// A DBA identity to unlock the tenant key when it is not cached.
    pub identity: Option<PathBuf>,
    /// Filestore blobs read and uploaded at once.
    pub concurrency: usize,
    /// The environment's backup signing key file instead of its secret or state copy.
    pub signing_key: Option<PathBuf>,
    pub pg: PgSettings,
    /// Stops the backup before its commit point when given (Ctrl-C, a cancelled run).
    pub cancel: ward_vault::Cancel,
}

impl BackupRequest {
    /// A backup of `address` as the estate declares it, with the defaults.
    pub fn new(address: impl Into<String>) -> BackupRequest {
        BackupRequest {
            address: address.into(),
            db_url: None,
            filestore: None,
            standby: StandbyChoice::Auto,
            require_standby: false,
            allow_missing_blobs: false,
            identity: None,
            concurrency: 8,
            signing_key: None,
            pg: PgSettings::default(),
            cancel: ward_vault::Cancel::new(),
        }
    }
}

/// Backs up one environment of `estate` and records the outcome in the ledger
/// (`backup.run`); a summary with missing blobs is recorded as findings.
#[tracing::instrument(name = "ops.backup", skip_all, fields(environment = %request.address, actor = %ws.actor))]
pub fn run(
    ws: &Workspace,
    estate: &Estate,
    request: &BackupRequest,
    progress: Arc<dyn Progress>,
) -> Result<BackupSummary, Error> {
    let env = environment(estate, &request.address)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let mut details = event::BackupRun {
        environment: env.address(),
        object_store: ws.store_of(env),
        ..Default::default()
    };
    let result = back_up(ws, estate, env, request, progress, &mut details);
    let result = match result {
        Ok(summary) => {
            details.snapshot = Some(summary.snapshot.to_string());
            details.source = serde_json::to_value(&summary.source).ok();
            details.standby_skipped = summary
                .standby_skipped
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok());
            details.new_bytes = Some(summary.new_bytes);
            details.dump_bytes = Some(summary.dump_bytes);
            details.dump_stored_bytes = Some(summary.dump_stored_bytes);
            details.attachments = Some(summary.attachments);
            details.blobs_uploaded = Some(summary.blobs_uploaded);
            details.blobs_reused = Some(summary.blobs_reused);
            details.duration_seconds = Some(round(summary.duration_seconds));
            let outcome = if summary.problems.is_empty() {
                Outcome::Ok
            } else {
                details.missing_blobs =
                    Some(summary.problems.iter().map(|p| p.to_string()).collect());
                Outcome::Findings
            };
            Ok((summary, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}

fn back_up(
    ws: &Workspace,
    estate: &Estate,
    env: &ResolvedEnvironment,
    request: &BackupRequest,
    progress: Arc<dyn Progress>,
    details: &mut event::BackupRun,
) -> Result<BackupSummary, Error> {
    let recipients = recipients(estate, env)?;
    let config = repository_config(ws, estate, &ws.store_of(env))?;
    let mut db = db_connection(ws, Some(Login::owner(env)), request.db_url.as_deref())?;
    db.db.timeouts = request.pg.timeouts(estate, Some(env))?;
    request.pg.tls.apply(
        &mut db.db,
        Some(env),
        request.db_url.as_deref(),
        ws.env.home.as_deref(),
    )?;
    let filestore = request
        .filestore
        .clone()
        .unwrap_or_else(|| PathBuf::from(&env.filestore));
    if request.concurrency == 0 {
        return Err(Error::bad_input(
            "--concurrency must be at least 1",
            "use the default (8)",
        ));
    }
    // An identity is optional here: only needed when the tenant key is not cached.
    let ids = identities_if_any(ws, estate, request.identity.as_deref())?;
    let standby = standby_connection(env, request, &db.db)?;
    if request.require_standby && standby.is_none() {
        return Err(Error::bad_input(
            format!(
                "--require-standby: there is no standby to read {} from (with --db-url, none unless --standby-url names one; else the environment's cluster has one instance, or the estate declares its database host)",
                env.address()
            ),
            "pass --standby-url postgres://user@standby:5432/db, or drop --require-standby",
        ));
    }
    if let Some(standby) = &standby {
        details.standby = Some(standby.server());
    }
    let target = BackupTarget {
        tenant: env.tenant.clone(),
        workload: env.workload.clone(),
        environment: env.environment.clone(),
        db: db.db.clone(),
        standby,
        filestore,
    };
    let signing_key = signing_key(ws, env, request.signing_key.as_deref())?;
    let trusted = trusted_keys(estate)?;
    let mut options = BackupOptions::new(recipients.clone(), signing_key, trusted.clone());
    options.require_standby = request.require_standby;
    // As long as the standby may take to replay up to the primary as one statement.
    options.standby_catch_up = db.db.timeouts.statement;
    options.estate_commit = estate.git.commit.clone();
    options.allow_missing_blobs = request.allow_missing_blobs;
    options.pg_tools = request.pg.tools(&ws.env);
    options.blob_concurrency = request.concurrency;
    options.cancel = request.cancel.clone();
    ward_vault::check_component("tenant name", &env.tenant)
        .map_err(|e| vault_error(e, "fix the tenant's name in the estate"))?;
    let cache = tenant_key_cache(&ws.state_dir, &env.tenant);
    runtime()?.block_on(async {
        let repo = open_repository(&config).await?;
        // The tenant key the signed chain names: a changed one is refused, never cached.
        let pinned = ward_vault::pinned_tenant_key_id(&repo, &env.tenant, &trusted)
            .await
            .map_err(|e| vault_error(e, "check the object store"))?;
        let key = ward_vault::tenant_key(
            &repo,
            &env.tenant,
            &recipients,
            &cache,
            ids.as_ref(),
            pinned.as_deref(),
        )
        .await
        .map_err(|e| vault_error(e, "check the repository and the state folder"))?;
        ward_vault::backup(&repo, &target, &key, &options, progress)
            .await
            .map_err(|e| {
                db.failure(
                    e,
                    "no snapshot was committed; fix the cause and run the backup again",
                )
            })
    })
}

/// The standby a backup reads its snapshot from: none when the primary is asked for; the
/// given URL; none when a database URL overrides the estate (Ward cannot know that
/// server's standbys); else the environment's `snapshot_host` where it is not its `host`
/// (CloudNativePG's `-ro` service), logging in as on the primary.
fn standby_connection(
    env: &ResolvedEnvironment,
    request: &BackupRequest,
    primary: &DbConnection,
) -> Result<Option<DbConnection>, Error> {
    match &request.standby {
        StandbyChoice::Primary => Ok(None),
        StandbyChoice::Url(url) => {
            let mut standby = DbConnection::from_url(url).map_err(|e| {
                vault_error(
                    e,
                    "use --standby-url postgres://user[:password]@host:port/db",
                )
            })?;
            if standby.password.is_none() {
                standby.password = primary.password.clone();
            }
            standby.timeouts = primary.timeouts;
            Ok(Some(standby))
        }
        StandbyChoice::Auto => {
            if request.db_url.is_some() || env.database.snapshot_host == env.database.host {
                return Ok(None);
            }
            Ok(Some(DbConnection {
                host: env.database.snapshot_host.clone(),
                ..primary.clone()
            }))
        }
    }
}
