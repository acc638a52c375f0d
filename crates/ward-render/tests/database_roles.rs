//! The rendered PostgreSQL roles, databases, grants and pg_hba, on a real server: the
//! CloudNativePG objects of the example tree are translated into the SQL CloudNativePG
//! runs for them, then Odoo's database listing and `dbfilter`, Ward's backups and
//! restores, the tenant boundary, `CONNECT`, the `unaccent` indexes and the logs are
//! exercised as the roles Ward renders.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use ward_estate::Estate;
use ward_pgtemp::TempCluster;
use ward_render::kubernetes::DRILL_CLUSTER_LABEL;
use ward_render::tree::Tree;

fn render(estate: &Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("the estate does not render: {e}"),
    }
}

/// The major of the PostgreSQL the tests run, read from `postgres --version`.
fn local_major() -> u32 {
    let bindir = ward_pgtemp::find_bindir().expect("PostgreSQL binaries");
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .expect("postgres --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.split('.').next()?.parse().ok())
        .expect("a major version")
}

/// The example, rendered for the PostgreSQL major the tests run (the pg_hba form of the
/// drill role depends on it), and with `two_tenants` care-coordination moved to Odoo 17,
/// so that its production stack is shared by two tenants (st-marys' portal,
/// northside-clinic's coordination).
fn example_here(two_tenants: bool) -> Estate {
    let major = local_major();
    let estate = common::example_edited(|name, text| match name {
        "platform.yaml" => {
            assert!(
                text.contains("postgresql:17.5@sha256:"),
                "the example changed"
            );
            text.replace(
                "postgresql:17.5@sha256:",
                &format!("postgresql:{major}.0@sha256:"),
            )
        }
        "workloads/care-coordination.yaml" if two_tenants => {
            assert!(text.contains("version: \"16.0\""), "the example changed");
            text.replace("version: \"16.0\"", "version: \"17.0\"")
        }
        _ => text,
    });
    match estate {
        Ok(e) => e,
        Err(e) => panic!("the edited example does not load: {e:?}"),
    }
}

fn two_tenant_example() -> Estate {
    example_here(true)
}

fn value<'t>(tree: &'t Tree, path: &str) -> &'t Value {
    match tree.files.get(path).and_then(|f| f.value.as_ref()) {
        Some(v) => v,
        None => panic!("{path} is not rendered"),
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The password the translator gives a role (the rendered tree holds only references).
fn password(role: &str) -> String {
    format!("pw-{role}")
}

/// One environment of a rendered stack, as the resolved estate names it.
struct Tenant {
    address: String,
    slug: String,
    hosts: Vec<String>,
    database: String,
    /// The role Ward's backups and restores log in as.
    user: String,
    /// The role that owns the database, which Odoo logs in as.
    owner: String,
}

/// One PostgreSQL cluster of the tree, with what its objects say.
struct RenderedStack {
    folder: String,
    cluster: Value,
    databases: Vec<Value>,
    /// What the cron pod's `odoo-upgrade` init container runs before Odoo: per database,
    /// in its order, the setup SQL it reads from its mounted ConfigMap.
    upgrade_setup: Vec<(String, String)>,
    web_conf: String,
    cron_conf: String,
    tenants: Vec<Tenant>,
}

/// Every stack with a primary PostgreSQL cluster (`bootstrap.initdb`), with its tenants.
fn stacks(estate: &Estate, tree: &Tree) -> Vec<RenderedStack> {
    let mut out = Vec::new();
    for (path, file) in &tree.files {
        let Some(v) = &file.value else { continue };
        if v["kind"] != "Cluster" || v["apiVersion"] != "postgresql.cnpg.io/v1" {
            continue;
        }
        if v["spec"]["bootstrap"].get("initdb").is_none() {
            continue; // a standby in the recovery region
        }
        if v["metadata"]["labels"][DRILL_CLUSTER_LABEL.0] == DRILL_CLUSTER_LABEL.1 {
            continue; // the stack's drill cluster: `the_drill_cluster_*` below
        }
        if v["metadata"]["namespace"] == ward_render::metrics::CONTROL_PLANE_NAMESPACE {
            continue; // Ward's own store, no stack: `tests/control_plane.rs`
        }
        let folder = path
            .rsplit_once('/')
            .map(|(f, _)| f.to_string())
            .expect("a folder");
        let databases: Vec<Value> = tree
            .files
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("{folder}/database-")))
            .filter_map(|(_, f)| f.value.clone())
            .collect();
        let setup: BTreeMap<String, String> =
            value(tree, &format!("{folder}/configmap-database-setup.yaml"))["data"]
                .as_object()
                .expect("setup data")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
        let conf = |which: &str| {
            value(tree, &format!("{folder}/externalsecret-odoo-config.yaml"))["spec"]["target"]
                ["template"]["data"][which]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let upgrade_setup = upgrade_setup(tree, &folder);
        let (web_conf, cron_conf) = (conf("odoo-web.conf"), conf("odoo-cron.conf"));
        let tenants = estate
            .environments
            .iter()
            .filter(|e| setup.contains_key(&format!("{}-{}.sql", e.workload, e.environment)))
            .filter(|e| folder.starts_with(&format!("{}/", e.cluster)))
            .map(|e| {
                let spec = estate.workload(&e.workload).expect("workload");
                let env = spec
                    .spec
                    .environments
                    .iter()
                    .find(|x| x.name.value == e.environment)
                    .expect("environment");
                Tenant {
                    address: e.address(),
                    slug: format!("{}-{}", e.workload, e.environment),
                    hosts: env.hosts.iter().map(|h| h.value.clone()).collect(),
                    database: e.database.name.clone(),
                    user: e.database.user.clone(),
                    owner: e.database.owner.clone(),
                }
            })
            .collect();
        out.push(RenderedStack {
            folder,
            cluster: v.clone(),
            databases,
            upgrade_setup,
            web_conf,
            cron_conf,
            tenants,
        });
    }
    out
}

