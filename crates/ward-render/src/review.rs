//! What a change is reviewed against: the reviewed state it starts from (the estate commit
//! the deploy tree was written from), the commit it brings the tree to, who wrote it, and
//! the `Team` whose keys approve it. The change under review never supplies those keys.
//!
//! Git facts come from `ward_estate::git::History`; this module turns them into people.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use ward_estate::git::{ChangeCommit, GitIdentity, History};
use ward_estate::model::{Document, TeamSpec};
use ward_estate::{Estate, Spanned};

/// Why a change's review could not be established.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(
        "the deploy tree was written from estate commit {0}, which the estate repository does not have"
    )]
    UnknownBase(String),
    #[error(
        "the deploy tree was written from estate commit {base}, which is not an ancestor of the estate's commit {target}: the estate's history was rewritten or another branch is checked out"
    )]
    NotAncestor { base: String, target: String },
    #[error("the estate as of its reviewed commit {commit} does not load: {detail}")]
    BaseUnloadable { commit: String, detail: String },
    #[error(transparent)]
    Git(#[from] ward_estate::git::GitError),
    #[error("cannot prepare a temporary folder: {0}")]
    Temp(std::io::Error),
}

/// Whose keys approve the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// The Team as it stood at the commit the deploy tree was written from.
    Reviewed,
    /// The deploy tree records no estate commit: its first change is approved with the
    /// Team of the change itself (trust on first use), and says so.
    FirstUse,
}

/// A person (or an unknown identity) who wrote part of the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    /// The Team person the identity maps to; `None` when no person has that name or email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// `name <email>` as Git recorded it, or the signer's principal.
    pub identity: String,
    /// The commits (short ids) this identity authored, committed or signed.
    pub commits: Vec<String>,
}

/// The review of one change: its base and target, its authors, and the approving Team.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// The Platform's name: a change-id belongs to one estate.
    pub estate: String,
    pub trust: Trust,
    /// The reviewed estate commit the change starts from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The newest estate commit outside `approvals/`: what the change brings the tree to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Files that differ from the target commit outside `approvals/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uncommitted: Vec<String>,
    pub authors: Vec<Author>,
    /// Whether the platform requires every commit to be signed by a Team key.
    pub signed_commits_required: bool,
    /// Commits that carry no good signature by a Team key of the reviewed state.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsigned_commits: Vec<String>,
    /// People, roles and keys that the change adds, removes or alters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people_changes: Vec<String>,
    /// The Teams whose keys verify approvals: the base's, or the change's own at first use.
    #[serde(skip)]
    pub approvers: Vec<Document<TeamSpec>>,
}

impl Review {
    /// A review with no Git behind it (tests, an estate held in memory): first use, no
    /// authors, approved by `teams`.
    pub fn detached(estate: &str, teams: Vec<Document<TeamSpec>>) -> Review {
        Review {
            estate: estate.to_string(),
            trust: Trust::FirstUse,
            base: None,
            target: None,
            uncommitted: Vec::new(),
            authors: Vec::new(),
            signed_commits_required: false,
            unsigned_commits: Vec::new(),
            people_changes: Vec::new(),
            approvers: teams,
        }
    }

