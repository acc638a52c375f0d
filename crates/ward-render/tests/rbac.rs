//! An RBAC evaluator with the API server's semantics (`k8s.io/component-helpers/auth/rbac`:
//! apiGroups, resources with subresources and `*/sub`, resourceNames, verbs, `*`, aggregated
//! ClusterRoles, RoleBinding vs ClusterRoleBinding scope), run over every Role, ClusterRole,
//! RoleBinding and ClusterRoleBinding Ward renders: `kubectl auth can-i` answers, and the
//! exact set of subjects that can reach a Secret's value by any verb on any resource.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Group(String),
    User(String),
    ServiceAccount(String, String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Group(g) => write!(f, "Group:{g}"),
            Subject::User(u) => write!(f, "User:{u}"),
            Subject::ServiceAccount(ns, n) => write!(f, "ServiceAccount:{ns}/{n}"),
        }
    }
}

#[derive(Debug)]
struct Binding {
    /// `None` for a ClusterRoleBinding.
    namespace: Option<String>,
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
}

#[derive(Debug, Default)]
struct ClusterRole {
    labels: BTreeMap<String, String>,
    rules: Vec<Rule>,
    /// `aggregationRule.clusterRoleSelectors[].matchLabels`.
    aggregate_from: Vec<BTreeMap<String, String>>,
}

/// What the API server authorizes a request as: a user name and its groups.
#[derive(Clone, Debug)]
struct Identity {
    user: String,
    groups: Vec<String>,
}

impl Identity {
    /// How the API server sees a subject that authenticates: a service account's token
    /// carries its user name and the service-account groups.
    fn of(s: &Subject) -> Identity {
        match s {
            Subject::Group(g) => Identity {
                user: format!("someone-in-{g}"),
                groups: vec![g.clone(), "system:authenticated".into()],
            },
            Subject::User(u) => Identity {
                user: u.clone(),
                groups: vec!["system:authenticated".into()],
            },
            Subject::ServiceAccount(ns, n) => Identity {
                user: format!("system:serviceaccount:{ns}:{n}"),
                groups: vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                    "system:authenticated".into(),
                ],
            },
        }
    }
}

