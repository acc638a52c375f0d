//! `ward check`: classifies and renders the estate, runs the control catalogue (and the
//! estate's own policies) on both, and reports findings as text, JSON, SARIF or JUnit.
//!
//! Exit 0 when no unwaived `deny` finding remains, 1 when one does (or, with
//! `--fail-on-warn`, an unwaived `warn`), 2 on bad input.

use crate::context::{Context, Format, print_json};
use crate::report::{Exit, Failure};
use ward_policy::{CheckOptions, Checker, PolicyError, Provenance, RenderedObject, Report};

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

/// Today in UTC, the date waivers are judged against unless a command says otherwise.
pub fn today() -> jiff::civil::Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// Which rendered objects the controls see.
pub enum Objects<'a> {
    /// None: the estate model only (`--no-render`).
    None,
    /// Every object of the estate.
    All,
    /// The objects that serve any of these `workload/environment` addresses: what a change
    /// to those environments is judged on (objects of other environments cannot raise a
    /// finding about them).
    Serving(&'a std::collections::BTreeSet<String>),
}

/// Runs the catalogue and the estate's policies on the estate and its rendered `objects`:
/// the one way `check`, `plan` and `apply` judge an estate.
pub fn evaluate(
    estate: &ward_estate::Estate,
    options: &CheckOptions,
    objects: Objects<'_>,
) -> Result<(Checker, Report), Failure> {
    let checker = Checker::new().map_err(policy_failure)?;
    let objects = match objects {
        Objects::None => None,
        Objects::All => Some(rendered_objects(estate)?),
        Objects::Serving(addresses) => Some(
            rendered_objects(estate)?
                .into_iter()
                .filter(|o| {
                    o.provenance
                        .as_ref()
                        .is_some_and(|p| p.owners.iter().any(|a| addresses.contains(a)))
                })
                .collect(),
        ),
    };
    let report = checker
        .check(estate, objects.as_deref(), options)
        .map_err(policy_failure)?;
    Ok((checker, report))
}

/// The counts of a report, as the ledger records them.
pub fn summary_details(report: &Report) -> serde_json::Map<String, serde_json::Value> {
    let mut details = serde_json::Map::new();
    details.insert("deny".into(), report.summary.deny.into());
    details.insert("warn".into(), report.summary.warn.into());
    details.insert("waived".into(), report.summary.waived.into());
    details.insert("controls".into(), report.controls.into());
    details
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
        let details = summary_details(&report);
        let outcome = if failed {
            ward_ledger::Outcome::Findings
        } else {
            ward_ledger::Outcome::Ok
        };
        cx.record(
            &cx.state_dir(),
            "check",
            "estate",
            outcome,
            &estate.git,
            details,
        )?;
    }
    Ok(if failed { Exit::Findings } else { Exit::Ok })
}

/// The estate rendered to Kubernetes objects, each with the environments it serves and
/// its path in the deploy tree.
fn rendered_objects(estate: &ward_estate::Estate) -> Result<Vec<RenderedObject>, Failure> {
    let objects =
        ward_render::kubernetes_objects(estate).map_err(crate::commands::render::render_failure)?;
    Ok(objects
        .into_iter()
        .map(|o| {
            let path = o.path();
            RenderedObject {
                manifest: o.body,
                provenance: Some(Provenance {
                    owners: o.owners.to_vec(),
                    cluster: Some(o.cluster.to_string()),
                    path: Some(path),
                }),
            }
        })
        .collect())
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

/// A broken user policy is bad input (exit 2) with its file and line; anything else in
/// the policy machinery is Ward's own failure.
pub fn policy_failure(e: PolicyError) -> Failure {
    match &e {
        PolicyError::Rego { detail, .. } => Failure::bad_input(
            format!("{e}"),
            format!(
                "fix the policy; it is never skipped{}",
                if detail.contains('\n') {
                    format!(":\n{}", detail.trim())
                } else {
                    String::new()
                }
            ),
        ),
        PolicyError::BadFinding { .. } => Failure::bad_input(
            e.to_string(),
            "a deny/warn/violation rule must yield strings or objects with a `msg`",
        ),
        PolicyError::Io { .. } => Failure::operational(e.to_string(), "check the policies folder"),
        PolicyError::Metadata { .. } | PolicyError::Builtin { .. } => Failure::operational(
            e.to_string(),
            "this is a bug in Ward's built-in catalogue; please report it",
        ),
    }
}
