//! What the server knows about one estate commit: every environment with its
//! classification, posture and findings, the controls' summary, and the waivers' expiry.
//! Computed once per commit and kept in the store, so a question about a past commit is
//! answered without loading it again.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use ward_estate::Estate;
use ward_policy::CheckOptions;

/// Why a child process gave no evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildFailure {
    /// The commit does not evaluate (its error, as the CLI reports it).
    Invalid(String),
    /// The process failed for a reason of this machine's.
    Local(String),
}

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
    pub fn from_document(document: &str) -> Result<CommitEvaluation, serde_json::Error> {
        let mut evaluation: CommitEvaluation = serde_json::from_str(document)?;
        evaluation.reindex();
        Ok(evaluation)
    }

    /// [`CommitEvaluation::compute`] in a child process: the evaluator's `ward` binary run
    /// on the commit's work tree `dir`, printing the evaluation as JSON. Its error document
    /// (exit 1 to 3) is the commit's own failure; anything else (killed, out of memory,
    /// not started, unreadable output) is this machine's, and the commit is tried again.
    pub fn in_child(
        evaluator: &crate::config::Evaluator,
        dir: &Path,
        commit: &str,
    ) -> Result<CommitEvaluation, ChildFailure> {
        let program = &evaluator.program;
        let output = std::process::Command::new(program)
            .envs(evaluator.env.iter().map(|(k, v)| (k, v)))
            .arg("--estate")
            .arg(dir)
            .args(["-q", "-o", "json", "evaluate-commit", "--commit", commit])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| ChildFailure::Local(format!("cannot start {}: {e}", program.display())))?;
        if output.status.success() {
            // Straight into the evaluation: it is megabytes on a large estate.
            let mut evaluation: CommitEvaluation = serde_json::from_slice(&output.stdout)
                .map_err(|e| ChildFailure::Local(format!("unreadable evaluation: {e}")))?;
            evaluation.reindex();
            return Ok(evaluation);
        }
        let document: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
        match (output.status.code(), document) {
            (Some(1..=3), Some(document)) if document.get("error").is_some() => {
                let message = document
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("the evaluation failed")
                    .to_string();
                Err(ChildFailure::Invalid(message))
            }
            (code, _) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().last().unwrap_or("").trim();
                Err(ChildFailure::Local(format!(
                    "the evaluation process ended with {}{}",
                    code.map_or_else(|| "a signal".to_string(), |c| format!("exit {c}")),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                )))
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in `ward` that prints `stdout` and exits with `code`, whatever it is asked.
    fn program(dir: &Path, stdout: &str, code: i32) -> crate::config::Evaluator {
        let path = dir.join("ward");
        std::fs::write(
            &path,
            format!("#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\necho 'the last line of stderr' >&2\nexit {code}\n"),
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        crate::config::Evaluator {
            program: path,
            env: Vec::new(),
        }
    }

    #[test]
    fn a_child_error_document_is_the_commit_s_and_anything_else_is_local() {
        let tmp = tempfile::tempdir().expect("tmp");
        let invalid = program(
            tmp.path(),
            r#"{"error": "bad-input", "message": "policies/deny.rego:3:1: rego_parse_error"}"#,
            2,
        );
        assert_eq!(
            CommitEvaluation::in_child(&invalid, tmp.path(), "abc").err(),
            Some(ChildFailure::Invalid(
                "policies/deny.rego:3:1: rego_parse_error".into()
            ))
        );
        let killed = program(tmp.path(), "", 137);
        assert_eq!(
            CommitEvaluation::in_child(&killed, tmp.path(), "abc").err(),
            Some(ChildFailure::Local(
                "the evaluation process ended with exit 137: the last line of stderr".into()
            ))
        );
        let missing = crate::config::Evaluator {
            program: tmp.path().join("no-such-ward"),
            env: Vec::new(),
        };
        assert!(matches!(
            CommitEvaluation::in_child(&missing, tmp.path(), "abc").err(),
            Some(ChildFailure::Local(m)) if m.starts_with("cannot start")
        ));
    }

    #[test]
    fn the_child_gets_the_evaluator_s_environment() {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("ward");
        std::fs::write(
            &path,
            "#!/bin/sh\nprintf '{\"error\": \"bad-input\", \"message\": \"%s\"}' \"$GLIBC_TUNABLES\"\nexit 2\n",
        )
        .expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let evaluator = crate::config::Evaluator {
            program: path,
            env: vec![("GLIBC_TUNABLES".into(), "glibc.malloc.hugetlb=1".into())],
        };
        assert_eq!(
            CommitEvaluation::in_child(&evaluator, tmp.path(), "abc").err(),
            Some(ChildFailure::Invalid("glibc.malloc.hugetlb=1".into()))
        );
    }
}
