//! `ward validate`: loads the estate and reports every problem in it.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Check the estate: types, names, references, hostnames, durations, and that no literal
/// credential is in it. Every problem is reported in one run; exit code 2 if any.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ward --estate care validate\n  ward validate --output json | jq .diagnostics"
)]
pub struct Args {}

pub fn run(cx: &Context, _args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "valid": true,
            "diagnostics": [],
            "commit": estate.git.commit, "dirty": estate.git.dirty,
            "files": estate.sources.files.len(),
            "workloads": estate.workloads.len(),
            "environments": estate.environments.len(),
        }))?,
        Output::Text => println!(
            "estate valid: {} files, {} teams, {} workloads, {} environments, {} waivers (commit {})",
            estate.sources.files.len(),
            estate.teams.len(),
            estate.workloads.len(),
            estate.environments.len(),
            estate.waivers.len(),
            estate.git.short()
        ),
    }
    Ok(Exit::Ok)
}
