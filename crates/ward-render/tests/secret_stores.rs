//! What each namespace can fetch from the secret manager, evaluated as Vault and External
//! Secrets decide it: an ExternalSecret is served by the `SecretStore` of its own
//! namespace, which logs in as that namespace's Vault role, whose policy (rendered beside
//! it) grants `read` on exact paths. A namespace reaches its own keys and no other's.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A Vault policy path pattern: exact, or with a trailing `*` (prefix) and `+` (one path
/// segment), as Vault's ACL matches them.
fn vault_matches(pattern: &str, path: &str) -> bool {
    let (pattern, prefix) = match pattern.strip_suffix('*') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let pat: Vec<&str> = pattern.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    if prefix {
        if got.len() < pat.len() {
            return false;
        }
        let (last_pat, first_pat) = pat.split_last().expect("non-empty");
        let ok = first_pat.iter().zip(&got).all(|(p, g)| *p == "+" || p == g);
        ok && got[pat.len() - 1].starts_with(last_pat)
    } else {
        pat.len() == got.len() && pat.iter().zip(&got).all(|(p, g)| *p == "+" || p == g)
    }
}

/// The `read` paths of an HCL policy as Ward writes it.
fn read_paths(hcl: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in hcl.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("path \"") {
            current = rest.split('"').next().map(str::to_string);
        } else if line.starts_with("capabilities") && line.contains("\"read\"") {
            out.extend(current.clone());
        }
    }
    out
}

struct Store {
    kv_mount: String,
    kv_version: String,
    policy: Vec<String>,
    account: String,
}

struct Cluster {
    /// `(namespace, store name)` → the store.
    stores: BTreeMap<(String, String), Store>,
    /// `(namespace, store, kind)` → remote keys its ExternalSecrets name.
    wanted: BTreeMap<(String, String, String), BTreeSet<String>>,
    stage: BTreeMap<String, String>,
    accounts: BTreeSet<(String, String)>,
}

fn load() -> BTreeMap<String, Cluster> {
    let tree = ward_render::render_kubernetes(&common::example()).expect("renders");
    let mut clusters: BTreeMap<String, Cluster> = BTreeMap::new();
    for (path, file) in &tree.files {
        let cluster = path.split('/').next().unwrap_or_default().to_string();
        let c = clusters.entry(cluster).or_insert_with(|| Cluster {
            stores: BTreeMap::new(),
            wanted: BTreeMap::new(),
            stage: BTreeMap::new(),
            accounts: BTreeSet::new(),
        });
        for v in ward_render::yaml::from_yaml(path, &file.text).expect("parses") {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            let ns = s(&v["metadata"]["namespace"]);
            match v["kind"].as_str().unwrap_or_default() {
                "Namespace" => {
                    c.stage.insert(
                        s(&v["metadata"]["name"]),
                        s(&v["metadata"]["labels"]["ward.dev/stage"]),
                    );
                }
                "ServiceAccount" => {
                    c.accounts.insert((ns, s(&v["metadata"]["name"])));
                }
                "SecretStore" => {
                    let vault = &v["spec"]["provider"]["vault"];
                    c.stores.insert(
                        (ns, s(&v["metadata"]["name"])),
                        Store {
                            kv_mount: s(&vault["path"]),
                            kv_version: s(&vault["version"]),
                            policy: read_paths(
                                v["metadata"]["annotations"]["ward.dev/vault-policy"]
                                    .as_str()
                                    .unwrap_or_default(),
                            ),
                            account: s(&vault["auth"]["kubernetes"]["serviceAccountRef"]["name"]),
                        },
                    );
                }
                "ExternalSecret" => {
                    let r = &v["spec"]["secretStoreRef"];
                    let keys = c
                        .wanted
                        .entry((ns, s(&r["name"]), s(&r["kind"])))
                        .or_default();
                    for d in v["spec"]["data"].as_array().into_iter().flatten() {
                        keys.insert(s(&d["remoteRef"]["key"]));
                    }
                }
                _ => {}
            }
        }
    }
    clusters
}

/// Whether namespace `ns`'s store `store` may read `key`: Vault's answer to the role the
/// store logs in as.
fn can_read(c: &Cluster, ns: &str, store: &str, key: &str) -> bool {
    let Some(s) = c.stores.get(&(ns.to_string(), store.to_string())) else {
        return false;
    };
    let path = if s.kv_version == "v1" {
        format!("{}/{key}", s.kv_mount)
    } else {
        format!("{}/data/{key}", s.kv_mount)
    };
    s.policy.iter().any(|p| vault_matches(p, &path))
}

