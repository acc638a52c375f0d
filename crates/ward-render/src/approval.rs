//! Signed approvals: `approvals/<change-id>.yaml` in the estate, each entry an SSH
//! signature (`ssh-keygen -Y sign -n ward-approval`) over the change-id, verified against
//! the public keys of the people in the `Team` of the reviewed state ([`Review`]).
//!
//! The signed message is the change-id itself, exactly (no newline), so an approval
//! cannot be moved to another change; the change-id binds the estate, the base and target
//! commits and the plan (`plan.rs`), so it cannot be replayed when a transition recurs.

use crate::plan::Requirement;
use crate::review::Review;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use ward_estate::model::{Document, Role, TeamSpec};

/// The SSH signature namespace of approvals.
pub const NAMESPACE: &str = "ward-approval";

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// One signed entry as written in the approvals file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    pub by: String,
    pub signature: String,
}

/// An approver whose signature verified, with the roles they hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub by: String,
    pub roles: Vec<Role>,
    /// The SHA-256 fingerprint of the key that signed: one key counts once.
    pub key: String,
}

/// An entry that did not count, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub by: String,
    pub reason: String,
}

/// Where the approvals for a change are kept.
pub fn path(estate_root: &Path, change_id: &str) -> PathBuf {
    estate_root
        .join(ward_estate::git::APPROVALS_DIR)
        .join(format!("{change_id}.yaml"))
}

/// Reads `approvals/<change-id>.yaml`; a missing file means no approvals yet.
///
/// ```yaml
/// changeId: 3f2a…
/// approvals:
///   - by: alice
///     signature: |
///       -----BEGIN SSH SIGNATURE-----
///       …
///       -----END SSH SIGNATURE-----
/// ```
pub fn read(estate_root: &Path, change_id: &str) -> Result<Vec<Signed>, ApprovalError> {
    let path = path(estate_root, change_id);
    // The file is read where it is, never through a link: a symlink could lead out of the
    // estate to a file the change's author controls elsewhere.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(ApprovalError::Format {
                path,
                message: "is not a regular file (a symlink or a folder); approvals are plain files in the estate".into(),
            });
        }
        _ => {}
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(ApprovalError::Io { path, source }),
    };
    let format = |message: &str| ApprovalError::Format {
        path: path.clone(),
        message: message.to_string(),
    };
    let doc = crate::yaml::from_yaml(&path.display().to_string(), &text)
        .map_err(|e| format(&e.message))?
        .into_iter()
        .next()
        .ok_or_else(|| format("empty file"))?;
    if doc["changeId"].as_str() != Some(change_id) {
        return Err(format(&format!(
            "changeId must be `{change_id}`, the name of the file"
        )));
    }
    let entries = doc["approvals"]
        .as_array()
        .ok_or_else(|| format("`approvals` must be a list"))?;
    entries
        .iter()
        .map(|e| {
            Ok(Signed {
                by: e["by"]
                    .as_str()
                    .ok_or_else(|| format("every approval names `by`"))?
                    .to_string(),
                signature: e["signature"]
                    .as_str()
                    .ok_or_else(|| format("every approval holds a `signature`"))?
                    .to_string(),
            })
        })
        .collect()
}

/// Checks each signature against the public key that `teams` (the reviewed state's, see
/// [`Review::approvers`]) list for its signer. A person approves once and a key approves
/// once: two names sharing a key count as one approval.
pub fn verify(
    teams: &[Document<TeamSpec>],
    change_id: &str,
    signed: &[Signed],
) -> (Vec<Verified>, Vec<Rejected>) {
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = BTreeSet::new();
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for s in signed {
        let reject = |reason: &str| Rejected {
            by: s.by.clone(),
            reason: reason.to_string(),
        };
        let Some(person) = teams
            .iter()
            .flat_map(|t| t.spec.people.iter())
            .find(|p| p.name.value == s.by)
        else {
            rejected.push(reject("not a person of any Team of the reviewed state"));
            continue;
        };
        let Some(key) = &person.ssh_key else {
            rejected.push(reject(
                "has no `keys.ssh` in the Team of the reviewed state",
            ));
            continue;
        };
        let key = match ssh_key::PublicKey::from_openssh(&key.value) {
            Ok(k) => k,
            Err(e) => {
                rejected.push(reject(&format!("Team's SSH key does not parse: {e}")));
                continue;
            }
        };
        let sig = match ssh_key::SshSig::from_pem(s.signature.trim()) {
            Ok(sig) => sig,
            Err(e) => {
                rejected.push(reject(&format!("signature does not parse: {e}")));
                continue;
            }
        };
        if let Err(e) = key.verify(NAMESPACE, change_id.as_bytes(), &sig) {
            rejected.push(reject(&format!(
                "signature does not verify for this change with {}'s key of the reviewed state: {e}",
                s.by
            )));
            continue;
        }
        if !seen.insert(s.by.clone()) {
            rejected.push(reject("approved twice; counted once"));
            continue;
        }
        let fingerprint = key.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        if let Some(other) = keys.get(&fingerprint) {
            rejected.push(reject(&format!(
                "signed with the same key as {other}; one key approves once"
            )));
            continue;
        }
        keys.insert(fingerprint.clone(), s.by.clone());
        ok.push(Verified {
            by: s.by.clone(),
            roles: person.roles.iter().map(|r| r.value).collect(),
            key: fingerprint,
        });
    }
    (ok, rejected)
}

