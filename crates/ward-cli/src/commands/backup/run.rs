//! `ward backup run`: one encrypted, incremental snapshot of an environment's database
//! and filestore, read from a hot standby where there is one, then its metrics pushed.

use std::path::PathBuf;

use indicatif::HumanBytes;
use ward_ops::backup::{BackupRequest, StandbyChoice};

use super::PgArgs;
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
    let request = BackupRequest {
        address: args.target.clone(),
        db_url: args.db_url.clone(),
        filestore: args.filestore.clone(),
        standby: match (&args.standby_url, args.no_standby) {
            (Some(url), _) => StandbyChoice::Url(url.clone()),
            (None, true) => StandbyChoice::Primary,
            (None, false) => StandbyChoice::Auto,
        },
        require_standby: args.require_standby,
        allow_missing_blobs: args.allow_missing_blobs,
        identity: args.identity.clone(),
        concurrency: args.concurrency,
        signing_key: args.signing_key.clone(),
        pg: args.pg.settings(),
        cancel: crate::interrupt::cancel_on_ctrl_c(),
    };
    let progress = crate::progress::for_command(cx);
    let recorded = ward_ops::backup::run(&cx.ws, &estate, &request, progress);
    if let Some(env) = estate.environment(&args.target) {
        push_backup_metrics(args.pushgateway.as_deref(), &env.address(), &recorded);
    }
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