#[derive(Debug, Default)]
struct Rbac {
    roles: BTreeMap<(String, String), Vec<Rule>>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    bindings: Vec<Binding>,
    service_accounts: BTreeSet<(String, String)>,
    /// Namespaces holding Secrets (External Secrets writes one per ExternalSecret).
    secret_namespaces: BTreeSet<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn rules(v: &Value) -> Vec<Rule> {
    v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        // Rules for non-resource URLs (`/healthz`) name no resources and match nothing here.
        .map(|r| Rule {
            groups: strings(&r["apiGroups"]),
            resources: strings(&r["resources"]),
            names: strings(&r["resourceNames"]),
            verbs: strings(&r["verbs"]),
        })
        .collect()
}

impl Rbac {
    fn add(&mut self, v: &Value) {
        let ns = v["metadata"]["namespace"].as_str().map(str::to_string);
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match v["kind"].as_str().unwrap_or_default() {
            "Role" => {
                self.roles
                    .insert((ns.expect("a Role is namespaced"), name), rules(v));
            }
            "ClusterRole" => {
                let selectors = v["aggregationRule"]["clusterRoleSelectors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        assert!(
                            s.get("matchExpressions").is_none(),
                            "matchExpressions are not modelled: {s}"
                        );
                        string_map(&s["matchLabels"])
                    })
                    .collect();
                self.cluster_roles.insert(
                    name,
                    ClusterRole {
                        labels: string_map(&v["metadata"]["labels"]),
                        rules: rules(v),
                        aggregate_from: selectors,
                    },
                );
            }
            kind @ ("RoleBinding" | "ClusterRoleBinding") => {
                let subjects = v["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let name = s["name"].as_str().unwrap_or_default().to_string();
                        match s["kind"].as_str().unwrap_or_default() {
                            "Group" => Subject::Group(name),
                            "User" => Subject::User(name),
                            "ServiceAccount" => Subject::ServiceAccount(
                                s["namespace"]
                                    .as_str()
                                    .map(str::to_string)
                                    .or_else(|| ns.clone())
                                    .unwrap_or_default(),
                                name,
                            ),
                            other => panic!("unknown subject kind {other}"),
                        }
                    })
                    .collect();
                self.bindings.push(Binding {
                    namespace: if kind == "RoleBinding" { ns } else { None },
                    role_kind: v["roleRef"]["kind"].as_str().unwrap_or_default().into(),
                    role_name: v["roleRef"]["name"].as_str().unwrap_or_default().into(),
                    subjects,
                });
            }
            "ServiceAccount" => {
                self.service_accounts.insert((ns.unwrap_or_default(), name));
            }
            "ExternalSecret" => {
                self.secret_namespaces.insert(ns.unwrap_or_default());
            }
            _ => {}
        }
    }

    fn from_values<'v>(values: impl IntoIterator<Item = &'v Value>) -> Rbac {
        let mut rbac = Rbac::default();
        for v in values {
            rbac.add(v);
        }
        rbac
    }

    /// A ClusterRole's rules, with those of the ClusterRoles its aggregation rule selects
    /// (as the aggregation controller fills them in).
    fn cluster_role_rules(&self, name: &str) -> Vec<Rule> {
        let Some(role) = self.cluster_roles.get(name) else {
            return Vec::new();
        };
        let mut out = role.rules.clone();
        for selector in &role.aggregate_from {
            for (other, r) in &self.cluster_roles {
                if other != name && selector.iter().all(|(k, v)| r.labels.get(k) == Some(v)) {
                    out.extend(r.rules.iter().cloned());
                }
            }
        }
        out
    }

    /// Every subject a binding names, and every rendered service account.
    fn subjects(&self) -> BTreeSet<Subject> {
        let mut out: BTreeSet<Subject> = self
            .bindings
            .iter()
            .flat_map(|b| b.subjects.iter().cloned())
            .collect();
        out.extend(
            self.service_accounts
                .iter()
                .map(|(ns, n)| Subject::ServiceAccount(ns.clone(), n.clone())),
        );
        out
    }

    /// The rules that apply to `who` in `namespace` (`None`: cluster-scoped requests).
    fn rules_for(&self, who: &Identity, namespace: Option<&str>) -> Vec<Rule> {
        let mut out = Vec::new();
        for b in &self.bindings {
            let applies = b.subjects.iter().any(|s| match s {
                Subject::Group(g) => who.groups.contains(g),
                Subject::User(u) => &who.user == u,
                Subject::ServiceAccount(ns, n) => {
                    who.user == format!("system:serviceaccount:{ns}:{n}")
                }
            });
            if !applies {
                continue;
            }
            // A RoleBinding grants only inside its namespace, even for a ClusterRole.
            if let Some(bns) = &b.namespace
                && namespace != Some(bns.as_str())
            {
                continue;
            }
            match (b.role_kind.as_str(), &b.namespace) {
                ("Role", Some(ns)) => out.extend(
                    self.roles
                        .get(&(ns.clone(), b.role_name.clone()))
                        .cloned()
                        .unwrap_or_default(),
                ),
                ("ClusterRole", _) => out.extend(self.cluster_role_rules(&b.role_name)),
                _ => {}
            }
        }
        out
    }
}

/// One request, as `kubectl auth can-i VERB RESOURCE[/SUB] [NAME] -n NS` sends it.
struct Request<'a> {
    verb: &'a str,
    group: &'a str,
    resource: &'a str,
    subresource: Option<&'a str>,
    namespace: Option<&'a str>,
    /// `None`: any object (a rule limited by `resourceNames` still counts, as it reaches
    /// some object of the kind).
    name: Option<&'a str>,
}

/// `RuleAllows` of the API server's RBAC authorizer.
fn rule_allows(rule: &Rule, req: &Request<'_>) -> bool {
    let verb = rule.verbs.iter().any(|v| v == "*" || v == req.verb);
    let group = rule.groups.iter().any(|g| g == "*" || g == req.group);
    let combined = match req.subresource {
        Some(sub) => format!("{}/{sub}", req.resource),
        None => req.resource.to_string(),
    };
    let resource = rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || req
                .subresource
                .is_some_and(|sub| r.strip_prefix("*/") == Some(sub))
    });
    let name = match req.name {
        _ if rule.names.is_empty() => true,
        Some(n) => rule.names.iter().any(|x| x == n),
        None => true,
    };
    verb && group && resource && name
}

fn can(rbac: &Rbac, who: &Identity, req: &Request<'_>) -> bool {
    rbac.rules_for(who, req.namespace)
        .iter()
        .any(|r| rule_allows(r, req))
}

