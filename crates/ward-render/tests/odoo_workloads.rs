//! Odoo's own workloads as rendered for the example: the install/upgrade that runs
//! before cron (its command line, when it runs again, how Argo CD orders it), each pod's
//! `odoo.conf` sized from that pod, Redis only for sessions, headers that keep Odoo's own
//! frames working, an unbuffered `/websocket`, and the mail relay.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use ward_render::odoo::{self, LIMIT_MEMORY_HARD, UPGRADE_SCRIPT};
use ward_render::tree::Tree;

fn render(estate: &ward_estate::Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

fn objects<'t>(tree: &'t Tree, kind: &str, name: &str) -> Vec<(&'t str, &'t Value)> {
    tree.files
        .iter()
        .filter_map(|(p, f)| Some((p.as_str(), f.value.as_ref()?)))
        .filter(|(_, v)| v["kind"] == kind && v["metadata"]["name"] == name)
        .collect()
}

fn folder(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(f, _)| f)
}

fn release_annotations(tree: &Tree) -> BTreeMap<String, String> {
    objects(tree, "Deployment", "odoo-cron")
        .into_iter()
        .map(|(p, d)| {
            let a = d["spec"]["template"]["metadata"]["annotations"]["ward.dev/odoo-release"]
                .as_str()
                .unwrap_or_else(|| panic!("{p}: no release annotation"))
                .to_string();
            (folder(p).to_string(), a)
        })
        .collect()
}

/// Bytes of a Kubernetes quantity as Ward writes them (`8Gi`, `1536Mi`).
fn bytes(q: &str) -> u64 {
    if let Some(n) = q.strip_suffix("Gi") {
        n.parse::<u64>().expect("Gi") << 30
    } else if let Some(n) = q.strip_suffix("Mi") {
        n.parse::<u64>().expect("Mi") << 20
    } else {
        panic!("unexpected quantity {q}")
    }
}

fn conf_value<'c>(conf: &'c str, key: &str) -> Option<&'c str> {
    conf.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
}

#[test]
fn the_cron_pod_installs_or_upgrades_every_database_before_cron_runs() {
    let estate = common::example();
    let tree = render(&estate);
    let crons = objects(&tree, "Deployment", "odoo-cron");
    assert!(crons.len() >= 4);
    for (path, cron) in crons {
        let spec = &cron["spec"];
        // One cron pod, replaced (never rolled) so the old one is gone before the upgrade.
        assert_eq!(spec["replicas"], 1, "{path}");
        assert_eq!(spec["strategy"]["type"], "Recreate", "{path}");
        let pod = &spec["template"]["spec"];
        let init = &pod["initContainers"][0];
        let main = &pod["containers"][0];
        assert_eq!(init["name"], "odoo-upgrade");
        // Same image, configuration, filestore and environment as the cron workers.
        for key in ["image", "env", "resources", "securityContext"] {
            assert_eq!(init[key], main[key], "{path}: {key}");
        }
        // And, read-only, the stack's `database-setup` ConfigMap, where it reads each
        // database's setup SQL, every key of it and only this stack's.
        let mounts = init["volumeMounts"].as_array().expect("mounts");
        let (setup_mount, rest) = mounts.split_last().expect("a mount");
        assert_eq!(
            rest,
            main["volumeMounts"].as_array().expect("mounts").as_slice()
        );
        assert_eq!(setup_mount["mountPath"], odoo::DATABASE_SETUP_DIR, "{path}");
        assert_eq!(setup_mount["readOnly"], true, "{path}");
        let volume = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == setup_mount["name"])
            .expect("the setup volume");
        assert_eq!(volume["configMap"]["name"], "database-setup", "{path}");
        assert!(
            main["volumeMounts"]
                .as_array()
                .expect("mounts")
                .iter()
                .all(|m| m["name"] != setup_mount["name"]),
            "{path}: the cron workers do not need it"
        );
        let config_map = tree.files[&format!("{}/configmap-database-setup.yaml", folder(path))]
            .value
            .as_ref()
            .expect("the stack's setup ConfigMap");
        let keys: Vec<&str> = config_map["data"]
            .as_object()
            .expect("data")
            .keys()
            .map(String::as_str)
            .collect();
        let mut items: Vec<(&str, &str)> = volume["configMap"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().unwrap_or(""),
                    i["path"].as_str().unwrap_or(""),
                )
            })
            .collect();
        items.sort_unstable();
        assert_eq!(
            items,
            keys.iter().map(|k| (*k, *k)).collect::<Vec<_>>(),
            "{path}"
        );
        assert_eq!(init["command"][0], "python3");
        assert_eq!(init["args"][0], "-c");
        assert_eq!(init["args"][1], UPGRADE_SCRIPT);
        // One argument per database, with that environment's modules from the estate.
        let args: Vec<&str> = init["args"].as_array().expect("args")[2..]
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ns = folder(path).rsplit('/').next().unwrap_or_default();
        let members: Vec<_> = estate
            .environments
            .iter()
            .filter(|e| {
                objects(&tree, "Namespace", ns).iter().any(|(p, _)| {
                    tree.files[*p]
                        .object
                        .as_ref()
                        .is_some_and(|o| o.owners.contains(&e.address()))
                })
            })
            .collect();
        assert_eq!(args.len(), members.len(), "{path}: {args:?}");
        let image = main["image"].as_str().expect("image");
        for env in members {
            let w = estate.workload(&env.workload).expect("workload");
            let modules: Vec<&str> = w
                .spec
                .odoo
                .modules
                .iter()
                .map(|m| m.value.as_str())
                .collect();
            let release = odoo::release_hash(image, &modules);
            let setup = format!("{}-{}.sql", env.workload, env.environment);
            assert!(keys.contains(&setup.as_str()), "{path}: {setup}");
            let want = odoo::upgrade_arg(&env.database.name, &release, &setup, &modules);
            assert!(
                args.contains(&want.as_str()),
                "{path}: {want} not in {args:?}"
            );
            assert!(!modules.is_empty());
        }
    }
}

