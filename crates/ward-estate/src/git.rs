//! The estate's Git HEAD commit and whether its tree is dirty.
//!
//! Everything Ward records carries this commit, so an auditor can tie an action to the
//! exact estate it acted on. Ward runs the `git` binary rather than linking a library.

use serde::Serialize;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GitState {
    /// The full HEAD commit id, or `None` outside a Git repository (or before a first commit).
    pub commit: Option<String>,
    /// Whether tracked or untracked files under the estate differ from HEAD.
    pub dirty: bool,
}

impl GitState {
    pub fn read(dir: &Path) -> GitState {
        let Some(commit) = git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]) else {
            return GitState::default();
        };
        let dirty = git(
            dir,
            &[
                "status",
                "--porcelain",
                "--untracked-files=normal",
                "--",
                ".",
            ],
        )
        .is_none_or(|s| !s.trim().is_empty());
        GitState {
            commit: Some(commit.trim().to_string()),
            dirty,
        }
    }

    /// `abc1234` or `abc1234-dirty`, as shown to people.
    pub fn short(&self) -> String {
        match &self.commit {
            None => "uncommitted".to_string(),
            Some(c) => {
                let short = c.get(..12).unwrap_or(c);
                if self.dirty {
                    format!("{short}-dirty")
                } else {
                    short.to_string()
                }
            }
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    // A repository's own config must not make Ward run programs (fsmonitor hooks).
    let out = Command::new("git")
        .arg("-c")
        .arg("core.fsmonitor=false")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
