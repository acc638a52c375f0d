//! Compose, for small estates on single hosts: each cluster of the estate is one host with
//! a `compose.yaml` (Odoo web and cron, PostgreSQL, Redis, Traefik) and Traefik's file
//! provider configuration for TLS and `/websocket`. Secrets come from files, never inline.
//!
//! Layout: `<host>/compose.yaml`, `<host>/traefik/<stack>.yaml`,
//! `<host>/<stack>/odoo-{web,cron}.conf`, `<host>/<stack>/initdb/10-databases.sql`; the
//! operator provides `<host>/secrets/<stack>/{admin_passwd,db_password,postgres_password}`
//! and `<host>/tls/<hostname>.{crt,key}`. Tier 1 is refused: see [`render`].

use crate::odoo::{self, HTTP_PORT, Role as OdooRole, WEBSOCKET_PORT};
use crate::stack::{Settings, Stack, stacks};
use crate::tree::{ObjectInfo, Tree, TreeFile};
use crate::{RenderError, yaml};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use ward_estate::Estate;
use ward_estate::model::Stage;

/// Traefik v3, the version whose file-provider syntax is rendered.
pub const TRAEFIK_IMAGE: &str = "traefik:v3.3";
/// Where compose mounts a service's secrets.
pub const SECRETS_DIR: &str = "/run/secrets";
/// The `postgres` image's superuser: it runs the init scripts and nothing else uses it.
pub const SUPERUSER: &str = "postgres";

/// PostgreSQL for single hosts (CloudNativePG's images need the operator), of the major
/// the Kubernetes clusters run: the platform's `rendering.postgresImage` as CloudNativePG
/// reads it, else [`crate::stack::POSTGRES_MAJOR`], so that dumps move between the two.
pub fn postgres_image(settings: &Settings) -> String {
    let major = crate::kubernetes::postgres_major(settings.postgres_image.as_deref())
        .unwrap_or(crate::stack::POSTGRES_MAJOR);
    format!("postgres:{major}-alpine")
}

/// Renders every non-recovery cluster of the estate as one compose host.
///
/// A tier-1 environment is refused: a compose host has neither continuous WAL archiving
/// nor Ward's backup jobs, so nothing on it would meet a tier-1 RPO.
pub fn render(estate: &Estate) -> Result<Tree, RenderError> {
    let platform = estate.platform.as_ref().ok_or(RenderError::NoPlatform)?;
    let settings = Settings::from_platform(&platform.spec)?;
    let stacks = stacks(estate, &settings)?;
    if let Some(m) = stacks
        .iter()
        .flat_map(|s| &s.members)
        .find(|m| m.env.classification.tier == 1)
    {
        return Err(RenderError::ComposeTier1(m.env.address()));
    }
    let mut by_host: BTreeMap<&str, Vec<&Stack<'_>>> = BTreeMap::new();
    for s in &stacks {
        by_host.entry(s.cluster.as_str()).or_default().push(s);
    }
    let mut tree = Tree {
        target: crate::Target::Compose,
        ..Tree::default()
    };
    for (host, stacks) in by_host {
        render_host(&mut tree, &settings, host, &stacks);
    }
    Ok(tree)
}

/// What a compose file serves, for the plan's grouping and risk.
struct Scope {
    owners: Vec<String>,
    tier: u8,
    stage: Stage,
}

fn put(tree: &mut Tree, path: String, text: String, kind: &str, scope: &Scope) {
    let value = if path.ends_with(".yaml") {
        yaml::from_yaml(&path, &text)
            .ok()
            .and_then(|d| d.into_iter().next())
    } else {
        None
    };
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    tree.files.insert(
        path,
        TreeFile {
            text,
            object: Some(ObjectInfo {
                kind: kind.to_string(),
                name,
                owners: scope.owners.clone().into(),
                tier: scope.tier,
                stage: scope.stage,
            }),
            value,
        },
    );
}

