//! The decisions of the cron pod's install/upgrade script, run on a real PostgreSQL with
//! the tables Odoo creates (`ir_module_module`, `ir_config_parameter` with its unique
//! key): a fresh database is not initialised; on an initialised one, the listed modules
//! split into those to `--init` and those to `--update`; the release is recorded once and
//! replaced by the next.

use ward_pgtemp::TempCluster;
use ward_render::odoo::{
    DATABASE_SETUP_DIR, INITIALISED_SQL, PLAN_SQL, RECORD_SQL, RELEASE_PARAMETER, UPGRADE_SCRIPT,
};

/// psycopg2's `%(name)s` parameters, bound as SQL literals (the values here are plain).
fn bind(sql: &str, params: &[(&str, &str)]) -> String {
    let mut out = sql.to_string();
    for (name, literal) in params {
        out = out.replace(&format!("%({name})s"), literal);
    }
    assert!(!out.contains("%("), "unbound parameter in {out}");
    out
}

#[test]
fn the_upgrade_plans_from_what_the_database_holds() {
    let pg = TempCluster::start().expect("a throwaway PostgreSQL");
    pg.psql("CREATE DATABASE tenant").expect("create");
    let q = |sql: &str| pg.psql_db("tenant", sql).expect("query");
    assert_eq!(
        q(INITIALISED_SQL),
        "f",
        "a database CloudNativePG just created"
    );

    // What Odoo's `base` creates, reduced to the columns the script reads and writes.
    q("CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar);
       CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL, value text NOT NULL,
         create_uid integer, create_date timestamp, write_uid integer, write_date timestamp,
         CONSTRAINT ir_config_parameter_key_uniq UNIQUE (key));
       INSERT INTO ir_module_module (name, state) VALUES
         ('base', 'installed'), ('account', 'installed'), ('sale', 'uninstalled'),
         ('mail', 'to upgrade'), ('portal', 'installed');");
    assert_eq!(q(INITIALISED_SQL), "t");

    let key = format!("'{RELEASE_PARAMETER}'");
    let plan = |modules: &str| {
        q(&bind(
            PLAN_SQL,
            &[
                ("key", &key),
                ("modules", &format!("ARRAY[{modules}]::text[]")),
            ],
        ))
    };
    // Not yet recorded; `sale` (uninstalled) and `stock` (unknown) are installed;
    // `account` is upgraded, and so is `mail`, left `to upgrade` by an interrupted run
    // (an `--init` would reload its `noupdate` data); the estate's order is kept.
    assert_eq!(
        plan("'stock', 'account', 'sale', 'mail'"),
        "|{stock,sale}|{account,mail}"
    );
    // An empty list, as psycopg2 sends it, plans nothing.
    assert_eq!(
        q(&bind(PLAN_SQL, &[("key", &key), ("modules", "'{}'")])),
        "|{}|{}"
    );

    let record = |release: &str| {
        q(&bind(
            RECORD_SQL,
            &[("key", &key), ("release", &format!("'{release}'"))],
        ))
    };
    record("aaaaaaaaaaaa");
    assert_eq!(plan("'account'"), "aaaaaaaaaaaa|{}|{account}");
    // The next release replaces it (Odoo's unique key makes it one row).
    record("bbbbbbbbbbbb");
    assert_eq!(plan("'account'"), "bbbbbbbbbbbb|{}|{account}");
    assert_eq!(
        q(&format!(
            "SELECT count(*) FROM ir_config_parameter WHERE key = {key}"
        )),
        "1"
    );
    assert_eq!(
        q(
            "SELECT count(*) FROM ir_config_parameter WHERE write_date IS NULL OR create_date IS NULL"
        ),
        "0"
    );
}

#[test]
fn the_script_embeds_the_tested_sql_and_is_valid_python() {
    for sql in [INITIALISED_SQL, PLAN_SQL, RECORD_SQL] {
        assert!(UPGRADE_SCRIPT.contains(sql));
    }
    assert!(UPGRADE_SCRIPT.contains(&format!("KEY = \"{RELEASE_PARAMETER}\"")));
    // The setup is read where the pod mounts it and runs before Odoo looks at the
    // database (database_roles.rs runs what it reads, as the role it runs as).
    assert!(UPGRADE_SCRIPT.contains(&format!("SETUP = \"{DATABASE_SETUP_DIR}\"")));
    let setup = UPGRADE_SCRIPT
        .find("cr.execute(setup_sql)")
        .expect("the setup runs");
    let first = UPGRADE_SCRIPT
        .find("cr.execute(INITIALISED)")
        .expect("the plan");
    assert!(setup < first, "the setup runs first");
    // Python's own parser, when there is one (CI has it).
    let Ok(mut child) = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .spawn()
    else {
        return;
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(UPGRADE_SCRIPT.as_bytes())
        .expect("write");
    assert!(
        child.wait().expect("python3").success(),
        "the script does not parse"
    );
}
