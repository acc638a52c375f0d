//! The compose target: one `compose.yaml` per host with Odoo web and cron, PostgreSQL,
//! Redis and Traefik; Traefik's file provider routes `/websocket`; secrets come from files.

mod common;

use serde_json::Value;
use ward_render::tree::Tree;

fn tree() -> Tree {
    match ward_render::render(&common::example(), ward_render::Target::Compose) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render for compose: {e}"),
    }
}

fn yaml(tree: &Tree, path: &str) -> Value {
    let Some(file) = tree.files.get(path) else {
        panic!(
            "{path} missing; have {:?}",
            tree.files.keys().collect::<Vec<_>>()
        );
    };
    ward_render::yaml::from_yaml(path, &file.text)
        .expect("parses")
        .remove(0)
}

#[test]
fn each_host_has_odoo_web_cron_postgres_redis_and_traefik() {
    let t = tree();
    let compose = yaml(&t, "dedicated-eu1/compose.yaml");
    let services = compose["services"].as_object().expect("services");
    for name in [
        "traefik",
        "billing-prod-odoo-web",
        "billing-prod-odoo-cron",
        "billing-prod-postgres",
        "billing-prod-redis",
    ] {
        assert!(
            services.contains_key(name),
            "{name} missing: {:?}",
            services.keys().collect::<Vec<_>>()
        );
    }
    let web = &services["billing-prod-odoo-web"];
    assert_eq!(
        web["networks"],
        serde_json::json!(["edge", "billing-prod-internal"])
    );
    assert_eq!(
        services["billing-prod-odoo-cron"]["networks"],
        serde_json::json!(["billing-prod-internal"])
    );
    assert_eq!(
        services["billing-prod-postgres"]["networks"],
        serde_json::json!(["billing-prod-internal"])
    );
    assert_eq!(
        compose["networks"]["billing-prod-internal"]["internal"],
        true
    );
    assert_eq!(web["read_only"], true);
    assert_eq!(web["cap_drop"], serde_json::json!(["ALL"]));
    assert!(
        web["image"]
            .as_str()
            .unwrap_or_default()
            .contains("@sha256:")
    );
    assert!(
        !t.files.keys().any(|p| p.starts_with("recovery-eu2/")),
        "a recovery cluster is not a compose host"
    );

    let web_conf = &t.files["dedicated-eu1/billing-prod/odoo-web.conf"].text;
    assert!(web_conf.lines().any(|l| l == "max_cron_threads = 0"));
    assert!(
        web_conf.lines().any(|l| l == "proxy_mode = True")
            && web_conf.lines().any(|l| l == "list_db = False")
    );
    assert!(
        t.files["dedicated-eu1/billing-prod/odoo-cron.conf"]
            .text
            .lines()
            .any(|l| l == "max_cron_threads = 2")
    );
    let shared = yaml(&t, "shared-eu1/compose.yaml");
    assert!(
        shared["services"]
            .as_object()
            .expect("services")
            .contains_key("odoo-shared-production-v17-odoo-web")
    );
    let sql = &t.files["shared-eu1/odoo-shared-production-v17/initdb/10-databases.sql"].text;
    assert!(
        sql.contains("CREATE DATABASE \"portal.st-marys.care.example\""),
        "{sql}"
    );
}

#[test]
fn traefik_routes_websocket_to_the_gevent_port_with_tls() {
    let t = tree();
    let dynamic = yaml(&t, "dedicated-eu1/traefik/billing-prod.yaml");
    let routers = &dynamic["http"]["routers"];
    let ws = &routers["billing-prod-websocket"];
    assert!(
        ws["rule"]
            .as_str()
            .unwrap_or_default()
            .contains("PathPrefix(`/websocket`)")
    );
    assert!(ws["priority"].as_i64() > routers["billing-prod"]["priority"].as_i64());
    let service = ws["service"].as_str().unwrap_or_default();
    assert_eq!(
        dynamic["http"]["services"][service]["loadBalancer"]["servers"][0]["url"],
        "http://billing-prod-odoo-web:8072"
    );
    assert_eq!(
        dynamic["tls"]["certificates"][0]["certFile"],
        "/etc/traefik/tls/billing.st-marys.care.example.crt"
    );
    assert!(
        dynamic["http"]["middlewares"]["billing-prod-headers"]["headers"]["stsSeconds"].as_i64()
            > Some(0)
    );
}

#[test]
fn secrets_come_from_files_never_inline() {
    let t = tree();
    for host in ["dedicated-eu1", "shared-eu1"] {
        let compose = yaml(&t, &format!("{host}/compose.yaml"));
        for (name, secret) in compose["secrets"].as_object().expect("secrets") {
            let file = secret["file"].as_str().unwrap_or_default();
            assert!(
                file.starts_with("./secrets/"),
                "{name} is read from a file: {secret}"
            );
            assert_eq!(
                secret.as_object().map(|m| m.len()),
                Some(1),
                "{name}: only `file`"
            );
        }
        for (name, service) in compose["services"].as_object().expect("services") {
            for (key, value) in service["environment"].as_object().into_iter().flatten() {
                if key.contains("PASSWORD") || key.contains("SECRET") {
                    assert!(
                        key.ends_with("_FILE")
                            && value
                                .as_str()
                                .unwrap_or_default()
                                .starts_with("/run/secrets/"),
                        "{name}.{key}"
                    );
                }
            }
        }
    }
    for (path, file) in &t.files {
        for line in file.text.lines() {
            assert!(
                ward_estate::secrets::credential_shape(line).is_none(),
                "{path}: {line}"
            );
            if let Some((key, value)) = line.split_once(" = ")
                && (key.contains("passw") || key.contains("secret"))
            {
                assert!(
                    value.starts_with("{{ .") && value.ends_with(" }}"),
                    "{path}: {line}"
                );
            }
        }
    }
}

#[test]
fn compose_tree_is_deterministic_and_pinned() {
    let a = tree();
    let b = tree();
    let text = |t: &Tree| {
        t.files
            .iter()
            .map(|(p, f)| format!("# ---- {p}\n{}", f.text))
            .collect::<String>()
    };
    assert_eq!(text(&a), text(&b));
    insta::assert_snapshot!("example-compose-tree", text(&a));
}