/// What the rendered cron pod's `odoo-upgrade` init container runs first for each
/// database (`odoo::UPGRADE_SCRIPT`): from each argument `<database>=<release>=<file>=
/// <modules>`, the file under its `DATABASE_SETUP_DIR` mount, found through the pod's
/// volume in the ConfigMap it names (the item whose path is that file).
fn upgrade_setup(tree: &Tree, folder: &str) -> Vec<(String, String)> {
    let pod =
        &value(tree, &format!("{folder}/deployment-odoo-cron.yaml"))["spec"]["template"]["spec"];
    let init = &pod["initContainers"][0];
    assert_eq!(init["name"], "odoo-upgrade", "{folder}");
    assert_eq!(init["args"][1], ward_render::odoo::UPGRADE_SCRIPT);
    let mount = init["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"] == ward_render::odoo::DATABASE_SETUP_DIR)
        .unwrap_or_else(|| panic!("{folder}: the init container mounts no setup"));
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let config_map = volume["configMap"]["name"].as_str().expect("a ConfigMap");
    let data = &value(tree, &format!("{folder}/configmap-{config_map}.yaml"))["data"];
    strs(&init["args"])[2..]
        .iter()
        .map(|arg| {
            let parts: Vec<&str> = arg.splitn(4, '=').collect();
            let [database, _release, file, _modules] = parts[..] else {
                panic!("{folder}: an argument of another form: {arg}")
            };
            let key = volume["configMap"]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["path"] == file)
                .and_then(|i| i["key"].as_str())
                .unwrap_or_else(|| panic!("{folder}: {file} is not mounted"));
            let sql = data[key]
                .as_str()
                .unwrap_or_else(|| panic!("{folder}: {config_map} has no key {key}"));
            (database.to_string(), sql.to_string())
        })
        .collect()
}

/// The SQL CloudNativePG runs for a rendered `Cluster` and its `Database` objects, as the
/// superuser, in order: `bootstrap.initdb` (the owner role, `postInitSQL` in `postgres`,
/// the application database, `postInitApplicationSQL` in it, the owner's password from
/// its Secret), then `managed.roles`, then each `Database`. Steps are `(database, sql)`.
fn cnpg_sql(stack: &RenderedStack) -> Vec<(String, String)> {
    let spec = &stack.cluster["spec"];
    let initdb = &spec["bootstrap"]["initdb"];
    let app = initdb["database"].as_str().unwrap_or("app").to_string();
    let owner = initdb["owner"].as_str().unwrap_or(&app).to_string();
    let mut steps = vec![(
        "postgres".to_string(),
        format!("CREATE ROLE {} LOGIN", ident(&owner)),
    )];
    for sql in strs(&initdb["postInitSQL"]) {
        steps.push(("postgres".into(), sql));
    }
    steps.push((
        "postgres".into(),
        format!("CREATE DATABASE {} OWNER {}", ident(&app), ident(&owner)),
    ));
    for sql in strs(&initdb["postInitApplicationSQL"]) {
        steps.push((app.clone(), sql));
    }
    steps.push((
        "postgres".into(),
        format!(
            "ALTER ROLE {} PASSWORD '{}'",
            ident(&owner),
            password(&owner)
        ),
    ));
    for role in spec["managed"]["roles"].as_array().into_iter().flatten() {
        let name = role["name"].as_str().expect("role name");
        let flag = |field: &str, yes: &str, no: &str| {
            if role[field] == true { yes } else { no }.to_string()
        };
        let options = [
            flag("login", "LOGIN", "NOLOGIN"),
            flag("inherit", "INHERIT", "NOINHERIT"),
            flag("superuser", "SUPERUSER", "NOSUPERUSER"),
            flag("createdb", "CREATEDB", "NOCREATEDB"),
            flag("createrole", "CREATEROLE", "NOCREATEROLE"),
            flag("replication", "REPLICATION", "NOREPLICATION"),
            flag("bypassrls", "BYPASSRLS", "NOBYPASSRLS"),
            format!("PASSWORD '{}'", password(name)),
        ]
        .join(" ");
        // CloudNativePG alters a role that exists (the initdb owner) and creates the rest.
        let verb = if name == owner { "ALTER" } else { "CREATE" };
        steps.push((
            "postgres".into(),
            format!("{verb} ROLE {} {options}", ident(name)),
        ));
        for group in strs(&role["inRoles"]) {
            steps.push((
                "postgres".into(),
                format!("GRANT {} TO {}", ident(&group), ident(name)),
            ));
        }
    }
    for db in &stack.databases {
        let spec = &db["spec"];
        assert_eq!(spec["ensure"], "present");
        let name = spec["name"].as_str().expect("database name");
        let owner = spec["owner"].as_str().expect("database owner");
        let sql = if name == app {
            format!("ALTER DATABASE {} OWNER TO {}", ident(name), ident(owner))
        } else {
            format!("CREATE DATABASE {} OWNER {}", ident(name), ident(owner))
        };
        steps.push(("postgres".into(), sql));
    }
    steps
}