#[test]
fn every_external_secret_is_served_by_its_own_namespace_store() {
    let clusters = load();
    let mut served = 0;
    for (name, c) in &clusters {
        for ((ns, store, kind), keys) in &c.wanted {
            assert_eq!(kind, "SecretStore", "{name}/{ns}: {store} is namespaced");
            let s = c
                .stores
                .get(&(ns.clone(), store.clone()))
                .unwrap_or_else(|| panic!("{name}/{ns}: no SecretStore {store}"));
            assert!(
                c.accounts.contains(&(ns.clone(), s.account.clone())),
                "{name}/{ns}: the store's service account is rendered"
            );
            for key in keys {
                assert!(can_read(c, ns, store, key), "{name}/{ns} cannot read {key}");
                served += 1;
            }
            // Exactly what it names, no pattern.
            assert_eq!(s.policy.len(), keys.len(), "{name}/{ns}: {:?}", s.policy);
            assert!(
                s.policy
                    .iter()
                    .all(|p| !p.contains('*') && !p.contains('+'))
            );
        }
    }
    assert!(served > 30, "{served}");
}

#[test]
fn a_namespace_reaches_no_other_namespaces_keys() {
    let clusters = load();
    for (name, c) in &clusters {
        let by_ns: BTreeMap<&str, BTreeSet<&str>> = c
            .wanted
            .iter()
            .map(|((ns, _, _), keys)| (ns.as_str(), keys.iter().map(String::as_str).collect()))
            .collect();
        for (ns, own) in &by_ns {
            for (other, theirs) in &by_ns {
                for key in theirs.difference(own) {
                    assert!(
                        !can_read(c, ns, "hospital-vault", key),
                        "{name}/{ns} reads {key}, a key of {other}"
                    );
                }
            }
        }
    }
    // The sandbox and staging never reach production's database or integrations.
    let shared = &clusters["shared-eu1"];
    let sandbox = "odoo-shared-development-v17";
    for key in [
        "odoo/billing/prod",
        "odoo/patient-portal/prod",
        "integrations/clearinghouse",
        "integrations/sms",
    ] {
        assert!(!can_read(shared, sandbox, "hospital-vault", key), "{key}");
    }
    let dedicated = &clusters["dedicated-eu1"];
    for key in ["odoo/billing/prod", "integrations/clearinghouse"] {
        assert!(!can_read(
            dedicated,
            "billing-staging",
            "hospital-vault",
            key
        ));
        assert!(can_read(dedicated, "billing-prod", "hospital-vault", key));
    }
}

/// No non-production namespace can read a key any production namespace reads, except
/// the platform's own (`platform/…`: the WAL archive, the estate's read token and the
/// drill identity, which the drill part of issue 12 splits per stack).
#[test]
fn non_production_namespaces_share_no_credential_with_production() {
    let clusters = load();
    let mut production: BTreeSet<&str> = BTreeSet::new();
    for c in clusters.values() {
        for ((ns, _, _), keys) in &c.wanted {
            if c.stage.get(ns).map(String::as_str) == Some("production") {
                production.extend(keys.iter().map(String::as_str));
            }
        }
    }
    let mut checked = 0;
    for (name, c) in &clusters {
        for ((ns, store, _), keys) in &c.wanted {
            if c.stage.get(ns).map(String::as_str) == Some("production") {
                continue;
            }
            for key in &production {
                if key.starts_with("platform/") {
                    continue;
                }
                assert!(
                    !can_read(c, ns, store, key),
                    "{name}/{ns} ({}) reads production's {key}",
                    c.stage[ns]
                );
                checked += 1;
            }
            assert!(!keys.is_empty());
        }
    }
    assert!(checked > 10, "{checked}");
}

#[test]
fn vault_patterns_match_as_vault_does() {
    assert!(vault_matches("secret/data/odoo/a", "secret/data/odoo/a"));
    assert!(!vault_matches("secret/data/odoo/a", "secret/data/odoo/ab"));
    assert!(vault_matches(
        "secret/data/odoo/a*",
        "secret/data/odoo/ab/c"
    ));
    assert!(vault_matches("secret/data/+/a", "secret/data/odoo/a"));
    assert!(!vault_matches("secret/data/+/a", "secret/data/odoo/x/a"));
    assert_eq!(
        read_paths("path \"secret/data/x\" {\n  capabilities = [\"read\"]\n}\n"),
        ["secret/data/x"]
    );
}
