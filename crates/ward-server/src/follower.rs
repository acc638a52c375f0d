//! The Git follower: a clone of the estate repository in the cache folder, fetched at an
//! interval or on a webhook, and one checked-out work tree per commit the server acts on,
//! so that an estate is always loaded from exactly the commit it is reported under.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use ward_ops::scrub::scrub_credentials;

use crate::config::EstateSource;

/// Why the branch could not be followed or a commit not checked out.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0:?} is not a commit id")]
    BadCommit(String),
}

/// The estate repository as the server follows it.
#[derive(Debug)]
pub struct Follower {
    source: EstateSource,
    cache_dir: PathBuf,
    /// Git commands on the clone run one at a time.
    lock: Mutex<()>,
}

/// A commit id as Git prints it: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Follower {
    pub fn new(source: EstateSource, cache_dir: PathBuf) -> Follower {
        Follower {
            source,
            cache_dir,
            lock: Mutex::new(()),
        }
    }

    pub fn source(&self) -> &EstateSource {
        &self.source
    }

    fn clone_dir(&self) -> PathBuf {
        self.cache_dir.join("repository")
    }

    fn checkout_dir(&self, commit: &str) -> PathBuf {
        self.cache_dir.join("commits").join(commit)
    }

    /// `git fetch` of the followed revision into the clone (FETCH_HEAD).
    fn fetch_revision(&self, clone: &Path) -> Result<String, FollowError> {
        let revision = self.source.revision.as_str();
        git(
            clone,
            &["fetch", "--quiet", "--no-tags", "origin", revision],
        )
    }

    /// Fetches the followed revision and returns the commit it points at. Clones the
    /// repository first when there is no clone yet. Blocking.
    pub fn fetch(&self) -> Result<String, FollowError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let clone = self.ensure_clone()?;
        self.fetch_revision(&clone)?;
        let commit = git(&clone, &["rev-parse", "--verify", "FETCH_HEAD^{commit}"])?;
        Ok(commit.trim().to_string())
    }

    /// The clone, made first when there is none (the lock held).
    fn ensure_clone(&self) -> Result<PathBuf, FollowError> {
        let clone = self.clone_dir();
        if !clone.join(".git").exists() {
            std::fs::create_dir_all(&self.cache_dir).map_err(|source| FollowError::Io {
                path: self.cache_dir.clone(),
                source,
            })?;
            if clone.exists() {
                std::fs::remove_dir_all(&clone).map_err(|source| FollowError::Io {
                    path: clone.clone(),
                    source,
                })?;
            }
            git(
                &self.cache_dir,
                &[
                    "clone",
                    "--quiet",
                    "--no-checkout",
                    &self.source.repository,
                    "repository",
                ],
            )?;
        }
        Ok(clone)
    }

    /// A work tree of `commit` (checked out once, then reused). Blocking.
    pub fn checkout(&self, commit: &str) -> Result<PathBuf, FollowError> {
        if !is_commit_id(commit) {
            return Err(FollowError::BadCommit(commit.to_string()));
        }
        let dir = self.checkout_dir(commit);
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if dir.join(".git").exists() {
            return Ok(dir);
        }
        let clone = self.ensure_clone()?;
        // A commit another replica evaluated may be newer than this clone's last fetch.
        if git(&clone, &["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_err() {
            self.fetch_revision(&clone)?;
        }
        // A work tree left half-made by a crash is made again.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| FollowError::Io {
                path: dir.clone(),
                source,
            })?;
            let _ = git(&clone, &["worktree", "prune"]);
        }
        let target = dir.to_string_lossy().to_string();
        git(
            &clone,
            &[
                "worktree", "add", "--quiet", "--detach", "--force", &target, commit,
            ],
        )?;
        Ok(dir)
    }

    /// Removes the work trees of every commit but `keep`. Blocking.
    pub fn forget_except(&self, keep: &[String]) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(entries) = std::fs::read_dir(self.cache_dir.join("commits")) else {
            return;
        };
        let clone = self.clone_dir();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if keep.contains(&name) {
                continue;
            }
            let path = entry.path().to_string_lossy().to_string();
            if git(&clone, &["worktree", "remove", "--force", &path]).is_err() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let _ = git(&clone, &["worktree", "prune"]);
    }
}

/// Runs git in `dir` and returns its stdout; a failure carries git's own message.
fn git(dir: &Path, args: &[&str]) -> Result<String, FollowError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| FollowError::Git {
            args: scrub_credentials(&args.join(" ")),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        // A remote URL may carry a token: neither it nor git's echo of it is shown.
        return Err(FollowError::Git {
            args: scrub_credentials(&args.join(" ")),
            message: scrub_credentials(String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}