/// A server built as CloudNativePG would build the stack's cluster: TLS on, the rendered
/// pg_hba lines followed by CloudNativePG's final `host all all all scram-sha-256`, the
/// roles and databases of [`cnpg_sql`], then what the cron pod's init container runs
/// before Odoo ([`upgrade_setup`]), as the role its `odoo.conf` logs in as, over TLS, as
/// one statement string in one transaction (as psycopg2's `execute` sends it), twice:
/// it runs on every start of the pod.
fn server(stack: &RenderedStack) -> TempCluster {
    let pg = TempCluster::start().expect("start PostgreSQL");
    pg.enable_tls().expect("TLS");
    for (db, sql) in cnpg_sql(stack) {
        if let Err(e) = pg.psql_db(&db, &sql) {
            panic!("{}: `{sql}` failed: {e}", stack.folder);
        }
    }
    let mut hba = strs(&stack.cluster["spec"]["postgresql"]["pg_hba"]);
    hba.push("host all all all scram-sha-256".into());
    let lines: Vec<&str> = hba.iter().map(String::as_str).collect();
    pg.set_hba(&lines).expect("pg_hba");
    let user = conf_value(&stack.cron_conf, "db_user");
    // The rights it runs with: ownership, nothing more.
    let rights = pg
        .psql(&format!(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = {}",
            literal(user)
        ))
        .expect("query");
    assert_eq!(rights, "f|f|f", "{}: {user}", stack.folder);
    let mut set_up: Vec<&str> = Vec::new();
    for _start in 0..2 {
        set_up.clear();
        for (database, sql) in &stack.upgrade_setup {
            ok(&pg, user, database, sql);
            set_up.push(database);
        }
    }
    // Every database of the stack, and each as its owner.
    let mut databases: Vec<&str> = stack.tenants.iter().map(|t| t.database.as_str()).collect();
    databases.sort_unstable();
    set_up.sort_unstable();
    assert_eq!(set_up, databases, "{}", stack.folder);
    for t in &stack.tenants {
        assert_eq!(user, t.owner, "{}: the setup runs as its owner", t.address);
    }
    pg
}

/// The owner the rendered objects give a database: its `Database` object's, else (the
/// bootstrap database of a dedicated cluster) `bootstrap.initdb.owner`.
fn rendered_owner(stack: &RenderedStack, database: &str) -> String {
    stack
        .databases
        .iter()
        .find(|d| d["spec"]["name"] == database)
        .map_or(
            &stack.cluster["spec"]["bootstrap"]["initdb"]["owner"],
            |d| &d["spec"]["owner"],
        )
        .as_str()
        .expect("an owner")
        .to_string()
}

fn login(pg: &TempCluster, user: &str, db: &str, sql: &str) -> Output {
    pg.psql_tcp(user, &password(user), "require", db, sql)
        .output()
        .expect("run psql")
}

fn ok(pg: &TempCluster, user: &str, db: &str, sql: &str) -> String {
    let out = login(pg, user, db, sql);
    assert!(
        out.status.success(),
        "{user} on {db}: `{sql}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn refused(pg: &TempCluster, user: &str, db: &str) -> String {
    let out = login(pg, user, db, "SELECT 1");
    assert!(!out.status.success(), "{user} reached {db}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Odoo's `list_dbs` (`odoo/service/db.py`), run where Odoo runs it: on `postgres`.
const ODOO_LIST_DBS: &str = "select datname from pg_database where datdba=(select usesysid from pg_user where usename=current_user) and not datistemplate and datallowconn and datname not in ('postgres') order by datname";

/// Odoo's `db_filter` (`odoo/http.py`): the port and a leading `www.` are dropped from
/// the host, `%h` becomes the escaped host and `%d` its first label, and a database is
/// kept when the expression matches at its start (`re.match`).
fn odoo_db_filter(dbfilter: &str, host: &str, dbs: &[String]) -> Vec<String> {
    let host = host.split(':').next().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let domain = host.split('.').next().unwrap_or_default();
    let pattern = dbfilter
        .replace("%h", &regex::escape(host))
        .replace("%d", &regex::escape(domain));
    let re = regex::Regex::new(&format!("^(?:{pattern})")).expect("dbfilter is a regex");
    dbs.iter().filter(|d| re.is_match(d)).cloned().collect()
}

fn conf_value<'c>(conf: &'c str, key: &str) -> &'c str {
    conf.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("`{key}` missing from\n{conf}"))
}

