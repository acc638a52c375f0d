//! `ward apply`: writes the planned deploy tree and records the change in the ledger. It
//! refuses when the plan needs approvals that are not given.

use crate::commands::plan::{compute, describe};
use crate::commands::render::{Target, describe_write, render_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::PathBuf;
use ward_ledger::Outcome;
use ward_render::approval;

/// Write the deploy tree after checking the plan's approvals; record it in the ledger.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  ward --estate care --actor erin apply --out deploy")]
pub struct Args {
    /// The deploy tree folder to bring up to date.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Target::Kubernetes)]
    pub target: Target,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let (tree, plan) = compute(&estate, args.target, Some(&args.out), None)?;
    let subject = args.out.display().to_string();
    if plan.is_empty() {
        match cx.output {
            Output::Json => print_json(
                &serde_json::json!({"changeId": plan.change_id, "applied": false, "changes": 0}),
            )?,
            Output::Text => println!(
                "nothing to apply: {} matches the estate",
                args.out.display()
            ),
        }
        return Ok(Exit::Ok);
    }
    let signed = approval::read(&estate.root, &plan.change_id)
        .map_err(|e| Failure::bad_input(e.to_string(), "fix or remove the approvals file"))?;
    let (verified, rejected) = approval::verify(&estate, &plan.change_id, &signed);
    let unmet = approval::unmet(&plan.requirement, &verified, &cx.actor);
    let mut details = serde_json::Map::new();
    details.insert("changeId".into(), plan.change_id.clone().into());
    details.insert(
        "target".into(),
        serde_json::json!(ward_render::Target::from(args.target)),
    );
    details.insert("changes".into(), plan.changes.len().into());
    details.insert("risk".into(), serde_json::json!(plan.highest_risk()));
    details.insert(
        "approvers".into(),
        verified
            .iter()
            .map(|v| v.by.clone())
            .collect::<Vec<_>>()
            .into(),
    );
    details.insert(
        "environments".into(),
        plan.by_environment()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .into(),
    );
    if !unmet.is_empty() {
        details.insert("unmet".into(), unmet.clone().into());
        cx.record(
            &cx.state_dir(),
            "apply",
            &subject,
            Outcome::Denied,
            &estate.git,
            details,
        )?;
        match cx.output {
            Output::Json => print_json(
                &serde_json::json!({"changeId": plan.change_id, "applied": false, "unmet": unmet, "rejected": rejected}),
            )?,
            Output::Text => {
                eprint!(
                    "{}",
                    describe(&plan, &verified, &rejected, &unmet, &estate.root, 5)
                );
                eprintln!(
                    "refused: the change needs approvals that are not given; nothing was written"
                );
            }
        }
        return Ok(Exit::Findings);
    }
    let report = tree
        .write(&args.out, &ward_render::tree::Provenance::of(&estate))
        .map_err(render_failure)?;
    let (written, removed) = (report.written.len(), report.removed.len());
    details.insert("written".into(), written.into());
    details.insert("removed".into(), removed.into());
    details.insert("removedFiles".into(), report.removed.clone().into());
    cx.record(
        &cx.state_dir(),
        "apply",
        &subject,
        Outcome::Ok,
        &estate.git,
        details,
    )?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "changeId": plan.change_id, "applied": true, "changes": plan.changes.len(),
            "written": written, "removed": removed, "approvers": verified, "commit": estate.git.commit,
            "tree": report,
        }))?,
        Output::Text => {
            println!(
                "applied change {} to {}: {} object change(s), {written} file(s) written, {removed} removed; recorded in the ledger",
                plan.change_id,
                args.out.display(),
                plan.changes.len()
            );
            print!("{}", describe_write(&report, false));
        }
    }
    Ok(Exit::Ok)
}