/// `kubectl auth can-i VERB RESOURCE -n NS --as-group GROUP` for a resource written
/// `resource[.group][/subresource]`.
fn can_i(rbac: &Rbac, who: &Subject, verb: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
    can(
        rbac,
        &Identity::of(who),
        &Request {
            verb,
            group,
            resource,
            subresource,
            namespace: Some(namespace),
            name: None,
        },
    )
}

/// Resources whose create, update or patch starts a pod with a spec the caller writes:
/// such a pod may mount any Secret of its namespace, or run as any service account.
/// CloudNativePG's `Cluster` and `Pooler` count: their specs carry pod templates,
/// projected volumes, `env` from Secrets and SQL run at bootstrap.
const POD_MAKERS: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("postgresql.cnpg.io", "clusters"),
    ("postgresql.cnpg.io", "poolers"),
];

/// Every way `who` can reach a Secret's value in `ns`, in words; empty if none.
fn secret_paths(rbac: &Rbac, who: &Identity, ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |verb: &str, group: &str, resource: &str, sub: Option<&str>, why: &str| {
        let req = Request {
            verb,
            group,
            resource,
            subresource: sub,
            namespace: Some(ns),
            name: None,
        };
        if can(rbac, who, &req) {
            let r = match sub {
                Some(s) => format!("{resource}/{s}"),
                None => resource.to_string(),
            };
            let g = if group.is_empty() { "core" } else { group };
            out.push(format!("{verb} {g}/{r}: {why}"));
        }
    };
    for verb in ["get", "list", "watch"] {
        check(verb, "", "secrets", None, "reads it");
    }
    for (group, resource) in POD_MAKERS {
        for verb in ["create", "update", "patch"] {
            check(verb, group, resource, None, "a pod that mounts it");
        }
    }
    for verb in ["update", "patch"] {
        check(
            verb,
            "",
            "pods",
            Some("ephemeralcontainers"),
            "a container beside its mount",
        );
    }
    for sub in ["exec", "attach"] {
        // WebSocket clients were authorized as `get` before Kubernetes 1.31.
        for verb in ["create", "get"] {
            check(verb, "", "pods", Some(sub), "a shell where it is mounted");
        }
    }
    for verb in ["create", "update"] {
        check(
            verb,
            "",
            "serviceaccounts",
            Some("token"),
            "another account's token",
        );
    }
    for resource in ["roles", "clusterroles"] {
        for verb in ["escalate", "bind"] {
            check(
                verb,
                "rbac.authorization.k8s.io",
                resource,
                None,
                "grants itself more",
            );
        }
    }
    for (group, resource) in [
        ("", "users"),
        ("", "groups"),
        ("", "serviceaccounts"),
        ("authentication.k8s.io", "userextras"),
        ("authentication.k8s.io", "uids"),
    ] {
        check(
            "impersonate",
            group,
            resource,
            None,
            "acts as someone who can",
        );
    }
    out
}

/// Per namespace holding Secrets, the subjects that can reach a Secret's value there.
fn who_reaches_secrets(rbac: &Rbac) -> BTreeMap<String, BTreeSet<Subject>> {
    let subjects = rbac.subjects();
    rbac.secret_namespaces
        .iter()
        .map(|ns| {
            let who = subjects
                .iter()
                .filter(|s| !secret_paths(rbac, &Identity::of(s), ns).is_empty())
                .cloned()
                .collect();
            (ns.clone(), who)
        })
        .collect()
}

fn example_rbac() -> Rbac {
    let tree = ward_render::render_kubernetes(&common::example()).expect("renders");
    let mut values = Vec::new();
    for (path, file) in &tree.files {
        values.extend(ward_render::yaml::from_yaml(path, &file.text).expect("parses"));
    }
    Rbac::from_values(&values)
}

fn group(g: &str) -> Subject {
    Subject::Group(g.to_string())
}

const PLATFORM_OPS: &str = "idp:care-platform-ops";
const DBA: &str = "idp:care-dba";
const SANDBOX_NAMESPACE: &str = "odoo-shared-development-v17";