/// What is still missing before `requirement` is met by `verified` for the change that
/// `review` describes. Empty when the change may be applied.
///
/// A change that needs approvals must be committed (approvals bind commits), its commits
/// signed when the platform asks for it, and approved by people who did not write it.
pub fn unmet(requirement: &Requirement, verified: &[Verified], review: &Review) -> Vec<String> {
    let mut missing = Vec::new();
    // With signed commits required, everything applied is signed commits, whether or not
    // the change needs approvals.
    let must_be_committed = requirement.approvals > 0 || review.signed_commits_required;
    if !must_be_committed {
        return missing;
    }
    if review.target.is_none() {
        missing.push(
            "the estate has no commit: commit it first; approvals bind the commits of a change"
                .to_string(),
        );
    }
    if !review.uncommitted.is_empty() {
        let shown: Vec<&str> = review
            .uncommitted
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        let more = review.uncommitted.len().saturating_sub(shown.len());
        missing.push(format!(
            "the estate has uncommitted changes outside approvals/ ({}{}): commit them; approvals bind commits, not a work tree",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    for c in &review.unsigned_commits {
        missing.push(format!(
            "commit {c} carries no good SSH signature by a Team key of the reviewed state (spec.changes.requireSignedCommits)"
        ));
    }
    if requirement.approvals == 0 {
        return missing;
    }
    let authors = review.author_people();
    let counted: Vec<&Verified> = verified
        .iter()
        .filter(|v| !authors.contains(v.by.as_str()))
        .collect();
    for v in verified.iter().filter(|v| authors.contains(v.by.as_str())) {
        missing.push(format!(
            "{} wrote this change; their own approval does not count",
            v.by
        ));
    }
    let have = u32::try_from(counted.len()).unwrap_or(u32::MAX);
    if have < requirement.approvals {
        missing.push(format!(
            "needs {} approval(s) from distinct people and keys, none of them an author of the change, has {have}",
            requirement.approvals
        ));
    }
    for role in &requirement.roles {
        if !counted.iter().any(|v| v.roles.contains(role)) {
            missing.push(format!("needs an approval from a {role}"));
        }
    }
    // An author's approval is only worth naming when the others fall short.
    if missing.iter().all(|m| m.ends_with("does not count")) {
        missing.clear();
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Author, Review};

    fn v(by: &str, roles: &[Role]) -> Verified {
        Verified {
            by: by.into(),
            roles: roles.to_vec(),
            key: format!("SHA256:{by}"),
        }
    }

    /// A committed change written by `authors`.
    fn review(authors: &[&str]) -> Review {
        let mut r = Review::detached("care", Vec::new());
        r.target = Some("a".repeat(40));
        r.authors = authors
            .iter()
            .map(|a| Author {
                person: Some(a.to_string()),
                identity: format!("{a} <{a}@care.example>"),
                commits: vec!["aaaaaaaaaaaa".into()],
            })
            .collect();
        r
    }

    #[test]
    fn tier1_needs_two_distinct_non_authors_one_platform_ops() {
        let req = Requirement {
            approvals: 2,
            roles: vec![Role::PlatformOps],
            reasons: vec![],
        };
        let alice_bob = [v("alice", &[Role::PlatformOps]), v("bob", &[Role::Dba])];
        assert!(unmet(&req, &alice_bob, &review(&["erin"])).is_empty());
        // An author's approval does not count, whoever runs the command.
        let m = unmet(&req, &alice_bob, &review(&["bob"]));
        assert!(
            m.iter().any(|m| m.contains("bob wrote this change")),
            "{m:?}"
        );
        // Every author of the change is excluded, not only one.
        assert!(!unmet(&req, &alice_bob, &review(&["erin", "alice"])).is_empty());
        // Two approvals, neither platform-ops.
        let neither = [
            v("carol", &[Role::SecurityReviewer]),
            v("bob", &[Role::Dba]),
        ];
        assert!(!unmet(&req, &neither, &review(&["erin"])).is_empty());
        let widening = Requirement {
            approvals: 2,
            roles: vec![Role::PlatformOps, Role::SecurityReviewer],
            reasons: vec![],
        };
        assert!(!unmet(&widening, &alice_bob, &review(&["erin"])).is_empty());
        let alice_carol = [
            v("alice", &[Role::PlatformOps]),
            v("carol", &[Role::SecurityReviewer]),
        ];
        assert!(unmet(&widening, &alice_carol, &review(&["erin"])).is_empty());
        assert!(unmet(&Requirement::default(), &[], &review(&["erin"])).is_empty());
    }

    #[test]
    fn a_change_that_needs_approvals_must_be_committed_and_signed_when_asked() {
        let req = Requirement {
            approvals: 1,
            roles: vec![],
            reasons: vec![],
        };
        let alice = [v("alice", &[Role::PlatformOps])];
        let mut dirty = review(&["erin"]);
        dirty.uncommitted = vec!["teams/platform.yaml".into()];
        let m = unmet(&req, &alice, &dirty);
        assert!(
            m.iter()
                .any(|m| m.contains("uncommitted") && m.contains("teams/platform.yaml")),
            "{m:?}"
        );
        let mut uncommitted = review(&["erin"]);
        uncommitted.target = None;
        assert!(!unmet(&req, &alice, &uncommitted).is_empty());
        let mut unsigned = review(&["erin"]);
        unsigned.unsigned_commits = vec!["0123456789ab".into()];
        let m = unmet(&req, &alice, &unsigned);
        assert!(m.iter().any(|m| m.contains("0123456789ab")), "{m:?}");
        // None of this matters to a change that needs no approval, unless the platform
        // requires signed commits: then everything applied is signed commits.
        assert!(unmet(&Requirement::default(), &[], &dirty).is_empty());
        let mut signed = dirty.clone();
        signed.signed_commits_required = true;
        assert!(!unmet(&Requirement::default(), &[], &signed).is_empty());
    }
}
