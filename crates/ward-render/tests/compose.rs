//! The compose target: one `compose.yaml` per host with Odoo web and cron, PostgreSQL,
//! Redis and Traefik; Traefik's file provider routes `/websocket`; secrets come from files.

mod common;

use serde_json::Value;
use ward_render::tree::Tree;

/// The example estate without its tier-1 environment, which compose refuses (see
/// `a_tier_1_environment_is_refused`).
fn compose_estate() -> ward_estate::Estate {
    let mut estate = common::example();
    estate.environments.retain(|e| e.classification.tier != 1);
    estate
}

fn tree() -> Tree {
    match ward_render::render(&compose_estate(), ward_render::Target::Compose) {
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
        "billing-staging-odoo-web",
        "billing-staging-odoo-cron",
        "billing-staging-postgres",
        "billing-staging-redis",
    ] {
        assert!(
            services.contains_key(name),
            "{name} missing: {:?}",
            services.keys().collect::<Vec<_>>()
        );
    }
    let web = &services["billing-staging-odoo-web"];
    assert_eq!(
        web["networks"],
        serde_json::json!(["billing-staging-edge", "billing-staging-internal"])
    );
    assert_eq!(
        services["billing-staging-odoo-cron"]["networks"],
        serde_json::json!(["billing-staging-egress", "billing-staging-internal"])
    );
    assert_eq!(
        services["billing-staging-postgres"]["networks"],
        serde_json::json!(["billing-staging-internal"])
    );
    assert_eq!(
        compose["networks"]["billing-staging-internal"]["internal"],
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

    let web_conf = &t.files["dedicated-eu1/billing-staging/odoo-web.conf"].text;
    assert!(web_conf.lines().any(|l| l == "max_cron_threads = 0"));
    assert!(
        web_conf.lines().any(|l| l == "proxy_mode = True")
            && web_conf.lines().any(|l| l == "list_db = False")
    );
    assert!(
        t.files["dedicated-eu1/billing-staging/odoo-cron.conf"]
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
    let dynamic = yaml(&t, "dedicated-eu1/traefik/billing-staging.yaml");
    let routers = &dynamic["http"]["routers"];
    let ws = &routers["billing-staging-websocket"];
    assert!(
        ws["rule"]
            .as_str()
            .unwrap_or_default()
            .contains("PathPrefix(`/websocket`)")
    );
    assert!(ws["priority"].as_i64() > routers["billing-staging"]["priority"].as_i64());
    let service = ws["service"].as_str().unwrap_or_default();
    assert_eq!(
        dynamic["http"]["services"][service]["loadBalancer"]["servers"][0]["url"],
        "http://billing-staging-odoo-web:8072"
    );
    assert_eq!(
        dynamic["tls"]["certificates"][0]["certFile"],
        "/etc/traefik/tls/billing-staging.st-marys.care.example.crt"
    );
    assert!(
        dynamic["http"]["middlewares"]["billing-staging-headers"]["headers"]["stsSeconds"].as_i64()
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

#[test]
fn a_tier_1_environment_is_refused() {
    // Compose has no WAL archive and no backup job: nothing would meet a tier-1 RPO.
    match ward_render::render(&common::example(), ward_render::Target::Compose) {
        Err(ward_render::RenderError::ComposeTier1(address)) => {
            assert_eq!(address, "billing/prod");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a tier-1 environment rendered for compose"),
    }
}

/// Compose's networking, as Docker applies it: two services reach each other when they
/// share a network, and a service reaches the outside when one of its networks is not
/// `internal`.
struct Networks {
    internal: std::collections::BTreeMap<String, bool>,
    of: std::collections::BTreeMap<String, Vec<String>>,
}

impl Networks {
    fn of(compose: &Value) -> Networks {
        let internal = compose["networks"]
            .as_object()
            .expect("networks")
            .iter()
            .map(|(n, v)| (n.clone(), v["internal"] == true))
            .collect();
        let of = compose["services"]
            .as_object()
            .expect("services")
            .iter()
            .map(|(name, svc)| {
                let nets = svc["networks"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                (name.clone(), nets)
            })
            .collect();
        Networks { internal, of }
    }

    fn reaches_outside(&self, service: &str) -> bool {
        self.of[service].iter().any(|n| !self.internal[n])
    }

    fn reach(&self, a: &str, b: &str) -> bool {
        self.of[a].iter().any(|n| self.of[b].contains(n))
    }
}

#[test]
fn cron_reaches_the_outside_and_stacks_share_no_network() {
    let t = tree();
    for host in ["dedicated-eu1", "shared-eu1"] {
        let compose = yaml(&t, &format!("{host}/compose.yaml"));
        let nets = Networks::of(&compose);
        let stack_of = |service: &str| -> Option<String> {
            ["-odoo-web", "-odoo-cron", "-postgres", "-redis"]
                .iter()
                .find_map(|suffix| service.strip_suffix(suffix).map(str::to_string))
        };
        let services: Vec<String> = nets.of.keys().cloned().collect();
        let mut crons = 0;
        for a in &services {
            match stack_of(a) {
                Some(_) if a.ends_with("-odoo-cron") || a.ends_with("-odoo-web") => {
                    // Mail, integrations, and for web Traefik's answers.
                    assert!(nets.reaches_outside(a), "{host}: {a} cannot reach out");
                    crons += usize::from(a.ends_with("-odoo-cron"));
                }
                Some(_) => assert!(
                    !nets.reaches_outside(a),
                    "{host}: {a} holds data and must have no route out"
                ),
                None => assert_eq!(a, "traefik"),
            }
            for b in &services {
                if a == b {
                    continue;
                }
                match (stack_of(a), stack_of(b)) {
                    (Some(x), Some(y)) if x != y => assert!(
                        !nets.reach(a, b),
                        "{host}: {a} and {b} are in different stacks and share a network"
                    ),
                    (None, Some(_)) => assert_eq!(
                        nets.reach(a, b),
                        b.ends_with("-odoo-web"),
                        "{host}: Traefik reaches {b}?"
                    ),
                    _ => {}
                }
            }
        }
        assert!(crons >= 1, "{host}: no cron service");
    }
}

#[test]
fn postgres_runs_the_major_kubernetes_runs() {
    let k8s = ward_render::render(&common::example(), ward_render::Target::Kubernetes)
        .expect("renders for kubernetes");
    let majors: std::collections::BTreeSet<u32> = k8s
        .objects()
        .filter(|(_, f)| f.object.as_ref().is_some_and(|o| o.kind == "Cluster"))
        .map(|(p, f)| {
            let v = f.parsed().expect("parses");
            let image = v["spec"]["imageName"].as_str().map(str::to_string);
            ward_render::kubernetes::postgres_major(image.as_deref())
                .unwrap_or_else(|| panic!("{p}: the major of {image:?} is unknown"))
        })
        .collect();
    assert_eq!(majors.len(), 1, "{majors:?}");
    let t = tree();
    for host in ["dedicated-eu1", "shared-eu1"] {
        let compose = yaml(&t, &format!("{host}/compose.yaml"));
        for (name, svc) in compose["services"].as_object().expect("services") {
            if !name.ends_with("-postgres") {
                continue;
            }
            let image = svc["image"].as_str().unwrap_or_default();
            let tag = image.split_once(':').map_or("", |(_, t)| t);
            let major: u32 = tag
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or_else(|_| panic!("{name}: no major in {image}"));
            assert!(
                majors.contains(&major),
                "{name}: {image} against {majors:?}"
            );
        }
    }
}

/// Runs each stack's rendered init script as the `postgres` image does (psql, as the
/// superuser, `ON_ERROR_STOP`), then checks what PostgreSQL says of the role Odoo's
/// rendered `odoo.conf` connects as.
#[test]
fn the_odoo_role_is_no_superuser_and_owns_its_databases_on_real_postgresql() {
    let t = tree();
    let scripts: Vec<(&String, &str)> = t
        .files
        .iter()
        .filter(|(p, _)| p.ends_with("/initdb/10-databases.sql"))
        .map(|(p, f)| (p, f.text.as_str()))
        .collect();
    assert!(scripts.len() >= 3, "{scripts:?}");
    for (path, sql) in scripts {
        let stack = path.trim_end_matches("/initdb/10-databases.sql");
        let conf = &t.files[&format!("{stack}/odoo-web.conf")].text;
        let user = conf
            .lines()
            .find_map(|l| l.strip_prefix("db_user = "))
            .expect("db_user")
            .to_string();
        let expected: Vec<String> = sql
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE DATABASE \""))
            .filter_map(|l| l.split_once('"').map(|(db, _)| db.to_string()))
            .collect();
        assert!(!expected.is_empty(), "{path}");

        let pg = match ward_pgtemp::TempCluster::start() {
            Ok(pg) => pg,
            Err(e) => panic!("PostgreSQL: {e}"),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        // The secret file compose mounts, as the operator writes it (newline included).
        let password_file = dir.path().join("db_password");
        std::fs::write(&password_file, "correct horse battery staple\n").expect("write");
        let secret = format!("{}/db_password", ward_render::compose::SECRETS_DIR);
        assert!(sql.contains(&secret), "{path} reads the password file");
        let script = dir.path().join("init.sql");
        std::fs::write(
            &script,
            sql.replace(&secret, &password_file.display().to_string()),
        )
        .expect("write");
        let out = std::process::Command::new(pg.bindir().join("psql"))
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(pg.socket_dir())
            .args([
                "-p",
                &pg.port().to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-f",
            ])
            .arg(&script)
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let attributes = pg
            .psql(&format!(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin \
                 FROM pg_roles WHERE rolname = '{user}'"
            ))
            .expect("query");
        assert_eq!(attributes, "f|f|f|f|f|t", "{path}: attributes of {user}");

        // As Odoo: log in with the secret file's password, list the databases the way
        // Odoo's `list_dbs` does (owned by the current user), create a table in each.
        let run = |db: &str, query: &str| {
            pg.psql_tcp(&user, "correct horse battery staple", "disable", db, query)
                .output()
                .expect("psql runs")
        };
        let listed = run(
            "postgres",
            "SELECT datname FROM pg_database WHERE datdba = (SELECT usesysid FROM pg_user \
             WHERE usename = current_user) AND NOT datistemplate AND datallowconn \
             AND datname NOT IN ('postgres') ORDER BY datname",
        );
        assert!(
            listed.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&listed.stderr)
        );
        let mut sorted = expected.clone();
        sorted.sort();
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>(),
            sorted,
            "{path}: Odoo's listing as {user}"
        );
        for db in &expected {
            let made = run(
                db,
                "CREATE TABLE res_partner (id serial PRIMARY KEY, name text)",
            );
            assert!(
                made.status.success(),
                "{path}: {user} cannot create tables in {db}: {}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        // And nothing a superuser could: no new database, no reading the server's files.
        for denied in [
            "CREATE DATABASE intruder",
            "SELECT pg_read_file('postgresql.conf')",
            "CREATE ROLE intruder",
        ] {
            let out = run("postgres", denied);
            assert!(!out.status.success(), "{path}: {user} may run {denied}");
        }
    }
}
