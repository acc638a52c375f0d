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
    let _ = writeln!(
        s,
        "  backups                  every {}{}",
        p.backup_interval,
        if p.wal_archiving {
            ", with continuous WAL archiving"
        } else {
            ""
        }
    );
    let r = p.retention;
    let _ = writeln!(
        s,
        "  retention                last {}, hourly {}, daily {}, weekly {}, monthly {}",
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

/// The error for a `workload/environment` that is not in the estate, with a suggestion.
pub fn unknown_address(estate: &Estate, target: &str) -> Failure {
    let addresses: Vec<String> = estate.environments.iter().map(|e| e.address()).collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let hint = match ward_estate::decode::closest(target, &refs) {
        Some(best) => format!("did you mean `{best}`? `ward classify` lists every environment"),
        None => "`ward classify` lists every environment as workload/environment".to_string(),
    };
    Failure::bad_input(
        format!("no workload environment `{target}` in the estate"),
        hint,
    )
}
