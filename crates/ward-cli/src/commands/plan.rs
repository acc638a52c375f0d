//! `ward plan`: what rendering the estate now would change in the deploy tree, per
//! workload environment and field by field, with the risk and the approvals it needs.

use crate::commands::render::{Target, render_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use ward_render::approval;
use ward_render::plan::{Action, Plan, Risk};
use ward_render::review::{Review, ReviewError, Trust};
use ward_render::tree::TreeRecord;

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

/// Everything `ward plan` shows and `ward apply` decides on: the rendered tree, the plan
/// against the tree that is there, the review of the change (base, target, authors, the
/// approving Team), the approvals that verified, and the controls' verdict on the target.
pub struct Proposal {
    pub tree: ward_render::tree::Tree,
    pub plan: Plan,
    pub review: Review,
    pub verified: Vec<approval::Verified>,
    pub rejected: Vec<approval::Rejected>,
    /// What is still missing before the approvals are complete.
    pub unmet: Vec<String>,
    /// The controls' report on the target estate; `None` when the change touches no
    /// environment.
    pub check: Option<ward_policy::Report>,
    /// Unwaived `deny` findings about the environments the change touches.
    pub blocking: Vec<ward_policy::Finding>,
}

impl Proposal {
    /// Whether `ward apply` may write it: approvals complete and no blocking finding.
    pub fn may_apply(&self) -> bool {
        self.unmet.is_empty() && self.blocking.is_empty()
    }

    /// The controls' verdict, as plan and apply print it and the ledger records it.
    pub fn check_json(&self) -> serde_json::Value {
        serde_json::json!({
            "evaluated": self.check.is_some(),
            "summary": self.check.as_ref().map(|c| c.summary),
            "blocking": self.blocking,
        })
    }
}

/// Renders the estate, compares it with the tree at `against` or `git`, reviews the change
/// from the estate commit that tree was written from, verifies its approvals and checks
/// the target estate against the controls.
pub fn propose(
    estate: &ward_estate::Estate,
    target: Target,
    against: Option<&Path>,
    git: Option<(&Path, &str)>,
) -> Result<Proposal, Failure> {
    let tree = ward_render::render(estate, target.into()).map_err(render_failure)?;
    // The record is read once: it says which files are Ward's and which commit they
    // were written from.
    let git_failure = |e: ward_render::RenderError| {
        Failure::bad_input(e.to_string(), "check --repo and that REF is a commit of it")
    };
    let (existing, base) = match (against, git) {
        (_, Some((repo, rev))) => match TreeRecord::read_git(repo, rev).map_err(git_failure)? {
            Some(record) => (
                ward_render::plan::read_recorded_git(repo, rev, &record).map_err(git_failure)?,
                Some(record),
            ),
            None => Default::default(),
        },
        (Some(dir), None) => match TreeRecord::read(dir).map_err(render_failure)? {
            Some(record) => (
                ward_render::plan::read_recorded(dir, &record).map_err(render_failure)?,
                Some(record),
            ),
            None => Default::default(),
        },
        (None, None) => Default::default(),
    };
    // The reviewed state is the estate commit the tree records it was written from.
    let base = base.and_then(|r| r.estate_commit);
    let review = Review::gather(estate, base.as_deref()).map_err(review_failure)?;
    let plan = ward_render::plan::plan(&tree, &existing, &review, target.into())
        .map_err(render_failure)?;
    // Freeing the old tree's texts one by one is a large share of a big estate's plan:
    // another thread frees them while the approvals are read (never leaked, so a process
    // that plans again and again, the server, holds no more than one plan's worth).
    std::thread::spawn(move || drop(existing));
    let signed = approval::read(&estate.root, &plan.change_id)
        .map_err(|e| Failure::bad_input(e.to_string(), "fix or remove the approvals file"))?;
    let (verified, rejected) = approval::verify(&review.approvers, &plan.change_id, &signed);
    let unmet = approval::unmet(&plan.requirement, &verified, &review);
    // The controls judge the target estate on the objects of the environments the change
    // touches: only findings about those can stop it, and a plan of the whole estate then
    // costs no more than `ward check`. A change that touches nothing is not checked.
    let touched: BTreeSet<String> = plan.by_environment().into_keys().collect();
    let check = if touched.is_empty() {
        None
    } else {
        let options = ward_policy::CheckOptions {
            today: ward_ops::check::today(),
            user_policies: true,
        };
        let objects = ward_ops::check::Objects::Serving(&touched);
        Some(ward_ops::check::evaluate(estate, &options, objects)?.1)
    };
    let blocking = check
        .as_ref()
        .map(|c| c.blocking(&touched).into_iter().cloned().collect())
        .unwrap_or_default();
    Ok(Proposal {
        tree,
        plan,
        review,
        verified,
        rejected,
        unmet,
        check,
        blocking,
    })
}

/// A change whose review cannot be established is refused: never approved with keys
/// Ward could not trace to a reviewed state.
pub fn review_failure(e: ReviewError) -> Failure {
    let hint = match &e {
        ReviewError::UnknownBase(_) => {
            "fetch the estate's history (git fetch), or check that --estate is the repository the deploy tree was written from"
        }
        ReviewError::NotAncestor { .. } => {
            "check out the branch the deploy tree was applied from; a change must build on the reviewed state"
        }
        ReviewError::BaseUnloadable { .. } => {
            "the reviewed state's Teams cannot be read; fix the estate at that commit in a reviewed change"
        }
        ReviewError::Git(_) | ReviewError::Temp(_) => {
            return Failure::operational(
                e.to_string(),
                "check that git works in the estate folder",
            );
        }
    };
    Failure::bad_input(e.to_string(), hint)
}

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
    let p = propose(&estate, args.target, args.against.as_deref(), git)?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "plan": p.plan, "review": p.review, "approvals": p.verified, "rejected": p.rejected,
            "unmet": p.unmet, "check": p.check_json(),
            "approvalsFile": approval::path(&estate.root, &p.plan.change_id),
            "commit": estate.git.commit,
        }))?,
        Output::Text => {
            let keys = crate::commands::ssh_keys::folder(&cx.state_dir());
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
