//! `ward apply`: writes the planned deploy tree and records the change in the ledger. It
//! refuses a change whose approvals are not complete (verified with the Team of the
//! reviewed state, none by an author), or whose target the controls deny.

use crate::commands::plan::{Proposal, describe, propose};
use crate::commands::render::{Target, describe_write, render_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::PathBuf;
use ward_ledger::Outcome;
use ward_render::review::Trust;

/// Write the deploy tree after checking the plan's approvals and controls; record it in
/// the ledger.
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
    let p = propose(&estate, args.target, Some(&args.out), None)?;
    // The actor is recorded as who applied; the people who may be that are the Team's.
    // (Who wrote the change is read from its commits, never from --actor.)
    if !p.review.knows(&cx.ws.actor) {
        return Err(Failure::bad_input(
            format!(
                "--actor `{}` is not a person of any Team of the reviewed state",
                cx.ws.actor
            ),
            "ward apply is run by a person of a Team: pass --actor <name> (or WARD_ACTOR) with a name from teams/",
        ));
    }
    let subject = args.out.display().to_string();
    if p.plan.is_empty() && p.review.base == p.review.target {
        match cx.output {
            Output::Json => print_json(
                &serde_json::json!({"changeId": p.plan.change_id, "applied": false, "changes": 0}),
            )?,
            Output::Text => println!(
                "nothing to apply: {} matches the estate",
                args.out.display()
            ),
        }
        return Ok(Exit::Ok);
    }
    let mut details = ledger_details(&p, args.target);
    if !p.may_apply() {
        details.unmet = Some(p.unmet.clone());
        cx.record(
            &cx.state_dir(),
            &details.into(),
            &subject,
            Outcome::Denied,
            &estate.git,
        )?;
        match cx.output {
            Output::Json => print_json(&serde_json::json!({
                "changeId": p.plan.change_id, "applied": false, "unmet": p.unmet,
                "rejected": p.rejected, "check": p.check_json(), "review": p.review,
            }))?,
            Output::Text => {
                let keys = crate::commands::ssh_keys::folder(&cx.state_dir());
                eprint!("{}", describe(&p, &estate.root, keys.as_deref(), 5));
                let why = match (p.unmet.is_empty(), p.blocking.is_empty()) {
                    (false, false) => "approvals are not complete and the controls deny it",
                    (false, true) => "the change is missing what it needs (see `missing` above)",
                    _ => "the controls deny the environments it touches",
                };
                eprintln!("refused: {why}; nothing was written");
            }
        }
        return Ok(Exit::Findings);
    }
    // The record names the estate commit written from: the next change's reviewed base.
    let report = p
        .tree
        .write(&args.out, &ward_render::tree::Provenance::of(&estate))
        .map_err(render_failure)?;
    let (written, removed) = (report.written.len(), report.removed.len());
    details.written = Some(written as u64);
    details.removed = Some(removed as u64);
    details.removed_files = Some(report.removed.clone());
    cx.record(
        &cx.state_dir(),
        &details.into(),
        &subject,
        Outcome::Ok,
        &estate.git,
    )?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "changeId": p.plan.change_id, "applied": true, "changes": p.plan.changes.len(),
            "written": written, "removed": removed, "approvers": p.verified,
            "commit": estate.git.commit, "review": p.review, "check": p.check_json(),
            "tree": report,
        }))?,
        Output::Text => {
            if p.review.trust == Trust::FirstUse {
                println!(
                    "trust on first use: the deploy tree recorded no reviewed estate commit; this change was approved with its own Team, and later changes are approved with the Team as of this commit"
                );
            }
            println!(
                "applied change {} to {}: {} object change(s), {written} file(s) written, {removed} removed; recorded in the ledger",
                p.plan.change_id,
                args.out.display(),
                p.plan.changes.len()
            );
            print!("{}", describe_write(&report, false));
        }
    }
    Ok(Exit::Ok)
}

/// What the ledger keeps of an apply, granted or refused: the change, its review (base,
/// target, trust, authors), the approvers and their keys, and the controls' verdict.
fn ledger_details(p: &Proposal, target: Target) -> ward_ops::event::Apply {
    ward_ops::event::Apply {
        change_id: p.plan.change_id.clone(),
        target: serde_json::json!(ward_render::Target::from(target)),
        changes: p.plan.changes.len() as u64,
        risk: serde_json::json!(p.plan.highest_risk()),
        trust: serde_json::json!(p.review.trust),
        base: serde_json::json!(p.review.base),
        estate_target: serde_json::json!(p.review.target),
        authors: p
            .review
            .authors
            .iter()
            .map(|a| a.person.clone().unwrap_or_else(|| a.identity.clone()))
            .collect(),
        approvers: p.verified.iter().map(|v| v.by.clone()).collect(),
        approver_keys: p.verified.iter().map(|v| v.key.clone()).collect(),
        people_changes: (!p.plan.people_changes.is_empty())
            .then(|| serde_json::json!(p.plan.people_changes)),
        environments: p.plan.by_environment().keys().cloned().collect(),
        check: p.check_json(),
        ..Default::default()
    }
}
