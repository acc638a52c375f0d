//! `ward drill`: a timed restore drill of an environment's newest snapshot into a scratch
//! database, checked against the manifest and held to the workload's RTO and RPO.
//!
//! The evidence (times, objectives, verdict) goes to the ledger, pass or fail.

use std::path::PathBuf;

use crate::commands::backup::{PgArgs, environment};
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
    let request = ward_ops::drill::DrillRequest {
        address: args.target.clone(),
        snapshot: args.snapshot.clone(),
        db_url: args.db_url.clone(),
        scratch_dir: args.scratch_dir.clone(),
        jobs: args.jobs,
        identity: args.identity.clone(),
        keep: args.keep,
        pg: args.pg.settings(),
    };
    let progress = crate::progress::for_command(cx);
    let recorded = ward_ops::drill::run(&cx.ws, &estate, &request, progress);
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
