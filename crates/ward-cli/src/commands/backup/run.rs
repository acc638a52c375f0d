//! `ward backup run`: one encrypted, incremental snapshot of an environment's database
//! and filestore, read from a hot standby where there is one, then its metrics pushed.

use std::path::PathBuf;

use indicatif::HumanBytes;
use serde_json::{Map, Value};
use ward_estate::ResolvedEnvironment;
use ward_ledger::Outcome;
use ward_vault::{BackupOptions, BackupTarget, DbConnection};

use super::{
    Login, PgArgs, db_connection, environment, open_repository, recipients, record_result,
    repository_config, runtime, vault_failure,
};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

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

pub(super) fn run_backup(cx: &Context, args: RunArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let env = environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let state = cx.state_dir();
    let mut details = Map::new();
    details.insert("environment".into(), env.address().into());
    details.insert("object_store".into(), cx.store_of(env).into());
    let result = (|| {
        let recipients = recipients(&estate, env)?;
        let config = repository_config(&cx.ws, &estate, &cx.store_of(env))?;
        let mut db = db_connection(&cx.ws, Some(Login::owner(env)), args.db_url.as_deref())?;
        db.db.timeouts = args.pg.settings().timeouts(&estate, Some(env))?;
        args.pg.settings().tls.apply(
            &mut db.db,
            Some(env),
            args.db_url.as_deref(),
            cx.ws.env.home.as_deref(),
        )?;
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
        let ids = ward_ops::vault::identities_if_any(&cx.ws, &estate, args.identity.as_deref())?;
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
            crate::commands::signing::signing_key(&cx.ws, env, args.signing_key.as_deref())?;
        let trusted = crate::commands::signing::trusted_keys(&estate)?;
        let mut options = BackupOptions::new(recipients.clone(), signing_key, trusted.clone());
        options.require_standby = args.require_standby;
        // As long as the standby may take to replay up to the primary as one statement.
        options.standby_catch_up = db.db.timeouts.statement;
        options.estate_commit = estate.git.commit.clone();
        options.allow_missing_blobs = args.allow_missing_blobs;
        options.pg_tools = args.pg.settings().tools(&cx.ws.env);
        options.blob_concurrency = args.concurrency;
        let progress = crate::progress::for_command(cx);
        ward_vault::check_component("tenant name", &env.tenant)
            .map_err(|e| vault_failure(e, "fix the tenant's name in the estate"))?;
        let cache = ward_ops::vault::tenant_key_cache(&state, &env.tenant);
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
    let recorded = record_result(&cx.ws, &estate, "backup.run", &subject, result);
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
                "  dump       {} → {} stored: {} chunks, {} new, in {:.1}s",
                HumanBytes(summary.dump_bytes),
                HumanBytes(summary.dump_stored_bytes),
                summary.dump_chunks,
                summary.dump_chunks_uploaded,
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
                name: ward_render::metrics::BACKUP_LAST_SUCCESS_METRIC,
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
        job: ward_render::metrics::BACKUP_PUSH_JOB,
        environment,
    };
    push_or_warn(pushgateway, &group, &gauges);
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
