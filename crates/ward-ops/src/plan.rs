//! A plan between two estate commits: what rendering the target changes in the deploy
//! tree the base renders, reviewed from the base (its Teams approve), with the approvals
//! that verified and what is still missing. The server's `GET /api/v1/plan`.

use ward_estate::Estate;
use ward_render::approval;
use ward_render::plan::Plan;
use ward_render::review::Review;

use crate::Error;
use crate::check::render_error;

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
