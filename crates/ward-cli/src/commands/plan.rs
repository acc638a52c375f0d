//! `ward plan`: what rendering the estate now would change in the deploy tree, per
//! workload environment and field by field, with the risk and the approvals it needs.

use crate::commands::render::Target;
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::{Path, PathBuf};
use ward_render::approval;
use ward_render::plan::{Action, Risk};
use ward_render::review::{Review, Trust};

/// Show what `ward apply` would change in the deploy tree, and the approvals it needs.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care plan --against deploy\n  ward --estate care plan --against-git origin/main --repo ../deploy -o json\n  ward --estate care plan --against deploy --detailed-exitcode"
)]
pub struct Args {
    /// The deploy tree as it is now (a folder).
    #[arg(long, value_name = "DIR", conflicts_with = "against_git")]
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
    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on any error,
    /// as `terraform plan -detailed-exitcode` does.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub use ward_ops::plan::{Proposal, propose};

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let detailed = args.detailed_exitcode;
    match show(cx, args) {
        Ok(changes) if detailed && changes => Ok(Exit::Changes),
        Ok(_) => Ok(Exit::Ok),
        // Exit 2 means "changes" here, so an error must not exit 2 (bad input) or 3.
        Err(failure) if detailed => {
            crate::report::fail(cx, failure);
            Ok(Exit::Findings)
        }
        Err(failure) => Err(failure),
    }
}

