//! `ward apply`: writes the planned deploy tree and records the change in the ledger. It
//! refuses a change whose approvals are not complete (verified with the Team of the
//! reviewed state, none by an author), or whose target the controls deny.

use crate::commands::plan::{describe, propose};
use crate::commands::render::{Target, describe_write};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::PathBuf;
use ward_ops::plan::Applied;
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
    let target = args.target.into();
    let p = propose(&estate, target, Some(&args.out), None)?;
    let report = match ward_ops::plan::apply(&cx.ws, &estate, &p, &args.out, target)? {
        Applied::Nothing => {
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
        Applied::Refused => {
            match cx.output {
                Output::Json => print_json(&serde_json::json!({
                    "changeId": p.plan.change_id, "applied": false, "unmet": p.unmet,
                    "rejected": p.rejected, "check": p.check_json(), "review": p.review,
                }))?,
                Output::Text => {
                    let keys = ward_ops::init::approval_key_folder(&cx.state_dir());
                    eprint!("{}", describe(&p, &estate.root, keys.as_deref(), 5));
                    let why = match (p.unmet.is_empty(), p.blocking.is_empty()) {
                        (false, false) => "approvals are not complete and the controls deny it",
                        (false, true) => {
                            "the change is missing what it needs (see `missing` above)"
                        }
                        _ => "the controls deny the environments it touches",
                    };
                    eprintln!("refused: {why}; nothing was written");
                }
            }
            return Ok(Exit::Findings);
        }
        Applied::Written(report) => report,
    };
    let (written, removed) = (report.written.len(), report.removed.len());
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
