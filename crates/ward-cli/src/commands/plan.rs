//! `ward plan`: what rendering the estate now would change in the deploy tree, per
//! workload environment and field by field, with the risk and the approvals it needs.

use crate::commands::render::{Target, render_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::{Path, PathBuf};
use ward_render::approval;
use ward_render::plan::{Action, Plan};

/// Show what `ward apply` would change in the deploy tree, and the approvals it needs.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care plan --against deploy\n  ward --estate care plan --against-git origin/main --repo ../deploy -o json"
)]
pub struct Args {
    /// The deploy tree as it is now (a folder).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "against_git",
        required_unless_present = "against_git"
    )]
    pub against: Option<PathBuf>,
    /// The deploy tree as committed at REF in the deploy repository (--repo).
    #[arg(long, value_name = "REF")]
    pub against_git: Option<String>,
    /// The deploy repository for --against-git.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    #[arg(long, value_enum, default_value_t = Target::Kubernetes)]
    pub target: Target,
    /// Show at most this many field changes per object (0: all).
    #[arg(long, default_value_t = 20)]
    pub fields: usize,
}

/// Renders the estate and compares it with the tree at `against` or `git`.
pub fn compute(
    estate: &ward_estate::Estate,
    target: Target,
    against: Option<&Path>,
    git: Option<(&Path, &str)>,
) -> Result<(ward_render::tree::Tree, Plan), Failure> {
    let tree = ward_render::render(estate, target.into()).map_err(render_failure)?;
    let existing = match (against, git) {
        (_, Some((repo, rev))) => ward_render::plan::read_git(repo, rev).map_err(|e| {
            Failure::bad_input(e.to_string(), "check --repo and that REF is a commit of it")
        })?,
        (Some(dir), None) => ward_render::plan::read_existing(dir).map_err(render_failure)?,
        (None, None) => Default::default(),
    };
    let plan = ward_render::plan::plan(&tree, &existing).map_err(render_failure)?;
    // Callers exit soon after; the old tree's texts need not be freed one by one.
    std::mem::forget(existing);
    Ok((tree, plan))
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let git = args
        .against_git
        .as_deref()
        .map(|r| (args.repo.as_path(), r));
    let (tree, plan) = compute(&estate, args.target, args.against.as_deref(), git)?;
    // The process exits after printing: freeing the rendered tree file by file would
    // only cost time.
    std::mem::forget(tree);
    let signed = approval::read(&estate.root, &plan.change_id)
        .map_err(|e| Failure::bad_input(e.to_string(), "fix or remove the approvals file"))?;
    let (verified, rejected) = approval::verify(&estate, &plan.change_id, &signed);
    let unmet = approval::unmet(&plan.requirement, &verified, &cx.actor);
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "plan": plan, "approvals": verified, "rejected": rejected, "unmet": unmet,
            "approvalsFile": approval::path(&estate.root, &plan.change_id),
            "commit": estate.git.commit,
        }))?,
        Output::Text => print!(
            "{}",
            describe(
                &plan,
                &verified,
                &rejected,
                &unmet,
                &estate.root,
                args.fields
            )
        ),
    }
    Ok(Exit::Ok)
}

fn short(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(serde_json::Value::String(s)) if !s.contains('\n') => s.clone(),
        Some(serde_json::Value::String(s)) => format!("({} lines)", s.lines().count()),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 80 {
                format!("{}…", text.chars().take(80).collect::<String>())
            } else {
                text
            }
        }
    }
}

/// The plan for people.
pub fn describe(
    plan: &Plan,
    verified: &[approval::Verified],
    rejected: &[approval::Rejected],
    unmet: &[String],
    estate_root: &Path,
    max_fields: usize,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = |a: Action| plan.changes.iter().filter(|c| c.action == a).count();
    let _ = writeln!(
        out,
        "change {}: {} to add, {} to change, {} to remove, {} unchanged",
        plan.change_id,
        count(Action::Add),
        count(Action::Change),
        count(Action::Remove),
        plan.unchanged
    );
    if plan.is_empty() {
        let _ = writeln!(out, "nothing to do: the deploy tree matches the estate");
        return out;
    }
    for (env, changes) in plan.by_environment() {
        let first = changes[0];
        let _ = writeln!(
            out,
            "\n{env}  (tier {}, {}, risk {:?})",
            first.tier, first.stage, first.risk
        );
        for c in changes {
            let sign = match c.action {
                Action::Add => '+',
                Action::Change => '~',
                Action::Remove => '-',
            };
            let widens = c
                .widens
                .map_or(String::new(), |w| format!("  [widens {w}]"));
            let _ = writeln!(out, "  {sign} {}{widens}", c.path);
            let limit = if max_fields == 0 {
                usize::MAX
            } else {
                max_fields
            };
            for f in c.fields.iter().take(limit) {
                let _ = writeln!(
                    out,
                    "      {}: {} → {}",
                    f.field,
                    short(&f.before),
                    short(&f.after)
                );
            }
            if c.fields.len() > limit {
                let _ = writeln!(out, "      … {} more field(s)", c.fields.len() - limit);
            }
        }
    }
    let r = &plan.requirement;
    if r.approvals == 0 {
        let _ = writeln!(out, "\napprovals: none needed");
        return out;
    }
    let roles: Vec<String> = r.roles.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "\napprovals needed: {} (including {})",
        r.approvals,
        roles.join(", ")
    );
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    for v in verified {
        let _ = writeln!(
            out,
            "  ✓ {} ({})",
            v.by,
            v.roles
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for x in rejected {
        let _ = writeln!(out, "  ✗ {}: {}", x.by, x.reason);
    }
    if unmet.is_empty() {
        let _ = writeln!(
            out,
            "  approvals are complete: `ward apply` may write this change"
        );
    } else {
        for m in unmet {
            let _ = writeln!(out, "  missing: {m}");
        }
        let _ = writeln!(
            out,
            "  approve with: printf %s {} | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {}\n  and add the signature under `approvals:` in {}",
            plan.change_id,
            approval::NAMESPACE,
            approval::path(estate_root, &plan.change_id).display()
        );
    }
    out
}
