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
        let history = History::new(dir);
        let Ok(commit) = history.text(&["rev-parse", "--verify", "--quiet", "HEAD"]) else {
            return GitState::default();
        };
        // A status that cannot be read counts as dirty: nothing is vouched for unseen.
        let clean = history
            .text(&[
                "status",
                "--porcelain",
                "--untracked-files=normal",
                "--",
                ".",
            ])
            .is_ok_and(|s| s.trim().is_empty());
        GitState {
            commit: Some(commit.trim().to_string()),
            dirty: !clean,
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

/// Why a question about the estate's Git history could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git in {dir}: {source}")]
    Spawn {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("`git {args}` failed in {dir}: {stderr}")]
    Failed {
        dir: std::path::PathBuf,
        args: String,
        stderr: String,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The name of the approvals folder, once, for the constants below.
macro_rules! approvals_dir {
    () => {
        "approvals"
    };
}

/// The folder beside the estate's documents whose files are not part of a change: the
/// signed approvals of a change live there, so adding one never changes what is approved.
pub const APPROVALS_DIR: &str = approvals_dir!();

/// The pathspec of the estate without its approvals: what a change is made of.
fn change_pathspec() -> [&'static str; 3] {
    ["--", ".", concat!(":(exclude)", approvals_dir!())]
}

/// A name and an email address as Git recorded them: self-asserted, unless the commit
/// carries a signature that verifies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GitIdentity {
    pub name: String,
    pub email: String,
}

/// One commit of a change, with the identities it names and, when asked for, the
/// principal whose SSH signature over it verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCommit {
    pub id: String,
    pub author: GitIdentity,
    pub committer: GitIdentity,
    /// The allowed-signers principal of a good signature; `None` when the commit is
    /// unsigned, its signature is bad, or its key is not an allowed signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

/// The Git history of an estate folder, for judging a change: which commit it is at,
/// which commits a change is made of, and the estate as it stood at an earlier commit.
pub struct History {
    dir: std::path::PathBuf,
}

impl History {
    pub fn new(dir: &Path) -> History {
        History {
            dir: dir.to_path_buf(),
        }
    }

    fn run(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        let out = Command::new("git")
            // A repository's own config must not make Ward run programs (fsmonitor
            // hooks, a signature program of its choosing).
            .args([
                "-c",
                "core.fsmonitor=false",
                "-c",
                "gpg.ssh.program=ssh-keygen",
            ])
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .map_err(|source| GitError::Spawn {
                dir: self.dir.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(GitError::Failed {
                dir: self.dir.clone(),
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    fn text(&self, args: &[&str]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.run(args)?).into_owned())
    }

    /// The newest commit that changed the estate outside `approvals/`: the commit a change
    /// brings the deploy tree to. Committing an approvals file does not move it. `None`
    /// outside a repository or before the first commit.
    pub fn estate_commit(&self) -> Option<String> {
        let mut args = vec!["rev-list", "-1", "HEAD"];
        args.extend(change_pathspec());
        let id = self.text(&args).ok()?.trim().to_string();
        (!id.is_empty()).then_some(id)
    }

    /// Files that differ from HEAD outside `approvals/` (tracked or untracked, ignored
    /// files aside), as `git status --porcelain` names them.
    pub fn uncommitted(&self) -> Result<Vec<String>, GitError> {
        let mut args = vec!["status", "--porcelain", "--untracked-files=all"];
        args.extend(change_pathspec());
        Ok(self
            .text(&args)?
            .lines()
            .filter_map(|l| l.get(3..))
            .map(str::to_string)
            .collect())
    }

    /// YAML files under the estate that Git ignores, outside the state folder: files the
    /// loader reads that no commit holds.
    pub fn ignored_yaml(&self) -> Result<Vec<String>, GitError> {
        let out = self.text(&[
            "ls-files",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--",
            "*.yaml",
            "*.yml",
            ":(exclude).ward",
        ])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Whether `commit` names a commit of this repository.
    pub fn has_commit(&self, commit: &str) -> bool {
        let spec = format!("{commit}^{{commit}}");
        self.run(&["cat-file", "-e", &spec]).is_ok()
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> bool {
        self.run(&["merge-base", "--is-ancestor", ancestor, descendant])
            .is_ok()
    }

    /// The commits after `base` up to `target` that changed the estate outside
    /// `approvals/`, newest first (every such commit reachable from `target` when there is
    /// no base). With `allowed_signers` (an OpenSSH allowed-signers file, namespace
    /// `git`), each commit's signature is checked as `git verify-commit` checks it.
    pub fn commits(
        &self,
        base: Option<&str>,
        target: &str,
        allowed_signers: Option<&Path>,
    ) -> Result<Vec<ChangeCommit>, GitError> {
        let range = match base {
            Some(b) => format!("{b}..{target}"),
            None => target.to_string(),
        };
        let signers =
            allowed_signers.map(|p| format!("gpg.ssh.allowedSignersFile={}", p.display()));
        let mut args: Vec<&str> = Vec::new();
        if let Some(s) = &signers {
            args.extend(["-c", s.as_str()]);
        }
        args.extend([
            "log",
            "-z",
            "--format=%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%G?%x1f%GS",
            range.as_str(),
        ]);
        args.extend(change_pathspec());
        let out = self.text(&args)?;
        Ok(out
            .split('\0')
            .filter(|r| !r.trim().is_empty())
            .filter_map(|record| {
                let f: Vec<&str> = record.trim_start_matches('\n').split('\x1f').collect();
                let [id, an, ae, cn, ce, status, signer] = f.as_slice() else {
                    return None;
                };
                // G: a good signature by an allowed signer. Anything else (no
                // signature, bad, unknown key, expired) proves nothing.
                let signer = (allowed_signers.is_some() && *status == "G" && !signer.is_empty())
                    .then(|| signer.to_string());
                Some(ChangeCommit {
                    id: id.to_string(),
                    author: GitIdentity {
                        name: an.to_string(),
                        email: ae.to_string(),
                    },
                    committer: GitIdentity {
                        name: cn.to_string(),
                        email: ce.to_string(),
                    },
                    signer,
                })
            })
            .collect())
    }

    /// Writes the estate folder as it stood at `commit` into the empty folder `dest`
    /// (`git archive` of the estate's subtree, unpacked by `tar`), so it can be loaded
    /// like any estate.
    pub fn export(&self, commit: &str, dest: &Path) -> Result<(), GitError> {
        let prefix = self.text(&["rev-parse", "--show-prefix"])?;
        let tree = format!("{commit}:{}", prefix.trim());
        let archive = self.run(&["archive", "--format=tar", &tree])?;
        let io = |source| GitError::Io {
            path: dest.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dest).map_err(io)?;
        let mut child = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(dest)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|source| GitError::Spawn {
                dir: dest.to_path_buf(),
                source,
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(&archive).map_err(io)?;
        }
        let out = child.wait_with_output().map_err(io)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(GitError::Failed {
                dir: dest.to_path_buf(),
                args: "archive | tar -x".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}