#[test]
fn the_upgrade_runs_again_exactly_when_an_image_or_the_modules_change() {
    let base = release_annotations(&render(&common::example()));
    let edited = |from: &'static str, to: &'static str| {
        let estate = common::loaded(common::example_edited(|path, text| {
            if path == "workloads/billing.yaml" {
                assert!(text.contains(from), "{from}");
                text.replace(from, to)
            } else {
                text
            }
        }));
        release_annotations(&render(&estate))
    };
    let changed = |after: &BTreeMap<String, String>| -> Vec<String> {
        base.iter()
            .filter(|(k, v)| after.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let billing = vec![
        "dedicated-eu1/billing-prod".to_string(),
        "dedicated-eu1/billing-staging".to_string(),
    ];
    // A module added: billing's stacks upgrade, nothing else does.
    let modules = "modules: [account, sale, l10n_generic_coa, care_claims]";
    assert_eq!(
        changed(&edited(
            modules,
            "modules: [account, sale, l10n_generic_coa, care_claims, stock]"
        )),
        billing
    );
    // A new image digest: the same.
    assert_eq!(
        changed(&edited("sha256:9b2f1c0d", "sha256:9b2f1c0e")),
        billing
    );
    // The same modules reordered, or a change that is not the code: no upgrade.
    assert!(
        changed(&edited(
            modules,
            "modules: [sale, care_claims, account, l10n_generic_coa]"
        ))
        .is_empty()
    );
    assert!(changed(&edited("replicas: 3", "replicas: 4")).is_empty());
    assert!(changed(&edited("Patient billing, claims", "Billing, claims")).is_empty());
}

#[test]
fn argo_cd_applies_the_database_then_the_upgrade_then_new_web_pods() {
    let tree = render(&common::example());
    let wave = |v: &Value| -> i64 {
        v["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .map_or(0, |w| w.parse().expect("a number"))
    };
    for (path, cron) in objects(&tree, "Deployment", "odoo-cron") {
        let ns = folder(path);
        let in_ns: Vec<&Value> = tree
            .files
            .iter()
            .filter(|(p, _)| folder(p) == ns)
            .filter_map(|(_, f)| f.value.as_ref())
            .collect();
        let web = in_ns
            .iter()
            .find(|v| v["kind"] == "Deployment" && v["metadata"]["name"] == "odoo-web")
            .expect("web");
        assert!(
            wave(cron) < wave(web),
            "{ns}: cron upgrades before web serves"
        );
        // Everything the upgrade needs is applied, and healthy, in an earlier wave.
        for v in &in_ns {
            let kind = v["kind"].as_str().unwrap_or_default();
            if matches!(
                kind,
                "Cluster"
                    | "ExternalSecret"
                    | "PersistentVolumeClaim"
                    | "Database"
                    | "Service"
                    | "NetworkPolicy"
            ) {
                assert!(
                    wave(v) < wave(cron),
                    "{ns}: {kind} {}",
                    v["metadata"]["name"]
                );
            }
        }
        // The rollout that holds the upgrade may take an hour before Argo CD calls it failed.
        assert!(cron["spec"]["progressDeadlineSeconds"].as_i64() >= Some(3600));
    }
}

#[test]
fn each_pods_configuration_is_sized_from_that_pod() {
    let tree = render(&common::example());
    for (path, secret) in objects(&tree, "ExternalSecret", "odoo-config") {
        let ns = folder(path);
        let data = &secret["spec"]["target"]["template"]["data"];
        for (which, deployment) in [
            ("odoo-web.conf", "odoo-web"),
            ("odoo-cron.conf", "odoo-cron"),
        ] {
            let conf = data[which].as_str().expect("conf");
            let d = objects(&tree, "Deployment", deployment)
                .into_iter()
                .find(|(p, _)| folder(p) == ns)
                .map(|(_, d)| d)
                .expect("deployment");
            let limit = bytes(
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
                    .as_str()
                    .expect("memory"),
            );
            let n = |k: &str| -> u64 {
                conf_value(conf, k)
                    .unwrap_or_else(|| panic!("{ns} {which}: no {k}"))
                    .parse()
                    .expect("number")
            };
            let processes = n("workers") + n("max_cron_threads");
            // Odoo kills a worker at limit_memory_hard (virtual memory, which wkhtmltopdf
            // inherits); the pod's limit covers every process there plus the main one.
            assert!(
                processes * n("limit_memory_hard") + (512 << 20) <= limit,
                "{ns} {which}: {processes} × {} in {limit}",
                n("limit_memory_hard")
            );
            assert_eq!(n("limit_memory_hard"), LIMIT_MEMORY_HARD, "{ns} {which}");
            assert!(n("limit_memory_soft") < n("limit_memory_hard"));
            if which == "odoo-cron.conf" {
                assert!(n("max_cron_threads") >= 1);
                assert!(
                    n("limit_time_cpu") >= 3600 && n("limit_time_real_cron") >= 7200,
                    "{ns}"
                );
            } else {
                assert_eq!(n("max_cron_threads"), 0);
                assert!(n("limit_time_real") <= 120);
            }
        }
    }
}

#[test]
fn redis_is_rendered_for_sessions_and_read_by_session_redis() {
    let estate = common::example();
    let tree = render(&estate);
    for (path, secret) in objects(&tree, "ExternalSecret", "odoo-config") {
        let ns = folder(path);
        let redis = objects(&tree, "Deployment", "redis")
            .into_iter()
            .find(|(p, _)| folder(p) == ns);
        let conf = secret["spec"]["target"]["template"]["data"]["odoo-web.conf"]
            .as_str()
            .expect("conf");
        let modules = conf_value(conf, "server_wide_modules").expect("modules");
        assert_eq!(
            redis.is_some(),
            modules.split(',').any(|m| m == "session_redis"),
            "{ns}"
        );
        let web = objects(&tree, "Deployment", "odoo-web")
            .into_iter()
            .find(|(p, _)| folder(p) == ns)
            .expect("web")
            .1;
        let env = web["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
        assert!(
            !env.contains("QUEUE"),
            "{ns}: nothing reads a queue variable"
        );
        assert_eq!(
            redis.is_some(),
            env.contains("ODOO_SESSION_REDIS_HOST"),
            "{ns}"
        );
        if let Some((_, r)) = redis {
            let c = &r["spec"]["template"]["spec"]["containers"][0];
            assert!(
                c["livenessProbe"]["tcpSocket"].is_object(),
                "{ns}: Redis liveness"
            );
            assert!(c["readinessProbe"]["tcpSocket"].is_object());
        }
    }
    assert_eq!(objects(&tree, "Deployment", "redis").len(), 3);
    assert!(objects(&tree, "PersistentVolumeClaim", "redis-data").is_empty());
    // `redis.queues` is refused with what to do instead.
    let refused = common::example_edited(|path, text| {
        if path == "workloads/billing.yaml" {
            text.replace(
                "    sessions: true\n",
                "    sessions: true\n    queues: true\n",
            )
        } else {
            text
        }
    });
    let Err(ward_estate::LoadError::Invalid { diagnostics, .. }) = refused else {
        panic!("redis.queues must be refused");
    };
    assert!(
        format!("{diagnostics:?}").contains("PostgreSQL"),
        "{diagnostics:?}"
    );
}

#[test]
fn headers_keep_odoos_frames_and_the_websocket_is_not_buffered() {
    let tree = render(&common::example());
    let headers = objects(&tree, "Middleware", "security-headers");
    assert!(!headers.is_empty());
    for (path, mw) in headers {
        let h = &mw["spec"]["headers"];
        assert_eq!(h["customFrameOptionsValue"], "SAMEORIGIN", "{path}");
        assert_eq!(
            h["contentSecurityPolicy"], "frame-ancestors 'self'",
            "{path}"
        );
        assert!(
            h.get("frameDeny").is_none(),
            "{path}: DENY breaks the website editor"
        );
    }
    let buffering: Vec<String> = tree
        .files
        .values()
        .filter_map(|f| f.value.as_ref())
        .filter(|v| v["kind"] == "Middleware" && v["spec"].get("buffering").is_some())
        .filter_map(|v| v["metadata"]["name"].as_str().map(String::from))
        .collect();
    assert!(!buffering.is_empty());
    let mut websocket_routes = 0;
    for v in tree.files.values().filter_map(|f| f.value.as_ref()) {
        if v["kind"] != "IngressRoute" {
            continue;
        }
        for route in v["spec"]["routes"].as_array().expect("routes") {
            let to_websocket = route["services"][0]["name"] == "odoo-websocket";
            let buffered = route["middlewares"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| buffering.iter().any(|b| m["name"] == b.as_str()));
            assert_eq!(buffered, !to_websocket, "{}", route["match"]);
            if to_websocket {
                websocket_routes += 1;
                assert!(
                    route["match"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("PathPrefix(`/websocket`)")
                );
            }
        }
    }
    assert!(websocket_routes >= 4);
}

#[test]
fn odoo_sends_through_the_relay_with_a_referenced_password() {
    let estate = common::example();
    let tree = render(&estate);
    let relay = estate
        .platform
        .as_ref()
        .expect("platform")
        .spec
        .rendering
        .mail
        .outgoing
        .as_ref()
        .expect("relay");
    let pw = relay.password_ref.as_ref().expect("login");
    for (path, secret) in objects(&tree, "ExternalSecret", "odoo-config") {
        let data = &secret["spec"]["target"]["template"]["data"];
        for which in ["odoo-web.conf", "odoo-cron.conf"] {
            let conf = data[which].as_str().expect("conf");
            assert_eq!(
                conf_value(conf, "smtp_server"),
                Some(relay.server.host.value.as_str())
            );
            assert_eq!(conf_value(conf, "smtp_port"), Some("587"));
            assert_eq!(conf_value(conf, "smtp_ssl"), Some("True"), "STARTTLS");
            assert_eq!(
                conf_value(conf, "smtp_user"),
                relay.user.as_ref().map(|u| u.value.as_str())
            );
            assert_eq!(
                conf_value(conf, "smtp_password"),
                Some("{{ .smtp_password }}")
            );
        }
        let entry = secret["spec"]["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|d| d["secretKey"] == "smtp_password")
            .unwrap_or_else(|| panic!("{path}: no smtp_password reference"));
        assert_eq!(entry["remoteRef"]["key"], pw.key.value.as_str());
        assert_eq!(
            secret["spec"]["secretStoreRef"]["name"],
            pw.store.value.as_str()
        );
    }
}
