//! `ward drill`: a timed restore drill of an environment's newest snapshot into a scratch
//! database, checked against the manifest and held to the workload's RTO and RPO.
//!
//! The evidence (times, objectives, verdict) goes to the ledger, pass or fail.

use std::path::PathBuf;

use serde_json::Map;
use ward_ledger::Outcome;
use ward_vault::DrillRequest;

use crate::commands::backup::{
    Login, PgArgs, db_connection, environment, identities, locate_snapshot, open_repository,
    record_result, repository_config, round, runtime, vault_failure,
};
use crate::commands::restore::print_checked_restore;
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Restore the newest snapshot of an environment into a scratch database and folder, check
/// it (row counts, modules, every blob's sha1), time it against the RTO, hold its age to the
/// RPO, drop it, and record the evidence. Exits 1 when the drill fails.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    ward --estate care drill billing/prod   # as ward-drill, password from the secrets folder\n  \
    ward drill billing/prod --secrets-dir /var/run/ward/secrets\n  \
    ward drill billing/prod --db-url postgres://drill@10.0.3.7:5432/postgres --scratch-dir /srv/drills -o json\n  \
    ward drill billing/prod --snapshot 20261126T101500Z-1a2b3c4d --keep")]
pub struct Args {
    /// The environment, as `workload/environment`.
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: String,
    /// Drill this snapshot (id or unique prefix) instead of the newest.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Server to create the scratch database on, as a user with CREATEDB
    /// (`postgres://user[:password]@host:port/maintenance_db`) [default: the environment's
    /// database server, maintenance database `postgres`, as the drill role `ward-drill`
    /// with the password from PGPASSWORD, else from the server's drill secret in the
    /// secrets folder].
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Folder for the scratch filestore [default: the system's temporary folder].
    #[arg(long, value_name = "DIR")]
    pub scratch_dir: Option<PathBuf>,
    /// pg_restore jobs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: u32,
    /// Age identity file [default: WARD_IDENTITY, then the DBA identity in the state folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Push the result to this Prometheus Pushgateway (`ward_drill_*` gauges, grouped by job
    /// and environment) for the `RestoreDrillOverdue` alert.
    #[arg(long, env = "WARD_PUSHGATEWAY", value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Leave the scratch database and folder in place for inspection.
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub pg: PgArgs,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let env = environment(&estate, &args.target)?;
    let objectives = estate
        .workloads
        .iter()
        .find(|w| w.name() == env.workload)
        .map(|w| &w.spec.classification);
    let seconds = |d: &ward_estate::units::Duration| std::time::Duration::from_secs(d.as_secs());
    let mut subject = env.address();
    let mut details = Map::new();
    details.insert("environment".into(), env.address().into());
    let progress = crate::progress::for_command(cx);
    let result = (|| {
        if args.jobs == 0 {
            return Err(Failure::bad_input(
                "--jobs must be at least 1",
                "use --jobs 1",
            ));
        }
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        let keys = crate::commands::signing::trusted_keys(&estate)?;
        // The drill role, not the environment's: only it may create the scratch database
        // (and, on a shared server, connect to it at all).
        let mut server = db_connection(&cx.ws, Some(Login::drill(env)), args.db_url.as_deref())?;
        server.db.timeouts = args.pg.settings().timeouts(&estate, Some(env))?;
        args.pg.settings().tls.apply(
            &mut server.db,
            Some(env),
            args.db_url.as_deref(),
            cx.ws.env.home.as_deref(),
        )?;
        let request = DrillRequest {
            server: server.db.clone(),
            scratch_dir: args.scratch_dir.clone().unwrap_or_else(std::env::temp_dir),
            jobs: args.jobs,
            pg_tools: args.pg.settings().tools(&cx.ws.env),
            rto: objectives.map(|c| seconds(&c.rto.value)),
            rpo: objectives.map(|c| seconds(&c.rpo.value)),
            keep: args.keep,
        };
        runtime()?.block_on(async {
            let (repo, snapshot) = match &args.snapshot {
                Some(id) => {
                    let found = locate_snapshot(&cx.ws, &estate, id, None).await?;
                    (found.repo, found.manifest.snapshot)
                }
                None => {
                    let config = repository_config(&cx.ws, &estate, &cx.store_of(env))?;
                    let repo = open_repository(&config).await?;
                    // The newest snapshot that verifies: a forged newer one is never drilled.
                    let newest = ward_vault::newest_verified_snapshot(
                        &repo,
                        &env.tenant,
                        &env.workload,
                        &env.environment,
                        &keys,
                    )
                    .await
                    .map_err(|e| vault_failure(e, "check the object store"))?;
                    let Some(snapshot) = newest else {
                        return Err(Failure::operational(
                            format!(
                                "{} has no verified snapshot to drill (`ward backup list` shows why each one does not verify)",
                                env.address()
                            ),
                            "run `ward backup run` for it first",
                        ));
                    };
                    (repo, snapshot)
                }
            };
            subject = snapshot.to_string();
            ward_vault::drill(&repo, &snapshot, &keys, &ids, &request, progress)
                .await
                .map_err(|e| server.failure(e, "fix the cause and drill again"))
        })
    })();
    let result = match result {
        Ok(report) => {
            details.insert(
                "scratch_database".into(),
                report.scratch_database.clone().into(),
            );
            details.insert("kept".into(), report.kept.into());
            details.insert("rto_seconds".into(), round(report.rto_seconds).into());
            details.insert(
                "rto_target_seconds".into(),
                report.rto_target_seconds.into(),
            );
            details.insert("rpo_seconds".into(), round(report.rpo_seconds).into());
            details.insert(
                "rpo_target_seconds".into(),
                report.rpo_target_seconds.into(),
            );
            details.insert("dump_bytes".into(), report.restore.dump_bytes.into());
            details.insert("blobs_checked".into(), report.restore.blobs_restored.into());
            details.insert("passed".into(), report.passed().into());
            let outcome = if report.passed() {
                Outcome::Ok
            } else {
                details.insert("failures".into(), report.failures.clone().into());
                Outcome::Findings
            };
            Ok((report, outcome, details))
        }
        Err(f) => Err((f, details)),
    };
    let recorded = record_result(&cx.ws, &estate, "drill", &subject, result);
    push_drill_metrics(args.pushgateway.as_deref(), &env.address(), &recorded);
    let report = recorded?;
    match cx.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            println!(
                "drill of {} into {} ({})",
                report.snapshot,
                report.scratch_database,
                if report.kept { "kept" } else { "dropped" }
            );
            print_checked_restore(&report.restore);
            let objective = |t: Option<f64>| {
                t.map_or_else(
                    || "no objective".to_string(),
                    |t| format!("objective {}", ward_estate::units::Duration(t as u64)),
                )
            };
            println!(
                "  RTO        {:.1}s ({})",
                report.rto_seconds,
                objective(report.rto_target_seconds)
            );
            println!(
                "  RPO        {} since the snapshot ({})",
                ward_estate::units::Duration(report.rpo_seconds as u64),
                objective(report.rpo_target_seconds)
            );
            if report.passed() {
                println!("PASSED");
            } else {
                println!("FAILED");
                for f in &report.failures {
                    println!("  - {f}");
                }
            }
        }
    }
    Ok(if report.passed() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

fn push_drill_metrics(
    pushgateway: Option<&str>,
    environment: &str,
    recorded: &Result<ward_vault::DrillReport, Failure>,
) {
    use crate::metrics::{Gauge, Group, now_seconds, push_or_warn};
    let now = now_seconds();
    let passed = recorded.as_ref().is_ok_and(|r| r.passed());
    let mut gauges = vec![
        Gauge {
            name: "ward_drill_last_run_timestamp_seconds",
            help: "When a restore drill of the environment last ran",
            value: now,
        },
        Gauge {
            name: "ward_drill_passed",
            help: "1 if the last restore drill passed, else 0",
            value: if passed { 1.0 } else { 0.0 },
        },
    ];
    if let Ok(report) = recorded {
        gauges.push(Gauge {
            name: "ward_drill_rto_seconds",
            help: "Wall time of the last drill's restore",
            value: report.rto_seconds,
        });
        gauges.push(Gauge {
            name: "ward_drill_rpo_seconds",
            help: "Age of the drilled snapshot when the last drill started",
            value: report.rpo_seconds,
        });
    }
    if passed {
        gauges.push(Gauge {
            name: ward_render::metrics::DRILL_LAST_SUCCESS_METRIC,
            help: "When a restore drill of the environment last passed",
            value: now,
        });
    }
    let group = Group {
        job: ward_render::metrics::DRILL_PUSH_JOB,
        environment,
    };
    push_or_warn(pushgateway, &group, &gauges);
}
