//! `ward check`: classifies and renders the estate, runs the control catalogue (and the
//! estate's own policies) on both, and reports findings as text, JSON, SARIF or JUnit.
//!
//! Exit 0 when no unwaived `deny` finding remains, 1 when one does (or, with
//! `--fail-on-warn`, an unwaived `warn`), 2 on bad input.

use crate::context::{Context, Format, print_json};
use crate::report::{Exit, Failure};
use ward_ops::check::{Objects, evaluate, summary_event, today};
use ward_policy::{CheckOptions, Checker, Report};

pub use ward_ops::check::policy_error as policy_failure;

/// Check the estate against Ward's controls, its waivers and its `policies/*.rego`.
///
/// Findings are grouped by workload and environment, each with its control ID, the estate
/// file and line that caused it, and how to fix it. Waived findings are shown as waived.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care check\n  ward check --output sarif > ward.sarif\n  ward check --output junit > ward-junit.xml\n  ward check --fail-on-warn\n  ward check -o json | jq '.findings[] | select(.severity == \"deny\")'"
)]
pub struct Args {
    /// Judge waiver expiry as of this date (YYYY-MM-DD) instead of today (UTC).
    #[arg(long, value_name = "DATE")]
    pub today: Option<jiff::civil::Date>,
    /// Check the estate model only, without rendering it (controls over objects and the
    /// estate's own policies then see no objects).
    #[arg(long)]
    pub no_render: bool,
    /// Do not run the estate's own `policies/*.rego`.
    #[arg(long)]
    pub no_user_policies: bool,
    /// Append the outcome to the ledger as evidence.
    #[arg(long)]
    pub record: bool,
    /// Exit 1 on unwaived warnings too, not only on deny findings (as Conftest's flag).
    #[arg(long)]
    pub fail_on_warn: bool,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let options = CheckOptions {
        today: args.today.unwrap_or_else(today),
        user_policies: !args.no_user_policies,
    };
    let objects = if args.no_render {
        Objects::None
    } else {
        Objects::All
    };
    let (checker, report) = evaluate(&estate, &options, objects)?;
    print(cx, &report, &checker, &estate)?;
    let failed_on_warn = args.fail_on_warn && !report.failed() && report.summary.warn > 0;
    if failed_on_warn && matches!(cx.format, Format::Text) {
        // The report says PASSED for the controls; the flag is what fails it.
        println!(
            "{}",
            crate::style::paint(
                &format!(
                    "FAILED: {} warning(s), and --fail-on-warn fails on warnings",
                    report.summary.warn
                ),
                crate::style::Paint::Yellow
            )
        );
    }
    let failed = report.failed() || failed_on_warn;
    if args.record {
        let event = summary_event(&report);
        let outcome = if failed {
            ward_ledger::Outcome::Findings
        } else {
            ward_ledger::Outcome::Ok
        };
        cx.record(&cx.state_dir(), &event, "estate", outcome, &estate.git)?;
    }
    Ok(if failed { Exit::Findings } else { Exit::Ok })
}

fn print(
    cx: &Context,
    report: &Report,
    checker: &Checker,
    estate: &ward_estate::Estate,
) -> Result<(), Failure> {
    match cx.format {
        Format::Json | Format::Yaml => print_json(&ward_policy::format::json(report))?,
        Format::Sarif => print_json(&ward_policy::format::sarif::render(
            report,
            checker.catalogue(),
            env!("CARGO_PKG_VERSION"),
        ))?,
        Format::Junit => {
            let envs: Vec<String> = estate.environments.iter().map(|e| e.address()).collect();
            print!("{}", ward_policy::format::junit::render(report, &envs));
        }
        // `main` refuses wide for check; text it is.
        Format::Text | Format::Wide => print!(
            "{}",
            crate::style::paint_verdicts(&ward_policy::format::text::render(report))
        ),
    }
    Ok(())
}
