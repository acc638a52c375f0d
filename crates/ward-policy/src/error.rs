//! Typed errors of policy loading and evaluation. A Rego problem always carries the
//! file, line and column it was found at, so the CLI can point at it.

use std::path::PathBuf;

/// Why controls or policies could not be run.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A Rego module failed to parse or to evaluate.
    #[error("{file}:{line}:{col}: {message}")]
    Rego {
        file: String,
        line: u32,
        col: u32,
        message: String,
        /// regorus' full report, with the offending line and a caret.
        detail: String,
    },
    /// A built-in control failed to evaluate: a bug in Ward, not in the estate.
    #[error("built-in control {module} failed: {message}")]
    Builtin { module: String, message: String },
    /// A built-in control's `metadata` is not what the catalogue expects.
    #[error("{module}: bad control metadata: {message}")]
    Metadata { module: String, message: String },
    /// A rule returned something that is not a finding.
    #[error("{source_name}: rule `{rule}` returned something that is not a finding: {message}")]
    BadFinding {
        source_name: String,
        rule: String,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PolicyError {
    /// Turns a regorus error into a located one. regorus reports `--> file:line:col`
    /// followed by the line and `error: message`; errors without a location are
    /// attributed to `fallback_file` at line 1.
    pub fn from_regorus(fallback_file: &str, error: &dyn std::fmt::Display) -> PolicyError {
        let detail = error.to_string();
        let (mut file, mut line, mut col) = (fallback_file.to_string(), 1, 1);
        if let Some(rest) = detail.split("--> ").nth(1) {
            let head = rest.lines().next().unwrap_or("");
            let mut parts = head.rsplitn(3, ':');
            let c = parts.next().and_then(|x| x.trim().parse().ok());
            let l = parts.next().and_then(|x| x.trim().parse().ok());
            if let (Some(c), Some(l), Some(f)) = (c, l, parts.next()) {
                file = f.to_string();
                line = l;
                col = c;
            }
        }
        let message = detail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("error: ").to_string())
            .unwrap_or_default();
        PolicyError::Rego {
            file,
            line,
            col,
            message,
            detail,
        }
    }

    /// Whether the fault is in the input (a user's policy), rather than in Ward.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            PolicyError::Rego { .. } | PolicyError::BadFinding { .. }
        )
    }
}