/// Prints the plan; says whether it has changes.
fn show(cx: &Context, args: Args) -> Result<bool, Failure> {
    if args.against.is_none() && args.against_git.is_none() {
        return Err(Failure::bad_input(
            "`ward plan` needs the deploy tree to compare with",
            "pass --against DIR (a deploy tree folder) or --against-git REF (a commit of the \
             deploy repository, with --repo DIR)",
        ));
    }
    let estate = cx.load_estate()?;
    let git = args
        .against_git
        .as_deref()
        .map(|r| (args.repo.as_path(), r));
    let p = propose(&estate, args.target.into(), args.against.as_deref(), git)?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "plan": p.plan, "review": p.review, "approvals": p.verified, "rejected": p.rejected,
            "unmet": p.unmet, "check": p.check_json(),
            "approvalsFile": approval::path(&estate.root, &p.plan.change_id),
            "commit": estate.git.commit,
        }))?,
        Output::Text => {
            let keys = ward_ops::init::approval_key_folder(&cx.state_dir());
            print!(
                "{}",
                describe(&p, &estate.root, keys.as_deref(), args.fields)
            );
        }
    }
    let changes = !p.plan.is_empty();
    // The process exits after printing: freeing the rendered tree file by file would
    // only cost time. Only the binary does this, at its end; `propose` frees what it made.
    std::mem::forget(p);
    Ok(changes)
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
/// `keys` is the folder where `ward init` put people's approval keys, when it exists: the
/// hint to sign then names the key there instead of `~/.ssh/id_ed25519`.
pub fn describe(
    p: &Proposal,
    estate_root: &Path,
    keys: Option<&Path>,
    max_fields: usize,
) -> String {
    use std::fmt::Write as _;
    let plan = &p.plan;
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
    describe_review(&mut out, &p.review);
    if plan.is_empty() {
        let _ = writeln!(out, "nothing to do: the deploy tree matches the estate");
        missing(&mut out, &p.unmet);
        return out;
    }
    for (env, changes) in plan.by_environment() {
        let first = changes[0];
        let risk = format!("{:?}", first.risk);
        let risk = match first.risk {
            Risk::High => crate::style::paint(&risk, crate::style::Paint::Red),
            Risk::Medium => crate::style::paint(&risk, crate::style::Paint::Yellow),
            Risk::Low => risk,
        };
        let _ = writeln!(
            out,
            "\n{env}  (tier {}, {}, risk {risk})",
            first.tier, first.stage
        );
        for c in changes {
            let sign = match c.action {
                Action::Add => crate::style::paint("+", crate::style::Paint::Green),
                Action::Change => crate::style::paint("~", crate::style::Paint::Yellow),
                Action::Remove => crate::style::paint("-", crate::style::Paint::Red),
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
    if !plan.people_changes.is_empty() {
        let _ = writeln!(out, "\npeople, roles and keys:");
        for c in &plan.people_changes {
            let _ = writeln!(out, "  ~ {c}");
        }
    }
    describe_check(&mut out, p);
    let r = &plan.requirement;
    if r.approvals == 0 {
        let _ = writeln!(out, "\napprovals: none needed");
        missing(&mut out, &p.unmet);
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
    for v in &p.verified {
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
    for x in &p.rejected {
        let _ = writeln!(out, "  ✗ {}: {}", x.by, x.reason);
    }
    if p.unmet.is_empty() {
        let _ = writeln!(out, "  approvals are complete");
    } else {
        missing(&mut out, &p.unmet);
        let key = keys.map_or_else(
            || "~/.ssh/id_ed25519".to_string(),
            |k| format!("{}/<you>", k.display()),
        );
        let _ = writeln!(
            out,
            "  approve with: printf %s {} | ssh-keygen -Y sign -f {key} -n {}\n  and add the signature under `approvals:` in {}",
            plan.change_id,
            approval::NAMESPACE,
            approval::path(estate_root, &plan.change_id).display()
        );
    }
    if p.may_apply() {
        let _ = writeln!(out, "`ward apply` may write this change");
    }
    out
}

/// What the change still lacks, one line each.
fn missing(out: &mut String, unmet: &[String]) {
    use std::fmt::Write as _;
    for m in unmet {
        let _ = writeln!(out, "  missing: {m}");
    }
}

/// Where the change starts and ends, and who wrote it.
fn describe_review(out: &mut String, r: &Review) {
    use std::fmt::Write as _;
    let short = |c: &Option<String>| {
        c.as_deref().map_or_else(
            || "(none)".to_string(),
            |c| c.get(..12).unwrap_or(c).to_string(),
        )
    };
    match r.trust {
        Trust::Reviewed => {
            let _ = writeln!(
                out,
                "estate {}: from reviewed commit {} to {}",
                r.estate,
                short(&r.base),
                short(&r.target)
            );
        }
        Trust::FirstUse => {
            let _ = writeln!(
                out,
                "estate {}: to commit {}; the deploy tree records no reviewed commit, so approvals are verified with this change's own Team (trust on first use)",
                r.estate,
                short(&r.target)
            );
        }
    }
    if !r.uncommitted.is_empty() {
        let _ = writeln!(
            out,
            "uncommitted: {} file(s) outside approvals/ differ from the commit; approvals cannot apply to a work tree",
            r.uncommitted.len()
        );
    }
    if !r.authors.is_empty() {
        let names: Vec<String> = r
            .authors
            .iter()
            .map(|a| match &a.person {
                Some(p) => format!("{p} ({})", a.identity),
                None => format!("{} (not a Team person)", a.identity),
            })
            .collect();
        let _ = writeln!(out, "written by: {}", names.join(", "));
    }
}

/// The controls' verdict on the target estate.
fn describe_check(out: &mut String, p: &Proposal) {
    use std::fmt::Write as _;
    let Some(check) = &p.check else {
        let _ = writeln!(
            out,
            "\ncontrols: not evaluated (the change touches no environment)"
        );
        return;
    };
    let s = &check.summary;
    let _ = writeln!(
        out,
        "\ncontrols on the environments the change touches: {} deny, {} warn, {} waived",
        s.deny, s.warn, s.waived
    );
    for f in &p.blocking {
        let at = f
            .location
            .as_ref()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file, l.line));
        let _ = writeln!(out, "  ✗ {} {}: {}{at}", f.control, f.subject(), f.message);
    }
    if !p.blocking.is_empty() {
        let _ = writeln!(
            out,
            "  the change touches environments with unwaived deny findings: `ward apply` refuses it until they are fixed or waived (a Waiver approved by a security-reviewer)"
        );
    }
}
