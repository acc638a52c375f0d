//! What the server knows about one estate commit: every environment with its
//! classification, posture and findings, the controls' summary, and the waivers' expiry.
//! Computed once per commit and kept in the store, so a question about a past commit is
//! answered without loading it again.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use ward_estate::Estate;
use ward_policy::CheckOptions;

/// How many findings of each kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingCounts {
    pub deny: u64,
    pub warn: u64,
    pub waived: u64,
}

/// One environment at a commit.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    /// `workload/environment`.
    pub address: String,
    pub workload: String,
    pub tenant: String,
    pub environment: String,
    #[schema(value_type = String)]
    pub stage: serde_json::Value,
    pub cluster: String,
    /// Tier, hosting model, DR posture and the rules that decided them, as
    /// `ward classify -o json` shows them.
    #[schema(value_type = Object)]
    pub classification: serde_json::Value,
    pub findings: FindingCounts,
}

/// One waiver and the days until it expires (negative: expired).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaiverView {
    pub name: String,
    pub control: String,
    pub expires: String,
    pub days_to_expiry: i64,
}

/// Everything computed for one commit.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitEvaluation {
    pub commit: String,
    /// RFC 3339.
    pub evaluated_at: String,
    /// The date waivers were judged against (UTC).
    pub judged_on: String,
    pub environments: Vec<EnvironmentView>,
    pub summary: FindingCounts,
    /// How many built-in controls ran.
    pub controls: u64,
    /// Every finding, as `ward check -o json` lists them.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
    pub waivers: Vec<WaiverView>,
    /// The loader's warnings.
    pub warnings: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl CommitEvaluation {
    /// Classifies (the loader already did) and checks `estate` at `commit`, the estate
    /// model and its rendered objects, as `ward check` does.
    pub fn compute(estate: &Estate, commit: &str) -> Result<CommitEvaluation, ward_ops::Error> {
        let today = ward_ops::check::today();
        let options = CheckOptions {
            today,
            user_policies: true,
        };
        let (_, report) =
            ward_ops::check::evaluate(estate, &options, ward_ops::check::Objects::All)?;
        let mut per_env: BTreeMap<String, FindingCounts> = BTreeMap::new();
        for f in &report.findings {
            let (Some(w), Some(e)) = (&f.workload, &f.environment) else {
                continue;
            };
            let counts = per_env.entry(format!("{w}/{e}")).or_default();
            if f.waived.is_some() {
                counts.waived += 1;
            } else if f.severity == ward_policy::Severity::Deny {
                counts.deny += 1;
            } else {
                counts.warn += 1;
            }
        }
        let environments = estate
            .environments
            .iter()
            .map(|e| {
                let address = e.address();
                EnvironmentView {
                    findings: per_env.get(&address).copied().unwrap_or_default(),
                    workload: e.workload.clone(),
                    tenant: e.tenant.clone(),
                    environment: e.environment.clone(),
                    stage: serde_json::to_value(e.stage).unwrap_or_default(),
                    cluster: e.cluster.clone(),
                    classification: serde_json::to_value(&e.classification).unwrap_or_default(),
                    address,
                }
            })
            .collect();
        let waivers = estate
            .waivers
            .iter()
            .map(|w| {
                let expires = w.spec.expires.value;
                WaiverView {
                    name: w.name().to_string(),
                    control: w.spec.control.value.clone(),
                    expires: expires.to_string(),
                    days_to_expiry: today
                        .until(expires)
                        .map(|span| i64::from(span.get_days()))
                        .unwrap_or_default(),
                }
            })
            .collect();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let mut evaluation = CommitEvaluation {
            commit: commit.to_string(),
            evaluated_at: jiff::Timestamp::now().to_string(),
            judged_on: today.to_string(),
            environments,
            summary: FindingCounts {
                deny: count(report.summary.deny),
                warn: count(report.summary.warn),
                waived: count(report.summary.waived),
            },
            controls: count(report.controls),
            findings: report
                .findings
                .iter()
                .map(|f| serde_json::to_value(f).unwrap_or_default())
                .collect(),
            waivers,
            warnings: estate.warnings.iter().map(|w| w.message.clone()).collect(),
            index: HashMap::new(),
        };
        evaluation.reindex();
        Ok(evaluation)
    }

    /// Read back from the store's document.
    pub fn from_document(
        document: serde_json::Value,
    ) -> Result<CommitEvaluation, serde_json::Error> {
        let mut evaluation: CommitEvaluation = serde_json::from_value(document)?;
        evaluation.reindex();
        Ok(evaluation)
    }

    fn reindex(&mut self) {
        self.index = self
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| (e.address.clone(), i))
            .collect();
    }

    /// One environment by its `workload/environment` address.
    pub fn environment(&self, address: &str) -> Option<&EnvironmentView> {
        self.index
            .get(address)
            .and_then(|&i| self.environments.get(i))
    }
}