#[test]
fn only_platform_ops_reaches_a_secret_value_in_any_namespace() {
    let rbac = example_rbac();
    let reach = who_reaches_secrets(&rbac);
    assert!(
        reach.len() >= 5,
        "every stack namespace holds Secrets: {:?}",
        reach.keys()
    );
    assert!(reach.contains_key(SANDBOX_NAMESPACE));
    for (ns, who) in &reach {
        let names: Vec<String> = who.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [format!("Group:{PLATFORM_OPS}")],
            "{ns}: only platform-ops may reach a Secret's value"
        );
    }
    // The subjects bound in the development sandbox, and the DBA, reach none anywhere.
    let sandbox: BTreeSet<Subject> = rbac
        .bindings
        .iter()
        .filter(|b| b.namespace.as_deref() == Some(SANDBOX_NAMESPACE))
        .flat_map(|b| b.subjects.iter().cloned())
        .chain(
            rbac.service_accounts
                .iter()
                .filter(|(ns, _)| ns == SANDBOX_NAMESPACE)
                .map(|(ns, n)| Subject::ServiceAccount(ns.clone(), n.clone())),
        )
        .filter(|s| *s != group(PLATFORM_OPS))
        .collect();
    assert!(sandbox.contains(&group(DBA)), "{sandbox:?}");
    assert!(sandbox.contains(&group("idp:revenue-cycle")), "{sandbox:?}");
    for s in &sandbox {
        for ns in reach.keys() {
            let paths = secret_paths(&rbac, &Identity::of(s), ns);
            assert!(paths.is_empty(), "{s} reaches Secrets in {ns}: {paths:?}");
        }
    }
}

#[test]
fn can_i_answers_for_the_rendered_roles() {
    let rbac = example_rbac();
    let ns = "billing-prod";
    let dba = group(DBA);
    let ops = group(PLATFORM_OPS);
    let cases: &[(&Subject, &str, &str, bool)] = &[
        // The DBA backs up with CloudNativePG `Backup` objects and reads what runs.
        (&dba, "create", "backups.postgresql.cnpg.io", true),
        (&dba, "patch", "scheduledbackups.postgresql.cnpg.io", true),
        (&dba, "get", "clusters.postgresql.cnpg.io", true),
        (&dba, "create", "pods/portforward", true),
        (&dba, "get", "pods/log", true),
        // ... and starts nothing that runs a pod.
        (&dba, "create", "jobs.batch", false),
        (&dba, "create", "cronjobs.batch", false),
        (&dba, "create", "pods", false),
        (&dba, "create", "pods/exec", false),
        (&dba, "create", "pods/attach", false),
        (&dba, "patch", "clusters.postgresql.cnpg.io", false),
        (&dba, "create", "poolers.postgresql.cnpg.io", false),
        (&dba, "patch", "deployments.apps", false),
        (&dba, "get", "secrets", false),
        (&dba, "list", "secrets", false),
        // platform-ops changes workloads, and so can start a pod; it never lists Secrets.
        (&ops, "patch", "deployments.apps", true),
        (&ops, "create", "pods", true),
        (&ops, "get", "secrets", false),
        (&ops, "escalate", "roles.rbac.authorization.k8s.io", false),
        (
            &ops,
            "create",
            "rolebindings.rbac.authorization.k8s.io",
            false,
        ),
        (
            &group("idp:care-security"),
            "list",
            "rolebindings.rbac.authorization.k8s.io",
            true,
        ),
        (&group("idp:care-security"), "get", "secrets", false),
        (&group("idp:revenue-cycle"), "get", "pods/log", true),
        (&group("idp:revenue-cycle"), "delete", "pods", false),
        // A team is bound only where its workloads run.
        (&group("idp:patient-services"), "get", "pods", false),
        (
            &Subject::ServiceAccount(ns.into(), "odoo".into()),
            "get",
            "secrets",
            false,
        ),
    ];
    for (who, verb, resource, expected) in cases {
        assert_eq!(
            can_i(&rbac, who, verb, resource, ns),
            *expected,
            "kubectl auth can-i {verb} {resource} -n {ns} as {who}"
        );
    }
    // Bindings are namespaced: platform-ops of one namespace is not of another that
    // Ward did not render.
    assert!(!can_i(&rbac, &ops, "create", "pods", "kube-system"));
}