/// Tables as Odoo's install creates them, as the Odoo role: a table with a sequence, and
/// the trigram index Odoo 17+ builds on `unaccent(column)` once it finds an immutable
/// `public.unaccent` (`has_unaccent` in `odoo/modules/db.py`).
fn odoo_install(pg: &TempCluster, t: &Tenant) {
    let status = ok(
        pg,
        &t.owner,
        &t.database,
        "SELECT p.provolatile FROM pg_proc p LEFT JOIN pg_catalog.pg_namespace ns ON p.pronamespace = ns.oid \
         WHERE p.proname = 'unaccent' AND p.pronargs = 1 AND ns.nspname = 'public'",
    );
    assert_eq!(
        status, "i",
        "{}: Odoo finds an indexable unaccent",
        t.address
    );
    // The extensions, where the setup puts them: pg_trgm where Odoo's `%` and trigram
    // indexes find it, unaccent out of `public`, which holds the wrapper instead.
    let extensions = ok(
        pg,
        &t.owner,
        &t.database,
        "SELECT e.extname || ' ' || n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE e.extname IN ('pg_trgm', 'unaccent') ORDER BY 1",
    );
    assert_eq!(
        extensions, "pg_trgm public\nunaccent unaccent",
        "{}",
        t.address
    );
    ok(
        pg,
        &t.owner,
        &t.database,
        &format!(
            "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL, state varchar);
             INSERT INTO ir_module_module (name, state) VALUES ('base', 'installed');
             CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar);
             INSERT INTO res_partner (name, email) VALUES ('Zoë Ångström', 'zoe@{0}'), ('José Müller', 'jose@{0}');
             CREATE INDEX IF NOT EXISTS res_partner__name_index ON res_partner USING gin (unaccent(name) gin_trgm_ops);",
            t.database
        ),
    );
    // The index serves an accent-blind search, as Odoo's `ilike` with unaccent writes it.
    let found = ok(
        pg,
        &t.owner,
        &t.database,
        "SET enable_seqscan = off; SELECT name FROM res_partner WHERE unaccent(name) ILIKE unaccent('%angstrom%')",
    );
    assert_eq!(found, "Zoë Ångström");
}

