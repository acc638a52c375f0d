//! The plan: what applying a freshly rendered tree would change in the deploy tree that is
//! there now, object by object and field by field, with the risk and the approvals needed.
//!
//! The change-id is the SHA-256 of a length-prefixed, domain-separated statement of the
//! change: the estate, the deploy target, the reviewed base commit, the target commit and
//! every changed path with the bytes before and after. An approval signed for one change
//! can be neither reused for another nor replayed when the same transition recurs.

use crate::review::Review;
use crate::tree::{Tree, TreeRecord, git_blobs, git_ls_tree};
use crate::{RenderError, Target, waivers, yaml};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use ward_estate::model::{Role, Stage};

/// The deploy tree as it is now: file path → text.
pub type Existing = BTreeMap<String, String>;

/// Reads the files of a deploy tree folder that its record ([`TreeRecord`]) lists: files
/// Ward did not write never show up in a plan, not even as removals. No record (or no
/// folder): an empty tree. A listed file that is gone is left out (the plan adds it back).
pub fn read_existing(root: &Path) -> Result<Existing, RenderError> {
    match TreeRecord::read(root)? {
        Some(record) => read_recorded(root, &record),
        None => Ok(Existing::new()),
    }
}

/// Reads the files `record` lists under `root` (a listed file that is gone is skipped), for
/// a caller that has read the record already.
pub fn read_recorded(root: &Path, record: &TreeRecord) -> Result<Existing, RenderError> {
    let paths: Vec<String> = record.files.keys().cloned().collect();
    let read = crate::tree::parallel_map(paths, |rel| {
        let path = root.join(&rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some((rel, text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RenderError::Io { path, source }),
        }
    });
    let mut out = Existing::new();
    for file in read {
        if let Some((rel, text)) = file? {
            out.insert(rel, text);
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

/// How much could go wrong, from the tier and stage of what the object serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn of(tier: u8, stage: Stage) -> Risk {
        match (tier, stage) {
            (1, Stage::Production) => Risk::High,
            (1, _) | (2, Stage::Production) => Risk::Medium,
            _ => Risk::Low,
        }
    }
}

/// One field that differs: a dotted path with `[i]` for list items.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// One object added, changed or removed.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub path: String,
    pub action: Action,
    pub kind: String,
    pub name: String,
    /// `workload/environment` addresses, or the folder when the object is gone.
    pub owners: crate::Owners,
    pub tier: u8,
    pub stage: Stage,
    pub risk: Risk,
    /// Set when the change opens network paths, grants permissions or widens a waiver:
    /// `network-policy`, `rbac` or `waiver`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widens: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// The approvals a plan needs before `ward apply` writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// How many distinct people, none of them the author.
    pub approvals: u32,
    /// Roles that must each be held by at least one approver.
    pub roles: Vec<Role>,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub change_id: String,
    pub changes: Vec<Change>,
    /// What the change does to people, roles and keys (from the [`Review`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people_changes: Vec<String>,
    pub unchanged: usize,
    pub requirement: Requirement,
}

impl Plan {
    /// Whether the change leaves the deploy tree and the Teams as they are.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.people_changes.is_empty()
    }

    /// Changes grouped by the workload environment they serve.
    pub fn by_environment(&self) -> BTreeMap<String, Vec<&Change>> {
        let mut out: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
        for c in &self.changes {
            for o in c.owners.iter() {
                out.entry(o.clone()).or_default().push(c);
            }
        }
        out
    }

    pub fn highest_risk(&self) -> Option<Risk> {
        self.changes.iter().map(|c| c.risk).max()
    }
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The statement a change-id is the hash of: a domain tag, then named fields, each name
/// and value prefixed with its length, so no two different statements share bytes.
pub struct Statement(Sha256);

impl Statement {
    /// The domain of change-ids; a new statement layout gets a new tag.
    pub const DOMAIN: &'static str = "ward.dev/change-id/v2";

    pub fn new(review: &Review, target: Target) -> Statement {
        let mut s = Statement(Sha256::new());
        s.field("domain", Self::DOMAIN);
        s.field("estate", &review.estate);
        s.field(
            "deploy-target",
            match target {
                Target::Kubernetes => "kubernetes",
                Target::Compose => "compose",
            },
        );
        s.field("base", review.base.as_deref().unwrap_or(""));
        s.field("target", review.target.as_deref().unwrap_or(""));
        // A work tree is not a commit: its change-id differs from any committed one.
        s.field(
            "uncommitted",
            if review.uncommitted.is_empty() {
                "no"
            } else {
                "yes"
            },
        );
        s
    }

    pub fn field(&mut self, name: &str, value: &str) {
        for part in [name, value] {
            self.0.update((part.len() as u64).to_be_bytes());
            self.0.update(part.as_bytes());
        }
    }

    /// One file of the plan: its path and the SHA-256 of its bytes before and after
    /// (empty when absent).
    fn file(&mut self, path: &str, before: Option<&str>, after: Option<&str>) {
        self.field("path", path);
        self.field("before", &before.map_or_else(String::new, sha));
        self.field("after", &after.map_or_else(String::new, sha));
    }

    /// The change-id: the full SHA-256, in hex.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Compares a rendered tree with the tree that is there now, for the change that `review`
/// describes (its base, target and authors) and the deploy `target`.
pub fn plan(
    new: &Tree,
    old: &Existing,
    review: &Review,
    target: Target,
) -> Result<Plan, RenderError> {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let mut digest = Statement::new(review, target);
    for (path, file) in &new.files {
        let before = old.get(path);
        if before.is_some_and(|b| b == &file.text) {
            unchanged += usize::from(file.object.is_some());
            continue;
        }
        digest.file(path, before.map(String::as_str), Some(&file.text));
        let Some(info) = &file.object else {
            continue; // a kustomization: part of the change-id, not of the review
        };
        let after = if path.ends_with(".yaml") {
            file.parsed()
        } else {
            None
        };
        let (action, fields) = match (before, after) {
            (None, _) => (Action::Add, Vec::new()),
            // A file that is not an object (odoo.conf, SQL): the lines that differ.
            (Some(text), None) => (Action::Change, line_diff(text, &file.text)),
            (Some(text), Some(after)) => {
                let old_value = yaml::from_yaml(path, text)
                    .ok()
                    .and_then(|mut d| (!d.is_empty()).then(|| d.swap_remove(0)))
                    .unwrap_or(Value::Null);
                let mut fields = Vec::new();
                diff("", &old_value, &after, &mut fields);
                if fields.is_empty() {
                    // Same object, other bytes (formatting): rewritten, nothing to review.
                    unchanged += 1;
                    continue;
                }
                (Action::Change, fields)
            }
        };
        let widens = widening(&info.kind, &info.name, action, &fields);
        // A change is judged at the stricter of what it leaves and what it makes: lowering
        // a tier is itself a tier-1 change.
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
        let risk_before = if action == Action::Change {
            namespace_labels(old, folder).map(|(tier, stage)| Risk::of(tier, stage))
        } else {
            None
        };
        let risk = Risk::of(info.tier, info.stage).max(risk_before.unwrap_or(Risk::Low));
        changes.push(Change {
            path: path.clone(),
            action,
            kind: info.kind.clone(),
            name: info.name.clone(),
            owners: info.owners.clone(),
            tier: info.tier,
            stage: info.stage,
            risk,
            widens,
            fields,
        });
    }
    for (path, text) in old {
        if new.files.contains_key(path) {
            continue;
        }
        digest.file(path, Some(text), None);
        let Some(value) = yaml::from_yaml(path, text)
            .ok()
            .and_then(|mut d| (!d.is_empty()).then(|| d.swap_remove(0)))
        else {
            continue;
        };
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        if kind == "Kustomization" || kind.is_empty() {
            continue;
        }
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
        // What a removed object served is read from its namespace's labels in the old
        // tree; when unknown, it is treated as the strictest.
        let (tier, stage) = namespace_labels(old, folder).unwrap_or((1, Stage::Production));
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let widens = widening(&kind, &name, Action::Remove, &[]);
        changes.push(Change {
            path: path.clone(),
            action: Action::Remove,
            kind,
            name,
            owners: vec![folder.to_string()].into(),
            tier,
            stage,
            risk: Risk::of(tier, stage),
            widens,
            fields: Vec::new(),
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let change_id = digest.finish();
    let requirement = requirement(&changes, &review.people_changes);
    Ok(Plan {
        change_id,
        changes,
        people_changes: review.people_changes.clone(),
        unchanged,
        requirement,
    })
}

fn namespace_labels(old: &Existing, folder: &str) -> Option<(u8, Stage)> {
    let ns = folder.rsplit_once('/').map_or(folder, |(_, n)| n);
    let text = old.get(&format!("{folder}/namespace-{ns}.yaml"))?;
    let value = yaml::from_yaml(folder, text).ok()?.into_iter().next()?;
    let labels = &value["metadata"]["labels"];
    let tier = labels["ward.dev/tier"].as_str()?.parse().ok()?;
    let stage = match labels["ward.dev/stage"].as_str()? {
        "production" => Stage::Production,
        "test" => Stage::Test,
        _ => Stage::Development,
    };
    Some((tier, stage))
}

/// Whether a change opens a network path, grants a permission or waives a control (and
/// so needs a security reviewer). Removing a deny widens; removing an allow or a waiver
/// narrows.
fn widening(
    kind: &str,
    name: &str,
    action: Action,
    fields: &[FieldChange],
) -> Option<&'static str> {
    let grows = || fields.iter().any(|f| f.after.is_some());
    match (kind, action) {
        ("NetworkPolicy", Action::Remove) => (name == "default-deny").then_some("network-policy"),
        ("NetworkPolicy", Action::Add) => (name != "default-deny").then_some("network-policy"),
        ("NetworkPolicy", Action::Change) => grows().then_some("network-policy"),
        ("Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding", Action::Add) => {
            Some("rbac")
        }
        ("Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding", Action::Change) => {
            grows().then_some("rbac")
        }
        ("AppProject", Action::Change) => grows().then_some("rbac"),
        // Who may sign an environment's snapshots: a key added, replaced or removed decides
        // which backups restores and drills trust.
        ("CronJob", Action::Change) => fields
            .iter()
            .any(|f| {
                f.field
                    .contains(crate::kubernetes::BACKUP_SIGNING_KEYS_ANNOTATION)
            })
            .then_some("backup-signing-keys"),
        // A namespace's own secret store, whose policy annotation lists the keys the
        // namespace may fetch: a new store or a changed list is an access grant.
        ("SecretStore", Action::Add) => Some("rbac"),
        ("SecretStore", Action::Change) => grows().then_some("rbac"),
        // A namespace's first waiver; a removed waivers ConfigMap only narrows.
        ("ConfigMap", Action::Add) => (name == waivers::CONFIG_MAP).then_some("waiver"),
        ("ConfigMap", Action::Change) => (name == waivers::CONFIG_MAP
            && fields
                .iter()
                .any(|f| waivers::widens(&f.field, f.before.as_ref(), f.after.as_ref())))
        .then_some("waiver"),
        _ => None,
    }
}

/// A tier-1 production change needs two approvals from two distinct people, none of them
/// an author, one of them `platform-ops`; widening network policy, RBAC or a waiver, or
/// changing people, roles or keys, also needs a `security-reviewer`.
pub fn requirement(changes: &[Change], people_changes: &[String]) -> Requirement {
    let mut r = Requirement::default();
    let critical: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.risk == Risk::High)
        .flat_map(|c| c.owners.iter().map(String::as_str))
        .collect();
    if !critical.is_empty() {
        r.approvals = 2;
        r.roles.push(Role::PlatformOps);
        r.reasons.push(format!(
            "tier-1 production change ({}): two approvals from distinct people and keys, none of them an author, one of them platform-ops",
            critical.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let widening: BTreeSet<&str> = changes
        .iter()
        .filter_map(|c| c.widens.map(|_| c.path.as_str()))
        .collect();
    if !widening.is_empty() {
        r.approvals = r.approvals.max(1);
        r.roles.push(Role::SecurityReviewer);
        r.reasons.push(format!(
            "widens network policy, RBAC or a waiver, or changes the pinned backup signing keys ({} object(s)): a security-reviewer approves",
            widening.len()
        ));
    }
    if !people_changes.is_empty() {
        r.approvals = r.approvals.max(1);
        if !r.roles.contains(&Role::SecurityReviewer) {
            r.roles.push(Role::SecurityReviewer);
        }
        r.reasons.push(format!(
            "changes people, roles or keys ({}): a security-reviewer approves, verified with the keys of the reviewed state",
            people_changes.join("; ")
        ));
    }
    r
}

/// Lines removed and added between two texts (by content, not position).
fn line_diff(before: &str, after: &str) -> Vec<FieldChange> {
    let old: BTreeSet<&str> = before.lines().collect();
    let new: BTreeSet<&str> = after.lines().collect();
    let mut out = Vec::new();
    for (i, line) in before.lines().enumerate() {
        if !new.contains(line) {
            out.push(FieldChange {
                field: format!("line {}", i + 1),
                before: Some(Value::from(line)),
                after: None,
            });
        }
    }
    for (i, line) in after.lines().enumerate() {
        if !old.contains(line) {
            out.push(FieldChange {
                field: format!("line {}", i + 1),
                before: None,
                after: Some(Value::from(line)),
            });
        }
    }
    out
}

/// Field-level differences between two JSON values.
pub fn diff(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (x, y) => out.push(FieldChange {
                        field: p,
                        before: x.cloned(),
                        after: y.cloned(),
                    }),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            field: path.to_string(),
            before: Some(a.clone()),
            after: Some(b.clone()),
        }),
    }
}

/// Reads the deploy tree as committed at `rev` in the Git repository `repo`: the files
/// the record committed there lists (none without a record), without touching the work
/// tree or the index.
pub fn read_git(repo: &Path, rev: &str) -> Result<Existing, RenderError> {
    match TreeRecord::read_git(repo, rev)? {
        Some(record) => read_recorded_git(repo, rev, &record),
        None => Ok(Existing::new()),
    }
}

/// Reads the files `record` lists as committed at `rev` of `repo`, for a caller that has
/// read the record already.
pub fn read_recorded_git(
    repo: &Path,
    rev: &str,
    record: &TreeRecord,
) -> Result<Existing, RenderError> {
    let entries: Vec<(String, String)> = git_ls_tree(repo, rev, None)?
        .into_iter()
        .filter(|(path, _)| record.files.contains_key(path))
        .collect();
    let objects: Vec<String> = entries.iter().map(|(_, o)| o.clone()).collect();
    let blobs = git_blobs(repo, &objects)?;
    Ok(entries
        .into_iter()
        .zip(blobs)
        .map(|((path, _), body)| (path, String::from_utf8_lossy(&body).into_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_diff_names_the_paths() {
        let mut out = Vec::new();
        diff(
            "",
            &json!({"spec": {"replicas": 2, "list": [1, 2], "gone": true}}),
            &json!({"spec": {"replicas": 3, "list": [1, 5], "new": "x"}}),
            &mut out,
        );
        let fields: Vec<&str> = out.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.gone", "spec.list[1]", "spec.new", "spec.replicas"]
        );
        assert_eq!(out[0].after, None);
        assert_eq!(out[2].before, None);
    }

    #[test]
    fn risk_follows_tier_and_stage() {
        assert_eq!(Risk::of(1, Stage::Production), Risk::High);
        assert_eq!(Risk::of(2, Stage::Production), Risk::Medium);
        assert_eq!(Risk::of(1, Stage::Test), Risk::Medium);
        assert_eq!(Risk::of(3, Stage::Development), Risk::Low);
    }

    #[test]
    fn widening_is_detected() {
        let add = FieldChange {
            field: "spec.egress[2]".into(),
            before: None,
            after: Some(json!({})),
        };
        let drop = FieldChange {
            field: "spec.egress[2]".into(),
            before: Some(json!({})),
            after: None,
        };
        assert_eq!(
            widening("NetworkPolicy", "allow-x", Action::Change, &[add]),
            Some("network-policy")
        );
        assert_eq!(
            widening("NetworkPolicy", "allow-x", Action::Change, &[drop]),
            None
        );
        assert_eq!(
            widening("NetworkPolicy", "default-deny", Action::Remove, &[]),
            Some("network-policy")
        );
        assert_eq!(
            widening("NetworkPolicy", "allow-x", Action::Remove, &[]),
            None
        );
        assert_eq!(
            widening("RoleBinding", "ward-dba", Action::Add, &[]),
            Some("rbac")
        );
        assert_eq!(
            widening("SecretStore", "hospital-vault", Action::Add, &[]),
            Some("rbac")
        );
        assert_eq!(
            widening("SecretStore", "hospital-vault", Action::Remove, &[]),
            None
        );
        assert_eq!(widening("Deployment", "odoo-web", Action::Add, &[]), None);
    }

    /// A tree holding one namespace's waivers `ConfigMap` (tier 3, development, so that
    /// only widening asks for approvals), one waiver per `(name, workload, expires)`.
    fn waivers_tree(waivers: &[(&str, &str, &str)]) -> Tree {
        let mut data = serde_json::Map::new();
        for (name, workload, expires) in waivers {
            data.insert(format!("{name}.control"), json!("WARD-RS-001"));
            data.insert(format!("{name}.workload"), json!(workload));
            data.insert(format!("{name}.environment"), json!("sandbox"));
            data.insert(format!("{name}.expires"), json!(expires));
        }
        let objects = if waivers.is_empty() {
            Vec::new()
        } else {
            vec![crate::Object {
                cluster: "c".into(),
                folder: "ns".into(),
                kind: "ConfigMap".into(),
                name: waivers::CONFIG_MAP.into(),
                owners: vec!["sandbox/sandbox".to_string()].into(),
                tier: 3,
                stage: Stage::Development,
                body: json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": waivers::CONFIG_MAP, "namespace": "ns"},
                    "data": data,
                }),
            }]
        };
        match Tree::from_objects(objects, false) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn waiver_plan(before: &[(&str, &str, &str)], after: &[(&str, &str, &str)]) -> Plan {
        let old: Existing = waivers_tree(before)
            .files
            .into_iter()
            .map(|(path, f)| (path, f.text))
            .collect();
        let review = Review::detached("test", Vec::new());
        match plan(&waivers_tree(after), &old, &review, Target::Kubernetes) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// A tier-3 backup CronJob pinning `keys` (tier 3, so only the key change asks).
    fn backup_job_tree(keys: &str) -> Tree {
        let object = crate::Object {
            cluster: "c".into(),
            folder: "ns".into(),
            kind: "CronJob".into(),
            name: "ward-backup-sandbox-sandbox".into(),
            owners: vec!["sandbox/sandbox".to_string()].into(),
            tier: 3,
            stage: Stage::Development,
            body: json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {
                    "name": "ward-backup-sandbox-sandbox", "namespace": "ns",
                    "annotations": {crate::kubernetes::BACKUP_SIGNING_KEYS_ANNOTATION: keys},
                },
                "spec": {"schedule": "0 * * * *"},
            }),
        };
        match Tree::from_objects(vec![object], false) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_change_to_the_pinned_backup_signing_keys_needs_a_security_reviewer() {
        let old: Existing = backup_job_tree("ed25519:old")
            .files
            .into_iter()
            .map(|(path, f)| (path, f.text))
            .collect();
        let review = Review::detached("test", Vec::new());
        for keys in ["ed25519:new", "ed25519:new,ed25519:old", ""] {
            let p = match plan(&backup_job_tree(keys), &old, &review, Target::Kubernetes) {
                Ok(p) => p,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(p.changes.len(), 1, "{keys}");
            assert_eq!(p.changes[0].widens, Some("backup-signing-keys"), "{keys}");
            assert_eq!(p.requirement.roles, [Role::SecurityReviewer], "{keys}");
        }
        // The same keys: no change, nothing to approve.
        let p = match plan(
            &backup_job_tree("ed25519:old"),
            &old,
            &review,
            Target::Kubernetes,
        ) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(p.changes.is_empty() && p.requirement.roles.is_empty());
    }

    #[test]
    fn a_waiver_added_extended_or_widened_needs_a_security_reviewer() {
        let a = ("a", "sandbox", "2027-01-31");
        let b = ("b", "sandbox", "2027-01-31");
        let reviewer = |p: &Plan| p.requirement.roles == [Role::SecurityReviewer];
        let widens = |p: &Plan| {
            p.changes.iter().any(|c| c.widens == Some("waiver"))
                && p.changes.iter().all(|c| c.risk == Risk::Low)
        };
        // The namespace's first waiver: the ConfigMap is added.
        let p = waiver_plan(&[], &[a]);
        assert_eq!(p.changes[0].action, Action::Add);
        assert!(widens(&p) && reviewer(&p), "{:?}", p.changes);
        assert!(
            p.requirement.reasons[0].contains("widens network policy, RBAC or a waiver"),
            "{:?}",
            p.requirement.reasons
        );
        // Another waiver beside it.
        let p = waiver_plan(&[a], &[a, b]);
        assert_eq!(p.changes[0].action, Action::Change);
        assert!(widens(&p) && reviewer(&p));
        // A later expiry.
        let p = waiver_plan(&[a], &[("a", "sandbox", "2027-03-31")]);
        assert!(widens(&p) && reviewer(&p));
        // A scope from one workload to every workload, or to another workload.
        let p = waiver_plan(&[a], &[("a", waivers::EVERY, "2027-01-31")]);
        assert!(widens(&p) && reviewer(&p));
        let p = waiver_plan(&[a], &[("a", "portal", "2027-01-31")]);
        assert!(widens(&p) && reviewer(&p));
    }

    /// A deployment in namespace `ns` of cluster `c`, for an environment of `tier` in
    /// production, with its namespace labelled as the renderer labels it.
    fn tiered_tree(tier: u8, replicas: u32) -> Tree {
        let object = |kind: &str, name: &str, body: serde_json::Value| crate::Object {
            cluster: "c".into(),
            folder: "ns".into(),
            kind: kind.into(),
            name: name.into(),
            owners: vec!["billing/prod".to_string()].into(),
            tier,
            stage: Stage::Production,
            body,
        };
        let objects = vec![
            object(
                "Namespace",
                "ns",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns",
                    "labels": {"ward.dev/tier": tier.to_string(), "ward.dev/stage": "production"}}}),
            ),
            object(
                "Deployment",
                "odoo-web",
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "odoo-web", "namespace": "ns"}, "spec": {"replicas": replicas}}),
            ),
        ];
        match Tree::from_objects(objects, false) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_change_is_judged_at_the_stricter_of_the_tier_before_and_after() {
        let texts =
            |t: Tree| -> Existing { t.files.into_iter().map(|(p, f)| (p, f.text)).collect() };
        let review = Review::detached("test", Vec::new());
        // Tier 1 → tier 2 with another change beside it: still a tier-1 change.
        let lowered = match plan(
            &tiered_tree(2, 1),
            &texts(tiered_tree(1, 3)),
            &review,
            Target::Kubernetes,
        ) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(!lowered.changes.is_empty());
        assert!(
            lowered.changes.iter().all(|c| c.risk == Risk::High),
            "{:?}",
            lowered
                .changes
                .iter()
                .map(|c| (&c.path, c.risk))
                .collect::<Vec<_>>()
        );
        assert_eq!(lowered.requirement.approvals, 2);
        assert_eq!(lowered.requirement.roles, [Role::PlatformOps]);
        // Tier 2 → tier 1 is judged at tier 1 too; tier 2 → tier 2 at tier 2.
        let raised = match plan(
            &tiered_tree(1, 1),
            &texts(tiered_tree(2, 3)),
            &review,
            Target::Kubernetes,
        ) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(raised.changes.iter().all(|c| c.risk == Risk::High));
        let same = match plan(
            &tiered_tree(2, 1),
            &texts(tiered_tree(2, 3)),
            &review,
            Target::Kubernetes,
        ) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(same.changes.iter().all(|c| c.risk == Risk::Medium));
        assert_eq!(same.requirement.approvals, 0);
    }

    #[test]
    fn the_change_id_binds_the_estate_base_target_and_target_kind() {
        let tree = tiered_tree(1, 3);
        let id =
            |review: &Review, target: Target| match plan(&tree, &Existing::new(), review, target) {
                Ok(p) => p.change_id,
                Err(e) => panic!("{e}"),
            };
        let mut r = Review::detached("care", Vec::new());
        r.base = Some("a".repeat(40));
        r.target = Some("b".repeat(40));
        let first = id(&r, Target::Kubernetes);
        assert_eq!(first.len(), 64);
        assert_ne!(first, id(&r, Target::Compose));
        let mut other_estate = r.clone();
        other_estate.estate = "elsewhere".into();
        assert_ne!(first, id(&other_estate, Target::Kubernetes));
        let mut other_base = r.clone();
        other_base.base = Some("c".repeat(40));
        assert_ne!(first, id(&other_base, Target::Kubernetes));
        let mut other_target = r.clone();
        other_target.target = Some("c".repeat(40));
        assert_ne!(first, id(&other_target, Target::Kubernetes));
        let mut dirty = r.clone();
        dirty.uncommitted = vec!["x.yaml".into()];
        assert_ne!(first, id(&dirty, Target::Kubernetes));
        // Shifting bytes between fields gives another statement (length prefixes).
        let mut a = Statement(Sha256::new());
        a.field("ab", "c");
        let mut b = Statement(Sha256::new());
        b.field("a", "bc");
        assert_ne!(a.finish(), b.finish());
        assert_eq!(first, id(&r, Target::Kubernetes), "deterministic");
    }

    #[test]
    fn a_waiver_removed_shortened_or_narrowed_needs_no_review() {
        let a = ("a", "sandbox", "2027-01-31");
        let b = ("b", "sandbox", "2027-01-31");
        for (before, after) in [
            (vec![a, b], vec![a]),                                // one of two removed
            (vec![a], vec![]),                                    // the ConfigMap removed
            (vec![a], vec![("a", "sandbox", "2026-12-31")]),      // an earlier expiry
            (vec![("a", waivers::EVERY, "2027-01-31")], vec![a]), // every → one workload
        ] {
            let p = waiver_plan(&before, &after);
            assert_eq!(p.changes.len(), 1, "{before:?} → {after:?}");
            assert_eq!(p.changes[0].widens, None, "{before:?} → {after:?}");
            // (A removed object whose namespace is unknown counts as tier 1 production,
            // so platform-ops may still be asked for; a security reviewer is not.)
            assert!(
                !p.requirement.roles.contains(&Role::SecurityReviewer),
                "{before:?} → {after:?}"
            );
        }
    }
}