/// The evaluator itself, on RBAC written by hand: each path to a Secret is found, and
/// Kubernetes' matching rules (wildcards, `*/sub`, resourceNames, aggregation, binding
/// scope) hold.
#[test]
fn the_evaluator_follows_kubernetes_semantics() {
    let objects: Vec<Value> = serde_json::from_str(
        r#"[
      {"kind": "Role", "metadata": {"name": "jobs", "namespace": "a"},
       "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "create"]}]},
      {"kind": "RoleBinding", "metadata": {"name": "jobs", "namespace": "a"},
       "roleRef": {"kind": "Role", "name": "jobs"},
       "subjects": [{"kind": "Group", "name": "old-dba"}]},
      {"kind": "Role", "metadata": {"name": "exec", "namespace": "a"},
       "rules": [{"apiGroups": [""], "resources": ["*/exec"], "verbs": ["create"]}]},
      {"kind": "RoleBinding", "metadata": {"name": "exec", "namespace": "a"},
       "roleRef": {"kind": "Role", "name": "exec"},
       "subjects": [{"kind": "ServiceAccount", "name": "debugger"}]},
      {"kind": "Role", "metadata": {"name": "one-secret", "namespace": "a"},
       "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"], "verbs": ["get"]}]},
      {"kind": "RoleBinding", "metadata": {"name": "one-secret", "namespace": "a"},
       "roleRef": {"kind": "Role", "name": "one-secret"},
       "subjects": [{"kind": "User", "name": "ingress"}]},
      {"kind": "ClusterRole", "metadata": {"name": "aggregate"},
       "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}, "rules": []},
      {"kind": "ClusterRole", "metadata": {"name": "piece", "labels": {"agg": "yes"}},
       "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["impersonate"]}]},
      {"kind": "RoleBinding", "metadata": {"name": "agg", "namespace": "b"},
       "roleRef": {"kind": "ClusterRole", "name": "aggregate"},
       "subjects": [{"kind": "Group", "name": "helpdesk"}]},
      {"kind": "ClusterRole", "metadata": {"name": "reader"},
       "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]},
      {"kind": "ClusterRoleBinding", "metadata": {"name": "reader"},
       "roleRef": {"kind": "ClusterRole", "name": "reader"},
       "subjects": [{"kind": "Group", "name": "system:serviceaccounts:a"}]},
      {"kind": "ServiceAccount", "metadata": {"name": "debugger", "namespace": "a"}},
      {"kind": "ServiceAccount", "metadata": {"name": "app", "namespace": "a"}},
      {"kind": "ExternalSecret", "metadata": {"name": "x", "namespace": "a"}},
      {"kind": "ExternalSecret", "metadata": {"name": "x", "namespace": "b"}}
    ]"#,
    )
    .expect("json");
    let rbac = Rbac::from_values(&objects);
    let reach = who_reaches_secrets(&rbac);
    let names = |ns: &str| -> Vec<String> { reach[ns].iter().map(ToString::to_string).collect() };
    // Creating a Job (the old `dba` rule) reaches Secrets; so do exec through `*/exec`
    // and a rule limited to one named Secret.
    assert_eq!(
        names("a"),
        ["Group:old-dba", "User:ingress", "ServiceAccount:a/debugger"]
    );
    // Aggregated impersonation, granted by a RoleBinding: only in its namespace.
    assert_eq!(names("b"), ["Group:helpdesk"]);
    let app = Identity::of(&Subject::ServiceAccount("a".into(), "app".into()));
    // A service account is in `system:serviceaccounts:<ns>`, which a ClusterRoleBinding
    // binds everywhere; reading pods and logs reaches no Secret.
    assert!(can(
        &rbac,
        &app,
        &Request {
            verb: "get",
            group: "",
            resource: "pods",
            subresource: Some("log"),
            namespace: Some("b"),
            name: None,
        }
    ));
    assert!(secret_paths(&rbac, &app, "a").is_empty());
    // resourceNames: the named Secret only.
    let ingress = Identity::of(&Subject::User("ingress".into()));
    let get = |name| Request {
        verb: "get",
        group: "",
        resource: "secrets",
        subresource: None,
        namespace: Some("a"),
        name: Some(name),
    };
    assert!(can(&rbac, &ingress, &get("tls")));
    assert!(!can(&rbac, &ingress, &get("db-odoo-credentials")));
    // `*/exec` matches exec and nothing else.
    let debugger = Subject::ServiceAccount("a".into(), "debugger".into());
    assert!(can_i(&rbac, &debugger, "create", "pods/exec", "a"));
    assert!(!can_i(&rbac, &debugger, "create", "pods", "a"));
    assert!(!can_i(&rbac, &debugger, "create", "pods/exec", "b"));
}