/// The hardening every container gets: no new privileges, no capabilities, read-only root.
fn harden(service: &mut Value, user: &str) {
    service["read_only"] = json!(true);
    service["cap_drop"] = json!(["ALL"]);
    service["security_opt"] = json!(["no-new-privileges:true"]);
    service["user"] = json!(user);
    service["restart"] = json!("unless-stopped");
}

fn render_host(tree: &mut Tree, settings: &Settings, host: &str, stacks: &[&Stack<'_>]) {
    let mut services = serde_json::Map::new();
    let mut networks = serde_json::Map::new();
    let mut volumes = serde_json::Map::new();
    let mut secrets = serde_json::Map::new();
    let mut traefik = json!({
        "image": TRAEFIK_IMAGE,
        "command": [
            "--providers.file.directory=/etc/traefik/dynamic",
            "--providers.file.watch=true",
            "--entrypoints.web.address=:80",
            "--entrypoints.web.http.redirections.entrypoint.to=websecure",
            "--entrypoints.websecure.address=:443",
            "--ping=true",
        ],
        "ports": ["80:80", "443:443"],
        "volumes": ["./traefik:/etc/traefik/dynamic:ro", "./tls:/etc/traefik/tls:ro"],
        "networks": [],
        "healthcheck": {"test": ["CMD", "traefik", "healthcheck", "--ping"], "interval": "30s"},
    });
    // Traefik binds 80 and 443: it keeps the one capability that needs.
    harden(&mut traefik, "0:0");
    traefik["cap_add"] = json!(["NET_BIND_SERVICE"]);

    let mut host_scope = Scope {
        owners: Vec::new(),
        tier: 3,
        stage: Stage::Development,
    };
    for s in stacks {
        let ns = s.namespace.as_str();
        let scope = Scope {
            owners: s.addresses(),
            tier: s.tier,
            stage: s.stage,
        };
        host_scope.owners.extend(scope.owners.iter().cloned());
        host_scope.tier = host_scope.tier.min(s.tier);
        host_scope.stage = host_scope.stage.max(s.stage);
        let net = format!("{ns}-internal");
        // The stack's own network has no route out: PostgreSQL and Redis live only there.
        networks.insert(net.clone(), json!({"internal": true}));
        // Traefik reaches each stack's web pods on that stack's own edge network, so one
        // stack's Odoo never shares a network with another's.
        let edge = format!("{ns}-edge");
        networks.insert(edge.clone(), json!({}));
        if let Some(list) = traefik["networks"].as_array_mut() {
            list.push(json!(edge));
        }
        // Cron sends mail and calls integrations: a network with a route out and nothing
        // else on it.
        let egress = format!("{ns}-egress");
        networks.insert(egress.clone(), json!({}));
        let db_service = format!("{ns}-postgres");
        // The owner of the stack's databases, resolved once in `ward-estate`: Odoo lists
        // only the databases its role owns.
        let user = s.members.first().map_or_else(
            || ward_estate::resolve::SHARED_ODOO_ROLE.to_string(),
            |m| m.env.database.owner.clone(),
        );
        let relay = settings.mail.outgoing.as_ref();
        let relay_login = relay.is_some_and(|r| r.password_ref.is_some());
        let mut secret_keys = vec!["admin_passwd", "db_password"];
        if relay_login {
            secret_keys.push("smtp_password");
        }
        // The superuser's password stays with the postgres container; Odoo never has it.
        for key in secret_keys.iter().chain(&["postgres_password"]) {
            secrets.insert(
                format!("{ns}-{key}"),
                json!({"file": format!("./secrets/{ns}/{key}")}),
            );
        }
        // Web and cron containers get the same limits; each conf is sized from them.
        let cpu = s.cpu_millicores.max(500);
        let memory = s.memory_bytes.max(512 << 20);
        let mut server_wide = vec!["base", "web"];
        if s.redis_sessions {
            server_wide.push("session_redis");
        }
        for role in [OdooRole::Web, OdooRole::Cron] {
            let which = if role == OdooRole::Web { "web" } else { "cron" };
            let sizing = odoo::sizing(role, cpu, memory);
            let conf = odoo::conf(&odoo::ConfInput {
                role,
                sizing: &sizing,
                db_host: &db_service,
                db_port: 5432,
                db_user: &user,
                db_name: if s.dedicated() {
                    s.members.first().map(|m| m.database.as_str())
                } else {
                    None
                },
                dbfilter: &s.dbfilter(),
                db_sslmode: "prefer",
                admin_passwd_ref: "{{ .admin_passwd }}",
                db_password_ref: "{{ .db_password }}",
                server_wide_modules: &server_wide,
                smtp: relay.map(|r| odoo::SmtpInput {
                    host: &r.server.host.value,
                    port: u16::try_from(r.server.port.value).unwrap_or(587),
                    user: r.user.as_ref().map(|u| u.value.as_str()),
                    password_ref: relay_login.then_some("{{ .smtp_password }}"),
                    starttls: true,
                }),
            });
            put(
                tree,
                format!("{host}/{ns}/odoo-{which}.conf"),
                conf,
                "OdooConfig",
                &scope,
            );
            // The credentials are read from secret files into a config under /tmp (a
            // tmpfs) at start; they never appear in the compose file or the environment.
            let start = "python3 -c 'import pathlib as p\n\
t = p.Path(\"/etc/odoo/odoo.conf\").read_text()\n\
s = lambda k: p.Path(\"/run/secrets/\" + k)\n\
ks=(\"admin_passwd\", \"db_password\", \"smtp_password\")\n\
for k in ks: t = t.replace(\"{{ .\" + k + \" }}\", s(k).read_text().strip()) if s(k).exists() else t\n\
f = p.Path(\"/tmp/odoo.conf\"); f.touch(mode=0o600); f.write_text(t)' && exec odoo -c /tmp/odoo.conf";
            let mut svc = json!({
                "image": s.image,
                "entrypoint": ["sh", "-c", start],
                "volumes": [
                    format!("./{ns}/odoo-{which}.conf:/etc/odoo/odoo.conf:ro"),
                    format!("{ns}-filestore:{}", odoo::DATA_DIR),
                ],
                "tmpfs": ["/tmp"],
                "secrets": secret_keys.iter().map(|k| json!({"source": format!("{ns}-{k}"), "target": k})).collect::<Vec<_>>(),
                "networks": if role == OdooRole::Web { json!([edge, net]) } else { json!([egress, net]) },
                "depends_on": {db_service.clone(): {"condition": "service_healthy"}},
                "healthcheck": {
                    "test": ["CMD", "python3", "-c", format!("import urllib.request; urllib.request.urlopen('http://localhost:{HTTP_PORT}/web/health', timeout=5)")],
                    "interval": "30s", "timeout": "10s", "retries": 3,
                },
                "deploy": {"resources": {"limits": {
                    "cpus": format!("{:.1}", f64::from(cpu) / 1000.0),
                    "memory": crate::stack::quantity(memory).replace("Gi", "g").replace("Mi", "m"),
                }}},
            });
            if s.redis_sessions {
                // Read by `session_redis`, loaded server-wide above.
                svc["environment"] = json!({
                    "ODOO_SESSION_REDIS": "1",
                    "ODOO_SESSION_REDIS_HOST": format!("{ns}-redis"),
                    "ODOO_SESSION_REDIS_PORT": "6379",
                    "ODOO_SESSION_REDIS_SSL": "0",
                    "ODOO_SESSION_REDIS_PREFIX": ns,
                });
            }
            harden(&mut svc, "101:101");
            services.insert(format!("{ns}-odoo-{which}"), svc);
        }
        volumes.insert(format!("{ns}-filestore"), json!({}));
        volumes.insert(format!("{ns}-pgdata"), json!({}));

        put(
            tree,
            format!("{host}/{ns}/initdb/10-databases.sql"),
            init_sql(s, &user),
            "InitSql",
            &scope,
        );
        // Each database's setup (CONNECT, extensions, the immutable `unaccent` wrapper),
        // the same text the Kubernetes tree runs, in the database, as its owner.
        let mut setup = String::from("-- Rendered by ward: each database's setup.\n");
        for m in &s.members {
            let db = crate::postgres::ident(&m.database);
            setup.push_str(&format!(
                "\\connect {db}\nSET ROLE {};\n",
                crate::postgres::ident(&m.env.database.owner)
            ));
            setup.push_str(&crate::postgres::database_setup_sql(&m.database));
            setup.push_str("RESET ROLE;\n");
        }
        put(
            tree,
            format!("{host}/{ns}/initdb/20-database-setup.sql"),
            setup,
            "InitSql",
            &scope,
        );
        let mut pg = json!({
            "image": postgres_image(settings),
            "environment": {
                "POSTGRES_USER": SUPERUSER,
                "POSTGRES_DB": "postgres",
                "POSTGRES_PASSWORD_FILE": format!("{SECRETS_DIR}/postgres_password"),
                "PGDATA": "/var/lib/postgresql/data/pgdata",
            },
            "volumes": [
                format!("{ns}-pgdata:/var/lib/postgresql/data"),
                format!("./{ns}/initdb:/docker-entrypoint-initdb.d:ro"),
            ],
            "tmpfs": ["/tmp", "/var/run/postgresql"],
            "secrets": [
                {"source": format!("{ns}-postgres_password"), "target": "postgres_password"},
                {"source": format!("{ns}-db_password"), "target": "db_password"},
            ],
            "networks": [net],
            "healthcheck": {"test": ["CMD", "pg_isready", "-U", SUPERUSER, "-d", "postgres"], "interval": "10s", "retries": 5},
        });
        harden(&mut pg, "70:70");
        services.insert(db_service.clone(), pg);
        if s.redis_sessions {
            // Sessions only: nothing is kept on disk.
            let mut redis = json!({
                "image": settings.redis_image,
                "command": ["redis-server", "--save", "", "--appendonly", "no"],
                "volumes": [format!("{ns}-redis:/data")],
                "networks": [net],
            });
            harden(&mut redis, "999:999");
            volumes.insert(format!("{ns}-redis"), json!({}));
            services.insert(format!("{ns}-redis"), redis);
        }
        put(
            tree,
            format!("{host}/traefik/{ns}.yaml"),
            yaml::to_yaml(&traefik_config(s)),
            "TraefikDynamic",
            &scope,
        );
    }
    services.insert("traefik".into(), traefik);
    let compose = json!({
        "name": host,
        "services": services,
        "networks": networks,
        "volumes": volumes,
        "secrets": secrets,
    });
    host_scope.owners.sort();
    put(
        tree,
        format!("{host}/compose.yaml"),
        yaml::to_yaml(&compose),
        "Compose",
        &host_scope,
    );
}

/// PostgreSQL's init script for one stack, run once by the `postgres` image as its
/// superuser when the data folder is new. The role Odoo connects as is created here and
/// is no superuser (the image's `POSTGRES_USER` would be): it logs in, owns the stack's
/// databases and may do nothing else. Its password is read by psql from the secret file
/// (a backtick `\set`), so it is in no rendered file; `ON_ERROR_STOP` makes a failure stop
/// the container's first start rather than leave a half-made cluster.
pub fn init_sql(s: &Stack<'_>, user: &str) -> String {
    let role = user.replace('"', "\"\"");
    let mut sql = String::from(
        "-- Rendered by ward: the role Odoo connects as and the databases this stack serves.\n\
         \\set ON_ERROR_STOP on\n",
    );
    sql.push_str(&format!(
        "\\set odoo_password `cat {SECRETS_DIR}/db_password`\n\
         CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'odoo_password';\n\
         \\unset odoo_password\n"
    ));
    // One database per environment; on a shared stack the Odoo role owns them all.
    for m in &s.members {
        let db = m.database.replace('"', "\"\"");
        sql.push_str(&format!("CREATE DATABASE \"{db}\" OWNER \"{role}\";\n"));
        sql.push_str(&format!(
            "REVOKE CONNECT ON DATABASE \"{db}\" FROM PUBLIC;\n"
        ));
        sql.push_str(&format!(
            "GRANT CONNECT ON DATABASE \"{db}\" TO \"{role}\";\n"
        ));
    }
    sql
}

/// Traefik's file-provider configuration for one stack: a router per environment with
/// `/websocket` to the gevent port, HSTS and security headers, a body limit, and the
/// certificate files of each host.
fn traefik_config(s: &Stack<'_>) -> Value {
    let ns = s.namespace.as_str();
    let mut routers = serde_json::Map::new();
    let mut certificates = Vec::new();
    let mut middlewares = vec![format!("{ns}-headers"), format!("{ns}-body-limit")];
    // No buffering on `/websocket`: Traefik's buffering waits for a complete response.
    let mut websocket_middlewares = vec![format!("{ns}-headers")];
    if s.tier == 1 {
        middlewares.push(format!("{ns}-rate-limit"));
        websocket_middlewares.push(format!("{ns}-rate-limit"));
    }
    for m in &s.members {
        if m.spec.hosts.is_empty() {
            continue;
        }
        let rule = m
            .spec
            .hosts
            .iter()
            .map(|h| format!("Host(`{}`)", h.value))
            .collect::<Vec<_>>()
            .join(" || ");
        let slug = m.slug();
        routers.insert(
            slug.clone(),
            json!({"rule": rule, "entryPoints": ["websecure"], "service": format!("{ns}-http"), "middlewares": middlewares, "tls": {}, "priority": 10}),
        );
        routers.insert(
            format!("{slug}-websocket"),
            json!({"rule": format!("({rule}) && PathPrefix(`/websocket`)"), "entryPoints": ["websecure"], "service": format!("{ns}-websocket"), "middlewares": websocket_middlewares, "tls": {}, "priority": 100}),
        );
        for h in &m.spec.hosts {
            certificates.push(json!({
                "certFile": format!("/etc/traefik/tls/{}.crt", h.value),
                "keyFile": format!("/etc/traefik/tls/{}.key", h.value),
            }));
        }
    }
    let server = |port: u16| json!({"loadBalancer": {"servers": [{"url": format!("http://{ns}-odoo-web:{port}")}]}});
    let mut mw = serde_json::Map::new();
    mw.insert(
        format!("{ns}-headers"),
        json!({"headers": {
            "stsSeconds": 63_072_000, "stsIncludeSubdomains": true, "stsPreload": true, "forceSTSHeader": true,
            "customFrameOptionsValue": "SAMEORIGIN", "contentSecurityPolicy": "frame-ancestors 'self'",
            "contentTypeNosniff": true, "referrerPolicy": "strict-origin-when-cross-origin",
        }}),
    );
    mw.insert(
        format!("{ns}-body-limit"),
        json!({"buffering": {"maxRequestBodyBytes": 100u64 << 20}}),
    );
    if s.tier == 1 {
        mw.insert(
            format!("{ns}-rate-limit"),
            json!({"rateLimit": {"average": 100, "burst": 200, "period": "1s"}}),
        );
    }
    json!({
        "http": {
            "routers": routers,
            "services": {format!("{ns}-http"): server(HTTP_PORT), format!("{ns}-websocket"): server(WEBSOCKET_PORT)},
            "middlewares": mw,
        },
        "tls": {"certificates": certificates},
    })
}
