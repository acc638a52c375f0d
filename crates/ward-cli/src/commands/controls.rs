//! `ward controls`: the built-in control catalogue, as a table, one control in full, or
//! JSON for scripts.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use ward_policy::Catalogue;

/// List the built-in controls: ID, severity, domain, title (`--output json` for all
/// fields). With an ID, show that control in full.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward controls\n  ward controls WARD-DP-006\n  ward controls -o json | jq '.[] | select(.severity == \"deny\") | .id'"
)]
pub struct Args {
    /// One control's ID, e.g. WARD-DP-006.
    pub id: Option<String>,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let catalogue = Catalogue::builtin().map_err(crate::commands::check::policy_failure)?;
    let controls: Vec<_> = match &args.id {
        Some(id) => {
            let found: Vec<_> = catalogue
                .controls
                .iter()
                .filter(|c| c.id.eq_ignore_ascii_case(id))
                .collect();
            if found.is_empty() {
                let hint = match catalogue.closest(id) {
                    Some(c) => format!(
                        "did you mean `{}` ({})? `ward controls` lists them all",
                        c.id, c.title
                    ),
                    None => "run `ward controls` for the list".to_string(),
                };
                return Err(Failure::bad_input(format!("no control `{id}`"), hint));
            }
            found
        }
        None => catalogue.controls.iter().collect(),
    };
    match (cx.output, &args.id) {
        (Output::Json, _) => print_json(&controls)?,
        (Output::Text, Some(_)) => {
            for c in controls {
                println!("{}  {}", c.id, c.title);
                println!("  severity:    {}", c.severity);
                println!("  domain:      {}", c.domain.title());
                println!("  applies to:  {}", c.applies);
                if let Some(h) = &c.hipaa {
                    println!("  HIPAA:       {h}");
                }
                println!("  rationale:   {}", c.rationale);
                println!("  remediation: {}", c.remediation);
                println!("  module:      {}", c.module);
            }
        }
        (Output::Text, None) => {
            let mut rows = vec![
                ["ID", "SEVERITY", "DOMAIN", "TITLE"]
                    .map(String::from)
                    .to_vec(),
            ];
            for c in &controls {
                rows.push(vec![
                    c.id.clone(),
                    c.severity.to_string(),
                    c.domain.title().to_string(),
                    c.title.clone(),
                ]);
            }
            print!("{}", crate::commands::classify::table(&rows));
            println!(
                "\n{} controls; `ward controls <ID>` shows one in full",
                controls.len()
            );
        }
    }
    Ok(Exit::Ok)
}