    /// Reviews the change from `base` (the estate commit the deploy tree records, if any)
    /// to the estate as it is now.
    pub fn gather(estate: &Estate, base: Option<&str>) -> Result<Review, ReviewError> {
        let history = History::new(&estate.root);
        let platform = estate.platform.as_ref();
        let name = platform.map_or_else(String::new, |p| p.metadata.name.value.clone());
        let mut signed_commits_required =
            platform.is_some_and(|p| p.spec.changes.require_signed_commits);
        let target = history.estate_commit();
        let uncommitted = if target.is_some() {
            history.uncommitted()?
        } else {
            Vec::new()
        };
        let base = base.map(str::to_string);
        let approvers = match &base {
            Some(b) => {
                if !history.has_commit(b) {
                    return Err(ReviewError::UnknownBase(b.clone()));
                }
                if let Some(t) = &target
                    && !history.is_ancestor(b, t)
                {
                    return Err(ReviewError::NotAncestor {
                        base: b.clone(),
                        target: t.clone(),
                    });
                }
                // The estate on disk is the reviewed state when nothing was committed or
                // changed since and no file the loader reads escapes Git: its Teams serve
                // as they are, without loading the estate again from Git.
                let unchanged = target.as_deref() == Some(b.as_str())
                    && uncommitted.is_empty()
                    && history.ignored_yaml()?.is_empty();
                if unchanged {
                    estate.teams.clone()
                } else {
                    let (teams, signed) = reviewed_state(&history, b)?;
                    // A change cannot switch the rule off for itself.
                    signed_commits_required |= signed;
                    teams
                }
            }
            None => estate.teams.clone(),
        };
        let trust = if base.is_some() {
            Trust::Reviewed
        } else {
            Trust::FirstUse
        };
        let mut review = Review {
            estate: name,
            trust,
            base: base.clone(),
            target: target.clone(),
            uncommitted,
            authors: Vec::new(),
            signed_commits_required,
            unsigned_commits: Vec::new(),
            people_changes: if base.is_some() {
                people_changes(&approvers, &estate.teams)
            } else {
                Vec::new()
            },
            approvers,
        };
        let Some(target) = target else {
            return Ok(review);
        };
        if base.as_deref() == Some(target.as_str()) {
            return Ok(review);
        }
        // The allowed-signers file exists only while signatures are checked.
        let signers = if signed_commits_required {
            let file = tempfile::NamedTempFile::new().map_err(ReviewError::Temp)?;
            std::fs::write(file.path(), allowed_signers(&review.approvers))
                .map_err(ReviewError::Temp)?;
            Some(file)
        } else {
            None
        };
        let mut commits = history.commits(
            base.as_deref(),
            &target,
            signers.as_ref().map(tempfile::NamedTempFile::path),
        )?;
        if base.is_none() {
            // No reviewed state to count from: the change is the commit being applied.
            commits.truncate(1);
        }
        let everyone: Vec<&Document<TeamSpec>> =
            review.approvers.iter().chain(&estate.teams).collect();
        review.authors = authors(&commits, &everyone, signed_commits_required);
        if signed_commits_required {
            review.unsigned_commits = commits
                .iter()
                .filter(|c| c.signer.is_none())
                .map(|c| short(&c.id).to_string())
                .collect();
        }
        Ok(review)
    }

    /// The Team people who wrote the change: none of them may approve it.
    pub fn author_people(&self) -> BTreeSet<&str> {
        self.authors
            .iter()
            .filter_map(|a| a.person.as_deref())
            .collect()
    }

