//! Judging an estate: the control catalogue and the estate's own policies over the model
//! and its rendered objects. The one way `check`, `plan`, `apply` and the server's commit
//! evaluation decide findings.

use ward_policy::{CheckOptions, Checker, PolicyError, Provenance, RenderedObject, Report};

use crate::Error;

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
) -> Result<(Checker, Report), Error> {
    let checker = Checker::new().map_err(policy_error)?;
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
        .check(estate, objects, options)
        .map_err(policy_error)?;
    Ok((checker, report))
}

/// The counts of a report, as the ledger records them.
pub fn summary_event(report: &Report) -> crate::Event {
    crate::event::Check {
        deny: report.summary.deny as u64,
        warn: report.summary.warn as u64,
        waived: report.summary.waived as u64,
        controls: report.controls as u64,
    }
    .into()
}

/// The estate rendered to Kubernetes objects, each with the environments it serves and
/// its path in the deploy tree.
fn rendered_objects(estate: &ward_estate::Estate) -> Result<Vec<RenderedObject>, Error> {
    let objects = ward_render::kubernetes_objects(estate).map_err(render_error)?;
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

/// A broken user policy is bad input (exit 2) with its file and line; anything else in
/// the policy machinery is Ward's own failure.
pub fn policy_error(e: PolicyError) -> Error {
    match &e {
        PolicyError::Rego { detail, .. } => Error::bad_input(
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
        PolicyError::BadFinding { .. } => Error::bad_input(
            e.to_string(),
            "a deny/warn/violation rule must yield strings or objects with a `msg`",
        ),
        PolicyError::Io { .. } => Error::operational(e.to_string(), "check the policies folder"),
        PolicyError::Metadata { .. } | PolicyError::Builtin { .. } => Error::operational(
            e.to_string(),
            "this is a bug in Ward's built-in catalogue; please report it",
        ),
    }
}

pub fn render_error(e: ward_render::RenderError) -> Error {
    use ward_render::RenderError as E;
    let hint = match &e {
        E::Io { .. } => {
            return Error::operational(e.to_string(), "check that the output folder is writable");
        }
        E::NotATree { .. } => {
            "render into an empty or new folder; to take over a tree an older Ward wrote, pass --adopt (files Ward does not render are left alone)"
        }
        E::NotWards { .. } => {
            "move those files away, or pass --adopt to let Ward take them over; a linked folder must be replaced by a real one (see docs/rendering.md, \"The tree record\")"
        }
        E::InsideEstate { .. } => {
            "render into a folder outside the estate, e.g. `--out ../deploy` (a deploy repository of its own)"
        }
        E::BadRecord { .. } => {
            "restore ward-tree.json from the deploy repository's history (git checkout -- ward-tree.json), or move the tree away and render afresh"
        }
        E::OtherTarget { .. } => "render this target into a folder of its own",
        _ => "see docs/rendering.md for what rendering needs from the platform",
    };
    Error::bad_input(e.to_string(), hint)
}
