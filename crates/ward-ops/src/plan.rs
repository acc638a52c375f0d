//! Plans and their approval gate. `propose` is what `ward plan` shows and `ward apply`
//! decides on (the rendered tree against the deploy tree that is there, reviewed from the
//! commit that tree was written from, its approvals, the controls' verdict); `apply` writes
//! it only when the approvals are complete and no control denies it, and records either
//! way. `between` plans one estate commit against another: the server's `GET /api/v1/plan`.

use std::collections::BTreeSet;
use std::path::Path;

use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_render::approval;
use ward_render::plan::Plan;
use ward_render::review::{Review, ReviewError};
use ward_render::tree::{TreeRecord, WriteReport};

use crate::check::render_error;
use crate::{Error, Workspace, event};

/// The plan of one change.
#[derive(Debug)]
pub struct CommitPlan {
    pub plan: Plan,
    pub verified: Vec<approval::Verified>,
    /// What is still missing before `ward apply` may write it.
    pub unmet: Vec<String>,
}

/// Plans `target` against the Kubernetes tree `base` (the estate at `base_commit`, an
/// ancestor of `target`'s) renders.
pub fn between(base: &Estate, base_commit: &str, target: &Estate) -> Result<CommitPlan, Error> {
    let kubernetes = ward_render::Target::Kubernetes;
    let existing: ward_render::plan::Existing = ward_render::render(base, kubernetes)
        .map_err(render_error)?
        .files
        .into_iter()
        .map(|(path, file)| (path, file.text))
        .collect();
    let tree = ward_render::render(target, kubernetes).map_err(render_error)?;
    let review = Review::gather(target, Some(base_commit)).map_err(|e| {
        Error::bad_input(
            e.to_string(),
            "the base must be an ancestor of the target on the followed branch",
        )
    })?;
    let plan =
        ward_render::plan::plan(&tree, &existing, &review, kubernetes).map_err(render_error)?;
    let signed = approval::read(&target.root, &plan.change_id)
        .map_err(|e| Error::bad_input(e.to_string(), "fix or remove the approvals file"))?;
    let (verified, _rejected) = approval::verify(&review.approvers, &plan.change_id, &signed);
    let unmet = approval::unmet(&plan.requirement, &verified, &review);
    Ok(CommitPlan {
        plan,
        verified,
        unmet,
    })
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
    estate: &Estate,
    target: ward_render::Target,
    against: Option<&Path>,
    git: Option<(&Path, &str)>,
) -> Result<Proposal, Error> {
    let tree = ward_render::render(estate, target).map_err(render_error)?;
    // The record is read once: it says which files are Ward's and which commit they
    // were written from.
    let git_failure = |e: ward_render::RenderError| {
        Error::bad_input(e.to_string(), "check --repo and that REF is a commit of it")
    };
    let (existing, base) = match (against, git) {
        (_, Some((repo, rev))) => match TreeRecord::read_git(repo, rev).map_err(git_failure)? {
            Some(record) => (
                ward_render::plan::read_recorded_git(repo, rev, &record).map_err(git_failure)?,
                Some(record),
            ),
            None => Default::default(),
        },
        (Some(dir), None) => match TreeRecord::read(dir).map_err(render_error)? {
            Some(record) => (
                ward_render::plan::read_recorded(dir, &record).map_err(render_error)?,
                Some(record),
            ),
            None => Default::default(),
        },
        (None, None) => Default::default(),
    };
    // The reviewed state is the estate commit the tree records it was written from.
    let base = base.and_then(|r| r.estate_commit);
    let review = Review::gather(estate, base.as_deref()).map_err(review_error)?;
    let plan = ward_render::plan::plan(&tree, &existing, &review, target).map_err(render_error)?;
    // Freeing the old tree's texts one by one is a large share of a big estate's plan:
    // another thread frees them while the approvals are read (never leaked, so a process
    // that plans again and again, the server, holds no more than one plan's worth).
    std::thread::spawn(move || drop(existing));
    let signed = approval::read(&estate.root, &plan.change_id)
        .map_err(|e| Error::bad_input(e.to_string(), "fix or remove the approvals file"))?;
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
            today: crate::check::today(),
            user_policies: true,
        };
        let objects = crate::check::Objects::Serving(&touched);
        Some(crate::check::evaluate(estate, &options, objects)?.1)
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
pub fn review_error(e: ReviewError) -> Error {
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
            return Error::operational(e.to_string(), "check that git works in the estate folder");
        }
    };
    Error::bad_input(e.to_string(), hint)
}

/// What `apply` did.
#[derive(Debug)]
pub enum Applied {
    /// The deploy tree already is what the estate renders, from the reviewed commit.
    Nothing,
    /// Approvals are incomplete or a control denies it: nothing was written (recorded as
    /// `denied`).
    Refused,
    /// The tree was written (recorded).
    Written(WriteReport),
}

/// Writes `proposal`'s tree into `out` if it may be applied, recording the change (or its
/// refusal) in the ledger with the approvals and the controls' verdict. The actor must be
/// a person of a Team of the reviewed state.
#[tracing::instrument(name = "ops.apply", skip_all, fields(out = %out.display(), change = %proposal.plan.change_id, actor = %ws.actor))]
pub fn apply(
    ws: &Workspace,
    estate: &Estate,
    proposal: &Proposal,
    out: &Path,
    target: ward_render::Target,
) -> Result<Applied, Error> {
    // The actor is recorded as who applied; the people who may be that are the Team's.
    // (Who wrote the change is read from its commits, never from --actor.)
    if !proposal.review.knows(&ws.actor) {
        return Err(Error::bad_input(
            format!(
                "--actor `{}` is not a person of any Team of the reviewed state",
                ws.actor
            ),
            "ward apply is run by a person of a Team: pass --actor <name> (or WARD_ACTOR) with a name from teams/",
        ));
    }
    let subject = out.display().to_string();
    if proposal.plan.is_empty() && proposal.review.base == proposal.review.target {
        return Ok(Applied::Nothing);
    }
    let mut details = apply_event(proposal, target);
    if !proposal.may_apply() {
        details.unmet = Some(proposal.unmet.clone());
        ws.record(&details.into(), &subject, Outcome::Denied, &estate.git)?;
        return Ok(Applied::Refused);
    }
    // The record names the estate commit written from: the next change's reviewed base.
    let report = proposal
        .tree
        .write(out, &ward_render::tree::Provenance::of(estate))
        .map_err(render_error)?;
    details.written = Some(report.written.len() as u64);
    details.removed = Some(report.removed.len() as u64);
    details.removed_files = Some(report.removed.clone());
    ws.record(&details.into(), &subject, Outcome::Ok, &estate.git)?;
    Ok(Applied::Written(report))
}

/// What the ledger keeps of an apply, granted or refused: the change, its review (base,
/// target, trust, authors), the approvers and their keys, and the controls' verdict.
fn apply_event(p: &Proposal, target: ward_render::Target) -> event::Apply {
    event::Apply {
        change_id: p.plan.change_id.clone(),
        target: serde_json::json!(target),
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
