//! Signed approvals: `approvals/<change-id>.yaml` in the estate, each entry an SSH
//! signature (`ssh-keygen -Y sign -n ward-approval`) over the change-id, verified against
//! the public keys of the people in `Team` documents.
//!
//! The signed message is the change-id itself, exactly (no newline), so an approval
//! cannot be moved to another change.

use crate::plan::Requirement;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use ward_estate::Estate;
use ward_estate::model::Role;

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
        .join("approvals")
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

/// Checks each signature against the public key `Team` lists for its signer.
pub fn verify(
    estate: &Estate,
    change_id: &str,
    signed: &[Signed],
) -> (Vec<Verified>, Vec<Rejected>) {
    let mut ok = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = BTreeSet::new();
    for s in signed {
        let reject = |reason: &str| Rejected {
            by: s.by.clone(),
            reason: reason.to_string(),
        };
        let Some(person) = estate
            .teams
            .iter()
            .flat_map(|t| t.spec.people.iter())
            .find(|p| p.name.value == s.by)
        else {
            rejected.push(reject("not a person of any Team"));
            continue;
        };
        let Some(key) = &person.ssh_key else {
            rejected.push(reject("has no `keys.ssh` in Team"));
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
                "signature does not verify for this change with {}'s key: {e}",
                s.by
            )));
            continue;
        }
        if !seen.insert(s.by.clone()) {
            rejected.push(reject("approved twice; counted once"));
            continue;
        }
        ok.push(Verified {
            by: s.by.clone(),
            roles: person.roles.iter().map(|r| r.value).collect(),
        });
    }
    (ok, rejected)
}

/// What is still missing for `requirement`, given verified approvals and the author.
/// Empty when the change may be applied.
pub fn unmet(requirement: &Requirement, verified: &[Verified], author: &str) -> Vec<String> {
    let counted: Vec<&Verified> = verified.iter().filter(|v| v.by != author).collect();
    let mut missing = Vec::new();
    if verified.iter().any(|v| v.by == author) && requirement.approvals > 0 {
        missing.push(format!(
            "{author} is the author; their own approval does not count"
        ));
    }
    let have = u32::try_from(counted.len()).unwrap_or(u32::MAX);
    if have < requirement.approvals {
        missing.push(format!(
            "needs {} approval(s) from distinct people other than the author, has {have}",
            requirement.approvals
        ));
    }
    for role in &requirement.roles {
        if !counted.iter().any(|v| v.roles.contains(role)) {
            missing.push(format!("needs an approval from a {role}"));
        }
    }
    if missing.len() == 1 && missing[0].ends_with("does not count") {
        missing.clear();
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(by: &str, roles: &[Role]) -> Verified {
        Verified {
            by: by.into(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn tier1_needs_two_distinct_non_authors_one_platform_ops() {
        let req = Requirement {
            approvals: 2,
            roles: vec![Role::PlatformOps],
            reasons: vec![],
        };
        assert!(
            unmet(
                &req,
                &[v("alice", &[Role::PlatformOps]), v("bob", &[Role::Dba])],
                "erin"
            )
            .is_empty()
        );
        // The author's own approval does not count.
        assert!(
            !unmet(
                &req,
                &[v("alice", &[Role::PlatformOps]), v("bob", &[Role::Dba])],
                "bob"
            )
            .is_empty()
        );
        // Two approvals, neither platform-ops.
        assert!(
            !unmet(
                &req,
                &[
                    v("carol", &[Role::SecurityReviewer]),
                    v("bob", &[Role::Dba])
                ],
                "erin"
            )
            .is_empty()
        );
        let widening = Requirement {
            approvals: 2,
            roles: vec![Role::PlatformOps, Role::SecurityReviewer],
            reasons: vec![],
        };
        assert!(
            !unmet(
                &widening,
                &[v("alice", &[Role::PlatformOps]), v("bob", &[Role::Dba])],
                "erin"
            )
            .is_empty()
        );
        assert!(
            unmet(
                &widening,
                &[
                    v("alice", &[Role::PlatformOps]),
                    v("carol", &[Role::SecurityReviewer])
                ],
                "erin"
            )
            .is_empty()
        );
        assert!(unmet(&Requirement::default(), &[], "erin").is_empty());
    }
}