fn pg_tool(pg: &TempCluster, tool: &str, user: &str, args: &[&str]) -> Output {
    Command::new(pg.bindir().join(tool))
        .args(["-h", pg.host(), "-p", &pg.port().to_string(), "-U", user])
        .args(args)
        .env("PGPASSWORD", password(user))
        .env("PGSSLMODE", "require")
        .output()
        .expect("run a PostgreSQL tool")
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn odoo_lists_its_databases_and_each_host_finds_exactly_its_own() {
    // Stacks of the example that the edited one renders alike (same folder, same
    // databases) are checked once, on the edited one.
    let edited_estate = example_here(true);
    let edited_stacks: Vec<(String, Vec<String>)> = stacks(&edited_estate, &render(&edited_estate))
        .iter()
        .map(|s| {
            (
                s.folder.clone(),
                s.tenants.iter().map(|t| t.database.clone()).collect(),
            )
        })
        .collect();
    for (edited, estate) in [(false, example_here(false)), (true, edited_estate)] {
        let tree = render(&estate);
        let all = stacks(&estate, &tree);
        assert!(all.len() >= 4, "every stack of the example");
        assert_eq!(
            all.iter().any(|s| s.tenants.len() >= 2),
            edited,
            "the edited example has a stack shared by two tenants"
        );
        for stack in &all {
            assert!(!stack.tenants.is_empty(), "{}", stack.folder);
            let databases: Vec<String> = stack.tenants.iter().map(|t| t.database.clone()).collect();
            if !edited && edited_stacks.contains(&(stack.folder.clone(), databases)) {
                continue;
            }
            let pg = server(stack);
            let owner = conf_value(&stack.web_conf, "db_user");
            for t in &stack.tenants {
                assert_eq!(owner, t.owner, "Odoo logs in as the owner of {}", t.address);
                odoo_install(&pg, t);
            }
            // As Odoo: its listing, on `postgres`, over TLS, then its filter per host.
            let listed: Vec<String> = ok(&pg, owner, "postgres", ODOO_LIST_DBS)
                .lines()
                .map(str::to_string)
                .collect();
            let mut expected: Vec<String> =
                stack.tenants.iter().map(|t| t.database.clone()).collect();
            expected.sort();
            assert_eq!(
                listed, expected,
                "{}: Odoo lists its databases",
                stack.folder
            );
            let dbfilter = conf_value(&stack.web_conf, "dbfilter");
            for t in &stack.tenants {
                for host in &t.hosts {
                    for request_host in [host.clone(), format!("{host}:443")] {
                        assert_eq!(
                            odoo_db_filter(dbfilter, &request_host, &listed),
                            vec![t.database.clone()],
                            "{}: host {request_host} finds its own database",
                            stack.folder
                        );
                    }
                }
            }
            // No stray `app` database or role: CloudNativePG makes one without initdb.
            let stray = pg.psql(
                "SELECT count(*) FROM pg_database WHERE datname = 'app' UNION ALL SELECT count(*) FROM pg_roles WHERE rolname = 'app'",
            );
            assert_eq!(stray.expect("query"), "0\n0");
        }
    }
}

#[test]
fn backups_read_everything_and_tenants_stay_in_their_own_database() {
    let estate = two_tenant_example();
    let tree = render(&estate);
    let all = stacks(&estate, &tree);
    let shared = all
        .iter()
        .find(|s| s.tenants.len() >= 2)
        .expect("a stack shared by two tenants");
    let pg = server(shared);
    for t in &shared.tenants {
        odoo_install(&pg, t);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for t in &shared.tenants {
        assert_ne!(t.user, t.owner, "a tenant's own role on a shared stack");
        // As the backup role: pg_dump reads every table Odoo created.
        let dump = dir.path().join(format!("{}.dump", t.slug));
        let out = pg_tool(
            &pg,
            "pg_dump",
            &t.user,
            &[
                "-Fc",
                "-d",
                &t.database,
                "-f",
                dump.to_str().expect("a UTF-8 path"),
            ],
        );
        succeeded(&format!("pg_dump of {} as {}", t.database, t.user), &out);
        // As that tenant's role, every other tenant's database is refused, and so are
        // `postgres` and `template1`.
        for other in shared.tenants.iter().filter(|o| o.database != t.database) {
            let err = refused(&pg, &t.user, &other.database);
            assert!(err.contains("rejects connection"), "{err}");
        }
        for db in ["postgres", "template1"] {
            refused(&pg, &t.user, db);
        }
        // Without TLS, no role of the stack gets in, not even to its own database.
        for user in [&t.user, &t.owner] {
            let out = pg
                .psql_tcp(user, &password(user), "disable", &t.database, "SELECT 1")
                .output()
                .expect("psql");
            assert!(!out.status.success(), "{user} logged in without TLS");
        }
    }
}

#[test]
fn connect_is_revoked_from_public_on_every_database() {
    let estate = two_tenant_example();
    let tree = render(&estate);
    for stack in stacks(&estate, &tree) {
        let pg = server(&stack);
        // A login role with no grant, admitted by pg_hba (CloudNativePG's last line).
        pg.psql(&format!(
            "CREATE ROLE stranger LOGIN PASSWORD '{}'",
            password("stranger")
        ))
        .expect("create role");
        let mut databases: Vec<String> = stack.tenants.iter().map(|t| t.database.clone()).collect();
        databases.extend(["postgres".to_string(), "template1".to_string()]);
        for db in &databases {
            let public = pg
                .psql(&format!(
                    "SELECT has_database_privilege('public', {}, 'CONNECT')",
                    literal(db)
                ))
                .expect("query");
            assert_eq!(public, "f", "{}: PUBLIC may connect to {db}", stack.folder);
            let err = refused(&pg, "stranger", db);
            assert!(
                err.contains("permission denied for database")
                    || err.contains("does not have CONNECT privilege"),
                "{}: {db}: {err}",
                stack.folder
            );
        }
        // And the role that is granted it still connects: Odoo's, on `postgres`, where
        // it lists databases. No role here may create databases: drills restore into the
        // drill cluster, never this one.
        let owner = &stack.tenants[0].owner;
        ok(&pg, owner, "postgres", "SELECT 1");
        assert_eq!(
            pg.psql("SELECT count(*) FROM pg_roles WHERE rolcreatedb AND NOT rolsuper")
                .expect("query"),
            "0",
            "{}",
            stack.folder
        );
    }
}

/// The drill cluster, built as CloudNativePG builds it from what is rendered (its initdb
/// with `postInitSQL`, the managed drill role, the rendered pg_hba and CloudNativePG's
/// final line): the drill role reaches `postgres` over TLS only, makes its scratch copy
/// from `template1` (which PUBLIC cannot connect to), connects to it and drops it; a
/// stranger gets into neither `postgres` nor `template1`.
#[test]
fn the_drill_cluster_admits_the_drill_role_to_scratch_copies_only() {
    let estate = two_tenant_example();
    let tree = render(&estate);
    let mut seen = 0;
    for (path, file) in &tree.files {
        let Some(v) = &file.value else { continue };
        if v["kind"] != "Cluster"
            || v["metadata"]["labels"][DRILL_CLUSTER_LABEL.0] != DRILL_CLUSTER_LABEL.1
        {
            continue;
        }
        seen += 1;
        let drill = RenderedStack {
            folder: path.clone(),
            cluster: v.clone(),
            databases: Vec::new(),
            upgrade_setup: Vec::new(),
            web_conf: String::new(),
            cron_conf: String::new(),
            tenants: Vec::new(),
        };
        let pg = TempCluster::start().expect("start PostgreSQL");
        pg.enable_tls().expect("TLS");
        for (db, sql) in cnpg_sql(&drill) {
            if let Err(e) = pg.psql_db(&db, &sql) {
                panic!("{path}: `{sql}` failed: {e}");
            }
        }
        let mut hba = strs(&v["spec"]["postgresql"]["pg_hba"]);
        hba.push("host all all all scram-sha-256".into());
        let lines: Vec<&str> = hba.iter().map(String::as_str).collect();
        pg.set_hba(&lines).expect("pg_hba");
        pg.psql(&format!(
            "CREATE ROLE stranger LOGIN PASSWORD '{}'",
            password("stranger")
        ))
        .expect("create role");
        for db in ["postgres", "template1"] {
            refused(&pg, "stranger", db);
        }
        ok(&pg, "ward-drill", "postgres", "SELECT 1");
        ok(
            &pg,
            "ward-drill",
            "postgres",
            "CREATE DATABASE ward_drill_0123456789ab",
        );
        ok(&pg, "ward-drill", "ward_drill_0123456789ab", "SELECT 1");
        ok(
            &pg,
            "ward-drill",
            "postgres",
            "DROP DATABASE ward_drill_0123456789ab",
        );
        refused(&pg, "ward-drill", "template1");
        let out = pg
            .psql_tcp(
                "ward-drill",
                &password("ward-drill"),
                "disable",
                "postgres",
                "SELECT 1",
            )
            .output()
            .expect("psql");
        assert!(
            !out.status.success(),
            "{path}: the drill role logged in without TLS"
        );
    }
    assert!(seen >= 2, "the two-tenant example has drill clusters");
}

#[test]
fn a_restore_as_the_environment_role_gives_odoo_back_its_database_with_unaccent_indexes() {
    let estate = two_tenant_example();
    let tree = render(&estate);
    for stack in stacks(&estate, &tree) {
        let pg = server(&stack);
        let dir = tempfile::tempdir().expect("temp dir");
        let t = &stack.tenants[0];
        odoo_install(&pg, t);
        let dump = dir.path().join("backup.dump");
        let dump = dump.to_str().expect("a UTF-8 path");
        succeeded(
            "pg_dump",
            &pg_tool(
                &pg,
                "pg_dump",
                &t.user,
                &["-Fc", "-d", &t.database, "-f", dump],
            ),
        );
        // The database is lost; CloudNativePG brings back an empty one, owned as rendered.
        pg.psql(&format!(
            "DROP DATABASE {} WITH (FORCE)",
            ident(&t.database)
        ))
        .expect("drop");
        let owner = rendered_owner(&stack, &t.database);
        assert_eq!(owner, t.owner, "the estate and the tree agree on the owner");
        pg.psql(&format!(
            "CREATE DATABASE {} OWNER {}",
            ident(&t.database),
            ident(&owner)
        ))
        .expect("recreate");
        // Restored as the environment's role, creating everything as the owner; then the
        // setup runs again, as the init container runs it on the next start of the cron
        // pod (the dump holds no database-level grants).
        let out = pg_tool(
            &pg,
            "pg_restore",
            &t.user,
            &[
                "--exit-on-error",
                "--no-owner",
                &format!("--role={}", t.owner),
                "-d",
                &t.database,
                dump,
            ],
        );
        succeeded(&format!("pg_restore into {}", t.database), &out);
        let (_, setup) = stack
            .upgrade_setup
            .iter()
            .find(|(db, _)| *db == t.database)
            .expect("the init container sets the database up");
        ok(
            &pg,
            conf_value(&stack.cron_conf, "db_user"),
            &t.database,
            setup,
        );
        // Every table belongs to Odoo's role, which finds the database again and reads
        // and alters what was restored; the index is valid and used.
        let foreign = ok(
            &pg,
            &t.owner,
            &t.database,
            &format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '{}'",
                t.owner
            ),
        );
        assert_eq!(foreign, "0", "{}", stack.folder);
        assert!(
            ok(&pg, &t.owner, "postgres", ODOO_LIST_DBS)
                .lines()
                .any(|d| d == t.database)
        );
        ok(
            &pg,
            &t.owner,
            &t.database,
            "ALTER TABLE res_partner ADD COLUMN phone varchar",
        );
        let valid = ok(
            &pg,
            &t.owner,
            &t.database,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'res_partner__name_index'::regclass",
        );
        assert_eq!(valid, "t");
        let found = ok(
            &pg,
            &t.user,
            &t.database,
            "SET enable_seqscan = off; SELECT count(*) FROM res_partner WHERE unaccent(name) ILIKE unaccent('%muller%')",
        );
        assert_eq!(found, "1");
    }
}

/// Why the wrapper: Odoo's own `ALTER FUNCTION unaccent(text) IMMUTABLE` changes a
/// function of the extension, which pg_dump does not keep, so the restore of a database
/// with an unaccent index fails. This is the failure the rendered setup avoids.
#[test]
fn without_the_wrapper_an_unaccent_index_does_not_restore() {
    let pg = TempCluster::start().expect("start PostgreSQL");
    pg.psql("CREATE DATABASE naive").expect("db");
    pg.psql_db(
        "naive",
        "CREATE EXTENSION unaccent; CREATE EXTENSION pg_trgm; ALTER FUNCTION unaccent(text) IMMUTABLE;
         CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar);
         CREATE INDEX res_partner__name_index ON res_partner USING gin (unaccent(name) gin_trgm_ops);",
    )
    .expect("naive setup");
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("naive.dump");
    let sock = pg.socket_dir();
    let local = |tool: &str, args: &[&str]| {
        Command::new(pg.bindir().join(tool))
            .arg("-h")
            .arg(&sock)
            .args(["-p", &pg.port().to_string(), "-U", "postgres"])
            .args(args)
            .output()
            .expect("run")
    };
    succeeded(
        "pg_dump",
        &local(
            "pg_dump",
            &[
                "-Fc",
                "-d",
                "naive",
                "-f",
                dump.to_str().expect("a UTF-8 path"),
            ],
        ),
    );
    pg.psql("CREATE DATABASE naive_restored").expect("db");
    let out = local(
        "pg_restore",
        &[
            "--exit-on-error",
            "-d",
            "naive_restored",
            dump.to_str().expect("a UTF-8 path"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be marked IMMUTABLE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rendered logging parameters, applied to a real server: the server takes them, and
/// a statement carrying a value (as psycopg2 sends Odoo's, values inline) that is slow,
/// fails, or violates a unique key leaves the value out of the log, where PostgreSQL's
/// defaults (with the slow-statement log on) write it.
#[test]
fn statement_values_stay_out_of_the_server_log() {
    let tree = render(&common::example());
    let estate = common::example();
    let stack = stacks(&estate, &tree).into_iter().next().expect("a stack");
    let params = stack.cluster["spec"]["postgresql"]["parameters"]
        .as_object()
        .expect("parameters")
        .clone();
    let run = |pg: &TempCluster, marker: &str| {
        pg.psql("CREATE TABLE IF NOT EXISTS patient (mrn text UNIQUE)")
            .expect("table");
        let statements = [
            format!("SELECT pg_sleep(0.2), '{marker}-slow'"),
            format!("SELECT 1 / 0, '{marker}-error'"),
            format!("INSERT INTO patient VALUES ('{marker}-key'), ('{marker}-key')"),
        ];
        for sql in statements {
            let _ = pg.psql(&sql);
        }
        let data = pg.psql("SHOW data_directory").expect("data dir");
        let log = Path::new(&data)
            .parent()
            .expect("the cluster folder")
            .join("server.log");
        std::fs::read_to_string(log).unwrap_or_default()
    };
    // The control: PostgreSQL's defaults, with a slow-statement log, write the values.
    let control = TempCluster::start().expect("start");
    control
        .psql("ALTER SYSTEM SET log_min_duration_statement = 100")
        .expect("set");
    control.reload().expect("reload");
    let log = run(&control, "MRN4711");
    for part in ["slow", "error", "key"] {
        assert!(
            log.contains(&format!("MRN4711-{part}")),
            "control: {part}\n{log}"
        );
    }
    // The rendered parameters.
    let pg = TempCluster::start().expect("start");
    for (name, v) in &params {
        let v = v.as_str().unwrap_or_default();
        pg.psql(&format!("ALTER SYSTEM SET {name} = '{v}'"))
            .unwrap_or_else(|e| panic!("PostgreSQL refuses {name} = {v}: {e}"));
    }
    // ALTER SYSTEM refuses an unknown parameter or a value it cannot take.
    pg.reload().expect("reload");
    let log = run(&pg, "MRN0815");
    assert!(!log.contains("MRN0815"), "a value reached the log:\n{log}");
}

/// `max_connections` of every rendered cluster covers every client at its peak, counted
/// from the rendered objects: web pods at the autoscaler's maximum (or the Deployment's
/// replicas) plus the rolling update's surge, each process of each pod with its pool
/// full (`db_maxconn`, `db_maxconn_gevent` from the rendered `odoo.conf`), the cron pod,
/// two connections per Ward CronJob, and PostgreSQL's superuser reserve.
#[test]
fn max_connections_covers_every_client_at_its_peak() {
    let estate = common::example();
    let tree = render(&estate);
    let mut tiers = std::collections::BTreeSet::new();
    for stack in stacks(&estate, &tree) {
        let f = &stack.folder;
        let tier = value(
            &tree,
            &format!(
                "{f}/namespace-{}.yaml",
                f.rsplit('/').next().expect("a namespace")
            ),
        )["metadata"]["labels"]["ward.dev/tier"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        tiers.insert(tier.clone());
        let conf_of = |which: &str| {
            value(&tree, &format!("{f}/externalsecret-odoo-config.yaml"))["spec"]["target"]
                ["template"]["data"][which]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let pod = |conf: &str| {
            let n = |k: &str| conf_value(conf, k).parse::<u64>().expect("a number");
            (1 + n("workers") + n("max_cron_threads")) * n("db_maxconn") + n("db_maxconn_gevent")
        };
        let web = value(&tree, &format!("{f}/deployment-odoo-web.yaml"));
        let hpa = tree
            .files
            .get(&format!("{f}/horizontalpodautoscaler-odoo-web.yaml"))
            .and_then(|x| x.value.as_ref());
        let web_max = hpa.map_or_else(
            || web["spec"]["replicas"].as_u64().unwrap_or(1),
            |h| h["spec"]["maxReplicas"].as_u64().expect("maxReplicas"),
        );
        let surge = web["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
            .as_u64()
            .unwrap_or(0);
        let cron = value(&tree, &format!("{f}/deployment-odoo-cron.yaml"));
        assert_eq!(cron["spec"]["strategy"]["type"], "Recreate");
        let cron_pods = cron["spec"]["replicas"].as_u64().unwrap_or(1);
        let jobs = tree
            .files
            .keys()
            .filter(|p| p.starts_with(&format!("{f}/cronjob-")))
            .count() as u64;
        let superuser_reserved = 3;
        let peak = (web_max + surge) * pod(&conf_of("odoo-web.conf"))
            + cron_pods * pod(&conf_of("odoo-cron.conf"))
            + 2 * jobs
            + superuser_reserved;
        let max: u64 = stack.cluster["spec"]["postgresql"]["parameters"]["max_connections"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("max_connections");
        assert!(
            max >= peak,
            "{f} (tier {tier}): max_connections {max} < peak {peak}"
        );
        // And not wildly more: every slot costs memory.
        assert!(
            max <= (peak + 20).max(100),
            "{f}: {max} for a peak of {peak}"
        );
    }
    assert_eq!(
        tiers.into_iter().collect::<Vec<_>>(),
        ["1", "2", "3"],
        "every tier is checked"
    );
}

/// Compose: each stack's `initdb/` scripts, run as the PostgreSQL image's entrypoint runs
/// them (`psql -f`, in name order, as `POSTGRES_USER`, which the image makes the
/// superuser), give the same result: Odoo's role owns the databases, Odoo finds an
/// indexable `public.unaccent`, and a role with no grant cannot connect.
#[test]
fn compose_databases_get_the_same_setup() {
    let mut estate = two_tenant_example();
    // Compose refuses tier 1 (no WAL archive, no backup job).
    estate.environments.retain(|e| e.classification.tier != 1);
    let tree = match ward_render::compose::render(&estate) {
        Ok(t) => t,
        Err(e) => panic!("compose does not render: {e}"),
    };
    let mut checked = 0;
    for (path, file) in &tree.files {
        let Some(host) = path.strip_suffix("/compose.yaml") else {
            continue;
        };
        let compose = file.parsed().expect("compose.yaml parses").into_owned();
        for (name, service) in compose["services"].as_object().expect("services") {
            let Some(stack) = name.strip_suffix("-postgres") else {
                continue;
            };
            let superuser = service["environment"]["POSTGRES_USER"]
                .as_str()
                .expect("POSTGRES_USER");
            let pg = TempCluster::start().expect("start PostgreSQL");
            // The throwaway cluster's own superuser may be the image's already.
            pg.psql(&format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{0}') THEN CREATE ROLE {1} LOGIN SUPERUSER; END IF; END $$; ALTER ROLE {1} PASSWORD '{2}'",
                superuser,
                ident(superuser),
                password(superuser)
            ))
            .expect("the image's superuser");
            let prefix = format!("{host}/{stack}/initdb/");
            let scripts: Vec<(&String, &str)> = tree
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(&prefix) && p.ends_with(".sql"))
                .map(|(p, f)| (p, f.text.as_str()))
                .collect();
            assert!(scripts.len() >= 2, "{prefix}: {scripts:?}");
            let dir = tempfile::tempdir().expect("temp dir");
            for (p, text) in scripts {
                let file = dir.path().join("script.sql");
                std::fs::write(&file, text).expect("write");
                let out = Command::new(pg.bindir().join("psql"))
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                    .arg(pg.socket_dir())
                    .args([
                        "-p",
                        &pg.port().to_string(),
                        "-U",
                        superuser,
                        "-d",
                        "postgres",
                        "-f",
                    ])
                    .arg(&file)
                    .output()
                    .expect("psql");
                succeeded(p, &out);
            }
            pg.psql(&format!(
                "CREATE ROLE stranger LOGIN PASSWORD '{}'",
                password("stranger")
            ))
            .expect("stranger");
            let conf = &tree.files[&format!("{host}/{stack}/odoo-web.conf")].text;
            let owner = conf_value(conf, "db_user");
            let tenants: Vec<&ward_estate::ResolvedEnvironment> = estate
                .environments
                .iter()
                .filter(|e| e.cluster == host && e.database.owner == owner)
                .filter(|e| {
                    conf_value(conf, "dbfilter") == "^%h$"
                        || conf_value(conf, "db_name") == e.database.name
                })
                .collect();
            for e in tenants {
                let db = &e.database.name;
                let exists = pg.psql(&format!(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'"
                ));
                let Ok(by) = exists else { continue };
                if by.is_empty() {
                    continue; // another stack's database on this host
                }
                assert_eq!(by, owner, "{db} is owned by Odoo's role");
                let status = pg
                    .psql_db(
                        db,
                        "SELECT p.provolatile FROM pg_proc p JOIN pg_namespace ns ON p.pronamespace = ns.oid \
                         WHERE p.proname = 'unaccent' AND p.pronargs = 1 AND ns.nspname = 'public'",
                    )
                    .expect("query");
                assert_eq!(status, "i", "{db}");
                let out = pg
                    .psql_tcp("stranger", &password("stranger"), "disable", db, "SELECT 1")
                    .output()
                    .expect("psql");
                assert!(!out.status.success(), "stranger reached {db}");
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("permission denied for database"),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "every compose database checked ({checked})");
}
