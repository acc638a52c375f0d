//! `ward validate`: loads the estate and reports every problem in it.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure, diagnostics_json};

/// Check the estate: types, names, references, hostnames, durations, waivers' controls,
/// and that no literal credential is in it. Every problem is reported in one run; exit
/// code 2 if any.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ward --estate care validate\n  ward validate --output json | jq .diagnostics"
)]
pub struct Args {}

pub fn run(cx: &Context, _args: Args) -> Result<Exit, Failure> {
    let estate = match cx.output {
        Output::Json => cx.load_estate_quietly()?,
        Output::Text => cx.load_estate()?,
    };
    // The estate model cannot know the control catalogue; a waiver naming no control is
    // refused here, with the nearest ID, rather than left to `ward check`.
    let catalogue =
        ward_policy::Catalogue::builtin().map_err(crate::commands::check::policy_failure)?;
    let unknown = catalogue.unknown_waiver_controls(&estate);
    if !unknown.is_empty() {
        return Err(Failure::Estate {
            sources: estate.sources,
            diagnostics: unknown,
            // Printed already in text (by `load_estate`); JSON lists them with the errors.
            warnings: match cx.output {
                Output::Json => estate.warnings,
                Output::Text => Vec::new(),
            },
        });
    }
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "valid": true,
            "diagnostics": [],
            "warnings": diagnostics_json(&estate.sources, &estate.warnings),
            "commit": estate.git.commit, "dirty": estate.git.dirty,
            "files": estate.sources.files.len(),
            "workloads": estate.workloads.len(),
            "environments": estate.environments.len(),
        }))?,
        Output::Text => println!(
            "estate valid: {} files, {} teams, {} workloads, {} environments, {} waivers (commit {}){}",
            estate.sources.files.len(),
            estate.teams.len(),
            estate.workloads.len(),
            estate.environments.len(),
            estate.waivers.len(),
            estate.git.short(),
            match estate.warnings.len() {
                0 => String::new(),
                1 => "; 1 warning".to_string(),
                n => format!("; {n} warnings"),
            }
        ),
    }
    Ok(Exit::Ok)
}