    /// Whether `name` is a person of the approving Teams.
    pub fn knows(&self, name: &str) -> bool {
        self.approvers
            .iter()
            .flat_map(|t| &t.spec.people)
            .any(|p| p.name.value == name)
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The Teams of the estate as committed at `commit`, loaded like any estate, and whether
/// its platform required signed commits.
fn reviewed_state(
    history: &History,
    commit: &str,
) -> Result<(Vec<Document<TeamSpec>>, bool), ReviewError> {
    let dir = tempfile::tempdir().map_err(ReviewError::Temp)?;
    let root = dir.path().join("estate");
    history.export(commit, &root)?;
    match ward_estate::load(&root) {
        Ok(e) => {
            let signed = e
                .platform
                .as_ref()
                .is_some_and(|p| p.spec.changes.require_signed_commits);
            Ok((e.teams, signed))
        }
        Err(e) => {
            let detail = match &e {
                ward_estate::LoadError::Invalid { diagnostics, .. } => diagnostics
                    .first()
                    .map_or_else(|| e.to_string(), |d| d.message.clone()),
                other => other.to_string(),
            };
            Err(ReviewError::BaseUnloadable {
                commit: commit.to_string(),
                detail,
            })
        }
    }
}

/// An OpenSSH allowed-signers file (`ssh-keygen(1)`, ALLOWED SIGNERS): each Team person's
/// SSH key may sign commits (namespace `git`) as that person.
pub fn allowed_signers(teams: &[Document<TeamSpec>]) -> String {
    let mut out = String::new();
    for p in teams.iter().flat_map(|t| &t.spec.people) {
        if let Some(key) = &p.ssh_key {
            // Principals are Team names (validated names: no spaces or quotes).
            out.push_str(&format!(
                "{} namespaces=\"git\" {}\n",
                p.name.value,
                key.value.trim()
            ));
        }
    }
    out
}

/// Maps each identity of `commits` to a Team person. When signatures are required, the
/// signer is the author and the only one (the Git identities are self-asserted; naming
/// someone else there must not stop them from approving); a commit without a good
/// signature is refused elsewhere. Otherwise author and committer both count, matched by
/// email (case insensitive), then by name.
fn authors(commits: &[ChangeCommit], teams: &[&Document<TeamSpec>], signed: bool) -> Vec<Author> {
    let people: Vec<_> = teams.iter().flat_map(|t| &t.spec.people).collect();
    let person_of = |id: &GitIdentity| {
        people
            .iter()
            .find(|p| {
                p.email
                    .as_ref()
                    .is_some_and(|e| e.value.eq_ignore_ascii_case(&id.email))
            })
            .or_else(|| people.iter().find(|p| p.name.value == id.name))
            .map(|p| p.name.value.clone())
    };
    let mut by_identity: BTreeMap<String, (Option<String>, BTreeSet<String>)> = BTreeMap::new();
    for c in commits {
        let id = short(&c.id).to_string();
        let mut note = |identity: String, person: Option<String>| {
            let entry = by_identity
                .entry(identity)
                .or_insert((person, BTreeSet::new()));
            entry.1.insert(id.clone());
        };
        if signed {
            if let Some(signer) = &c.signer {
                note(format!("signer {signer}"), Some(signer.clone()));
            }
            continue;
        }
        for who in [&c.author, &c.committer] {
            note(format!("{} <{}>", who.name, who.email), person_of(who));
        }
    }
    by_identity
        .into_iter()
        .map(|(identity, (person, commits))| Author {
            person,
            identity,
            commits: commits.into_iter().collect(),
        })
        .collect()
}

/// What a change does to people, roles and keys, person by person: each line is a reason
/// for a security reviewer, whose approval is verified with the old keys.
pub fn people_changes(before: &[Document<TeamSpec>], after: &[Document<TeamSpec>]) -> Vec<String> {
    let (old, new) = (facts(before), facts(after));
    let mut out = Vec::new();
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        match (old.get(name), new.get(name)) {
            (None, Some(_)) => out.push(format!("{name} is added")),
            (Some(_), None) => out.push(format!("{name} is removed")),
            (Some(a), Some(b)) => {
                for (field, value) in a {
                    if b.get(field) != Some(value) {
                        // Keys are long: say that they changed, not what they are.
                        out.push(format!("{name}: {field} changes"));
                    }
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// What the Teams say of each team and person that governs who may approve and restore,
/// as comparable text: `team <name>` → its groups; `person <name>` → its team, roles,
/// keys and email (a person listed in two teams has both values joined).
fn facts(teams: &[Document<TeamSpec>]) -> BTreeMap<String, BTreeMap<&'static str, String>> {
    let mut out: BTreeMap<String, BTreeMap<&'static str, String>> = BTreeMap::new();
    let text = |v: &Option<Spanned<String>>| {
        v.as_ref()
            .map_or_else(String::new, |s| s.value.trim().to_string())
    };
    for t in teams {
        let team = &t.metadata.name.value;
        let groups: Vec<String> = t
            .spec
            .groups
            .iter()
            .map(|(role, group)| format!("{role}={}", group.value))
            .collect();
        out.entry(format!("team {team}"))
            .or_default()
            .insert("groups", groups.join(","));
        for p in &t.spec.people {
            let mut roles: Vec<String> = p.roles.iter().map(|r| r.value.to_string()).collect();
            roles.sort();
            let e = out.entry(format!("person {}", p.name.value)).or_default();
            for (field, value) in [
                ("team", team.clone()),
                ("roles", roles.join(",")),
                ("ssh key", text(&p.ssh_key)),
                ("age recipient", text(&p.age_recipient)),
                ("email", text(&p.email)),
            ] {
                let joined = match e.get(field) {
                    Some(old) => format!("{old};{value}"),
                    None => value,
                };
                e.insert(field, joined);
            }
        }
    }
    out
}
