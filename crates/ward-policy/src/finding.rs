//! Findings and the report of one check: what was found, where in the estate, how to
//! fix it, and whether a waiver covers it.

use crate::catalogue::{Domain, Severity};
use crate::input::ObjectRef;
use serde::{Deserialize, Serialize};
use ward_estate::Location;

/// Where a finding's rule came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// A built-in control of the catalogue.
    Builtin,
    /// A user's Conftest-style policy in the estate's `policies/`.
    Policy { file: String },
}

/// The waiver that covers a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waived {
    pub waiver: String,
    pub approver: String,
    pub reason: String,
    pub expires: String,
    pub location: Location,
}

/// One thing a control found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `WARD-DP-001`, or `policy:<package>.<rule>` for a user's policy.
    pub control: String,
    pub title: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The estate file and line that caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The rendered object it is about, for controls over objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    pub remediation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hipaa: Option<String>,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
    /// The waiver this finding is about, for the waiver controls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

impl Finding {
    /// An unwaived `deny`: what makes `ward check` fail.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Deny && self.waived.is_none()
    }

    /// Whether this finding is about one of `addresses` (`workload/environment`): its own
    /// environment, any environment of its workload, or, for a finding about the whole
    /// estate, every environment.
    pub fn concerns(&self, addresses: &std::collections::BTreeSet<String>) -> bool {
        match (&self.workload, &self.environment) {
            (Some(w), Some(e)) => addresses.contains(&format!("{w}/{e}")),
            (Some(w), None) => addresses
                .iter()
                .any(|a| a.split_once('/').is_some_and(|(aw, _)| aw == w)),
            _ => !addresses.is_empty(),
        }
    }

    /// `workload/environment`, `workload`, or `estate` for findings about the whole.
    pub fn subject(&self) -> String {
        match (&self.workload, &self.environment) {
            (Some(w), Some(e)) => format!("{w}/{e}"),
            (Some(w), None) => w.clone(),
            _ => "estate".into(),
        }
    }

    /// Sort key: subject, then severity, then control, then where.
    fn key(&self) -> impl Ord + '_ {
        (
            self.subject(),
            self.severity,
            &self.control,
            &self.location,
            &self.object,
            &self.message,
        )
    }
}

/// A finding as a Rego rule returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct RawFinding {
    pub msg: String,
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub at: Option<RawLocation>,
    #[serde(default)]
    pub object: Option<ObjectRef>,
    #[serde(default)]
    pub waiver: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RawLocation {
    pub file: String,
    pub line: u32,
    #[serde(default)]
    pub col: u32,
}

impl From<RawLocation> for Location {
    fn from(r: RawLocation) -> Location {
        Location {
            file: r.file,
            line: r.line,
            col: r.col,
        }
    }
}

/// Counts per outcome, for summaries and exit codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub deny: usize,
    pub warn: usize,
    pub waived: usize,
}

/// The result of one `ward check`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// How many built-in controls ran.
    pub controls: usize,
    /// The user policy files that ran, relative to the estate.
    pub policies: Vec<String>,
    pub environments: usize,
    /// How many rendered objects the controls saw; `None` when nothing was rendered.
    pub objects: Option<usize>,
}

impl Report {
    /// The unwaived `deny` findings about any of `addresses`: what stops a change to those
    /// environments from being applied.
    pub fn blocking(&self, addresses: &std::collections::BTreeSet<String>) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.blocks() && f.concerns(addresses))
            .collect()
    }

    pub(crate) fn new(
        mut findings: Vec<Finding>,
        controls: usize,
        policies: Vec<String>,
        environments: usize,
        objects: Option<usize>,
    ) -> Report {
        findings.sort_by(|a, b| a.key().cmp(&b.key()));
        findings.dedup();
        let mut summary = Summary::default();
        for f in &findings {
            if f.waived.is_some() {
                summary.waived += 1;
            } else if f.severity == Severity::Deny {
                summary.deny += 1;
            } else {
                summary.warn += 1;
            }
        }
        Report {
            findings,
            summary,
            controls,
            policies,
            environments,
            objects,
        }
    }

    /// Whether any unwaived `deny` finding remains.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(Finding::blocks)
    }
}
