//! `ward explain`: why an environment landed in its tier, hosting model and posture.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use ward_estate::{Estate, ResolvedEnvironment};

/// Explain the classification of a workload environment: every rule that fired, in
/// words, with the input values it used.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ward --estate care explain billing/prod\n  ward explain billing        # every environment of billing"
)]
pub struct Args {
    /// `workload/environment`, or a workload for all its environments.
    pub target: String,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let envs: Vec<&ResolvedEnvironment> = estate
        .environments
        .iter()
        .filter(|e| e.address() == args.target || e.workload == args.target)
        .collect();
    if envs.is_empty() {
        return Err(unknown_address(&estate, &args.target));
    }
    if cx.output == Output::Json {
        let out: Vec<_> = envs.iter().map(|e| {
            let inputs = estate.workload(&e.workload).map(|w| &w.spec.classification);
            serde_json::json!({ "environment": e.address(), "inputs": inputs, "stage": e.stage, "result": e })
        }).collect();
        print_json(&out)?;
        return Ok(Exit::Ok);
    }
    for (i, e) in envs.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", explain(&estate, e));
    }
    Ok(Exit::Ok)
}

fn explain(estate: &Estate, e: &ResolvedEnvironment) -> String {
    use std::fmt::Write;
    let c = &e.classification;
    let p = &c.posture;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — tier {}, {} (declared at {})",
        e.address(),
        c.tier,
        c.hosting,
        e.location
    );
    if let Some(w) = estate.workload(&e.workload) {
        let i = &w.spec.classification;
        let _ = writeln!(s, "\nInputs:");
        let _ = writeln!(s, "  data sensitivity         {}", i.data_sensitivity);
        let _ = writeln!(
            s,
            "  integration criticality  {}",
            i.integration_criticality
        );
        let _ = writeln!(s, "  uptime objective         {}", i.uptime);
        let _ = writeln!(s, "  RPO / RTO                {} / {}", i.rpo, i.rto);
        let _ = writeln!(
            s,
            "  contractual isolation    {}",
            if i.contractual_isolation.value {
                "yes"
            } else {
                "no"
            }
        );
        let _ = writeln!(s, "  stage                    {}", e.stage);
    }
    for (title, what) in [
        ("Tier", "tier"),
        ("Hosting", "hosting"),
        ("Posture", "posture"),
    ] {
        let _ = writeln!(s, "\n{title}:");
        for r in c.rules.iter().filter(|r| r.decides == what) {
            let _ = writeln!(s, "  [{}] {}", r.id, r.text);
        }
    }
    let _ = writeln!(s, "\nObjectives and the mechanisms that meet them:");
    for line in mechanisms(estate, e) {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s, "\nDR posture:");
    let _ = writeln!(
        s,
        "  application replicas     ≥ {} across ≥ {} zone(s)",
        p.min_replicas, p.min_zones
    );
    let _ = writeln!(
        s,
        "  PostgreSQL instances     {}{}",
        p.postgres_instances,
        if p.synchronous_replication {
            " (synchronous replication)"
        } else {
            ""
        }
    );
    if p.wal_archiving {
        let _ = writeln!(
            s,
            "  WAL archiving            continuous, archive_timeout {}",
            p.archive_timeout
        );
    }
    let _ = writeln!(
        s,
        "  base backups             every {}, point-in-time recovery over the last {}",
        p.base_backup_interval, p.pitr_window
    );
    let _ = writeln!(
        s,
        "  logical snapshots        every {}, from {}",
        p.backup_interval, e.database.snapshot_host
    );
    let r = p.retention;
    let _ = writeln!(
        s,
        "  snapshot retention       last {}, hourly {}, daily {}, weekly {}, monthly {}",
        r.keep_last, r.hourly, r.daily, r.weekly, r.monthly
    );
    let _ = writeln!(
        s,
        "  immutable copies         {}",
        if p.immutable_copies {
            "yes (object lock)"
        } else {
            "no"
        }
    );
    let _ = writeln!(
        s,
        "  cross-region copy        {}",
        if p.cross_region_copy { "yes" } else { "no" }
    );
    let _ = writeln!(s, "  restore drills           every {}", p.drill_every);
    let recovery = match p.recovery {
        ward_estate::RecoveryMode::Standby => "standby replica, failover drilled",
        ward_estate::RecoveryMode::Warm => "warm: restore from backup into the recovery cluster",
        ward_estate::RecoveryMode::Restore => "restore from backup",
    };
    let _ = writeln!(
        s,
        "  recovery                 {recovery}{}",
        e.recovery_cluster
            .as_ref()
            .map(|c| format!(" on {c}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "  placement                {} (object store {})",
        e.cluster, e.object_store
    );
    s
}

/// Each objective with the mechanism that meets it, in words: what an auditor asks first.
fn mechanisms(estate: &Estate, e: &ResolvedEnvironment) -> Vec<String> {
    let p = &e.classification.posture;
    let declared = estate.workload(&e.workload).map(|w| &w.spec.classification);
    let production = e.stage == ward_estate::model::Stage::Production;
    let (rpo, rto) = match declared {
        Some(c) if production => (c.rpo.value, c.rto.value),
        _ => (
            ward_estate::classify::tier_rpo(e.classification.tier),
            ward_estate::units::Duration(0),
        ),
    };
    let whose = if production {
        ""
    } else {
        " (the tier's; the stage does not bind the workload's)"
    };
    let mut out = Vec::new();
    if p.wal_archiving {
        out.push(format!(
            "RPO {rpo}{whose}: continuous WAL archiving, a segment archived at the latest every {}; base backups every {} are the starting points it replays from; logical snapshots every {} are the portable, long-term copy",
            p.archive_timeout, p.base_backup_interval, p.backup_interval
        ));
    } else {
        out.push(format!(
            "RPO {rpo}{whose}: logical snapshots every {} (no WAL archive); base backups every {}",
            p.backup_interval, p.base_backup_interval
        ));
    }
    let failover = match p.recovery {
        ward_estate::RecoveryMode::Standby => format!(
            "{} PostgreSQL instance(s) with automatic failover in the cluster; a region loss: promote the standby{}, which replays the archive copied to its region",
            p.postgres_instances,
            e.recovery_cluster
                .as_ref()
                .map(|c| format!(" on {c}"))
                .unwrap_or_default()
        ),
        ward_estate::RecoveryMode::Warm => format!(
            "{} PostgreSQL instance(s); a region loss: restore the latest base backup and WAL into the recovery cluster{}",
            p.postgres_instances,
            e.recovery_cluster
                .as_ref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        ),
        ward_estate::RecoveryMode::Restore => {
            "restore from the latest backup into whatever cluster is available".to_string()
        }
    };
    if production && rto.as_secs() > 0 {
        out.push(format!(
            "RTO {rto}: {failover}; proven by restore drills every {}",
            p.drill_every
        ));
    } else {
        out.push(format!(
            "RTO: {failover}; proven by restore drills every {}",
            p.drill_every
        ));
    }
    out
}

pub use ward_ops::unknown_address;
