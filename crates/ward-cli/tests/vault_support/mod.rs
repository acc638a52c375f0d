//! What the vault's end-to-end tests share: a real throwaway PostgreSQL with an Odoo-shaped
//! database and filestore, an example estate made by `ward init`, and running `ward` on it.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ward_pgtemp::TempCluster;
use ward_vault::DbConnection;
use ward_vault::fixture::{self, FixtureData, OdooFixture};

/// billing/prod's database role in the example estate (a dedicated environment's role is
/// named after its workload).
pub const ENV_ROLE: &str = "billing";

/// billing/prod's `database` block in the example estate.
pub const PROD_DATABASE: &str = "      database:\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n";

/// A throwaway cluster with a fixture database `odoo`, its filestore, and an example
/// estate made by `ward init`.
pub struct World {
    pub cluster: TempCluster,
    pub tmp: tempfile::TempDir,
    pub estate: PathBuf,
    pub filestore: PathBuf,
    pub db: DbConnection,
    pub fixture: FixtureData,
}

impl World {
    pub fn new(spec: OdooFixture) -> World {
        Self::with_init(spec, &[])
    }

    /// [`World::new`], with `init_args` added to `ward init`.
    pub fn with_init(spec: OdooFixture, init_args: &[&str]) -> World {
        let cluster = TempCluster::start().expect("temp cluster");
        cluster.psql("CREATE DATABASE odoo").expect("create db");
        // billing/prod's own role, which a restore hands the restored database to (the
        // renderer creates it on the environment's server).
        cluster
            .psql(&format!("CREATE ROLE {ENV_ROLE} LOGIN"))
            .expect("create role");
        let tmp = tempfile::tempdir().expect("tmp");
        let filestore = tmp.path().join("odoo-data/filestore/odoo");
        std::fs::create_dir_all(&filestore).expect("filestore");
        let db = DbConnection::from_url(&cluster.url_for("odoo")).expect("url");
        let fixture = rt()
            .block_on(fixture::build(&db, &filestore, &spec))
            .expect("fixture");
        let estate = tmp.path().join("care");
        let w = World {
            cluster,
            tmp,
            estate,
            filestore,
            db,
            fixture,
        };
        let mut init = vec!["init", w.estate_str(), "--example", "healthcare"];
        init.extend_from_slice(init_args);
        let (code, out, err) = w.ward(&init);
        assert_eq!(code, 0, "init: {out}{err}");
        // billing holds PHI, so its environments default to sslmode=verify-full; this
        // throwaway server has no TLS (tests of TLS turn it on), so the estate asks for
        // `prefer` explicitly, as a person would for such a server.
        w.edit(
            "workloads/billing.yaml",
            PROD_DATABASE,
            &format!("{PROD_DATABASE}        sslmode: prefer\n"),
        );
        // Committed, as init left the estate: tests check that the ledger names a clean one.
        w.commit("billing/prod: sslmode prefer for a server without TLS");
        w
    }

    /// Commits every change to the estate's files.
    pub fn commit(&self, message: &str) {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.estate)
            .args(["commit", "-qam", message])
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// billing/prod pointed at this world's database, its filestore and its password in
    /// the secrets folder, committed: what a backup `ward serve` starts needs, with
    /// nothing on a command line.
    pub fn schedulable(&self) {
        self.endpoint_here(Some(self.cluster.user()));
        let sslmode = "        sslmode: prefer\n";
        self.edit(
            "workloads/billing.yaml",
            sslmode,
            &format!("{sslmode}      filestore: {}\n", self.filestore.display()),
        );
        let secret = self
            .state()
            .join("secrets/hospital-vault/odoo/billing/prod/db_password");
        std::fs::create_dir_all(secret.parent().expect("parent")).expect("mkdir");
        std::fs::write(&secret, format!("{}\n", self.cluster.password())).expect("secret");
        self.commit("billing/prod: this server");
    }

    pub fn estate_str(&self) -> &str {
        self.estate.to_str().expect("utf8")
    }

    /// Replaces `from` (which must be there) with `to` in the estate file `rel`.
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.estate.join(rel);
        let text = std::fs::read_to_string(&path).expect("estate file");
        assert!(text.contains(from), "{rel} has no {from:?}:\n{text}");
        std::fs::write(&path, text.replace(from, to)).expect("write estate file");
    }

    /// Points billing/prod's database endpoint at this cluster's `odoo` database, keeping
    /// its declared password reference; `user`, when given, as its role.
    pub fn endpoint_here(&self, user: Option<&str>) {
        let declared = PROD_DATABASE;
        let user = user.map_or_else(String::new, |u| format!("        user: {u}\n"));
        let endpoint = format!(
            "      database:\n        host: 127.0.0.1\n        port: {}\n        name: odoo\n{user}        passwordRef: {{ store: hospital-vault, key: odoo/billing/prod, property: db_password }}\n",
            self.cluster.port()
        );
        self.edit("workloads/billing.yaml", declared, &endpoint);
    }

    pub fn state(&self) -> PathBuf {
        self.estate.join(".ward")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ward"));
        c.arg("--estate")
            .arg(&self.estate)
            .args(args)
            .env_remove("WARD_STATE")
            .env_remove("WARD_IDENTITY")
            .env_remove("PGPASSWORD")
            .env_remove("WARD_SECRETS_DIR")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            // billing/prod backs up to the example's S3 store; here to its local folder
            // store (or whatever a test makes of `vault`), as a person trying Ward would.
            .env("WARD_OBJECT_STORE", "vault")
            .env("WARD_ACTOR", "bob")
            .env("WARD_PG_BINDIR", self.cluster.bindir())
            .env("NO_COLOR", "1");
        c
    }

    pub fn ward(&self, args: &[&str]) -> (i32, String, String) {
        run(&mut self.command(args))
    }

    /// `backup run billing/prod --db-url URL --filestore <the fixture's>`.
    pub fn backup_args<'a>(&'a self, url: &'a str) -> Vec<&'a str> {
        vec![
            "backup",
            "run",
            "billing/prod",
            "--db-url",
            url,
            "--filestore",
            self.filestore.to_str().expect("utf8"),
        ]
    }

    pub fn backup(&self) -> (i32, String, String) {
        let url = self.cluster.url_for("odoo");
        let mut args = self.backup_args(&url);
        args.extend(["-o", "json"]);
        self.ward(&args)
    }

    /// Runs `backup run` to completion and returns the snapshot id.
    pub fn backed_up(&self) -> String {
        let (code, out, err) = self.backup();
        assert_eq!(code, 0, "backup: {out}{err}");
        json(&out)["snapshot"]["id"]
            .as_str()
            .expect("snapshot id")
            .to_string()
    }

    /// `ward restore ID --to-db NAME --filestore DATA --db-url <this cluster>` plus `extra`.
    pub fn restore(
        &self,
        id: &str,
        to_db: &str,
        data: &Path,
        extra: &[&str],
    ) -> (i32, String, String) {
        let url = self.cluster.url();
        let mut args = vec![
            "restore",
            id,
            "--to-db",
            to_db,
            "--filestore",
            data.to_str().expect("utf8"),
            "--db-url",
            &url,
        ];
        args.extend_from_slice(extra);
        self.ward(&args)
    }

    /// The example estate's local repository folder.
    pub fn vault(&self) -> PathBuf {
        self.state().join("vault")
    }

    /// Whether the cluster has a database of that name.
    pub fn has_database(&self, name: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{}'",
            name.replace('\'', "''")
        );
        self.psql("postgres", &sql).trim() == "1"
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.cluster.psql_db(db, sql).expect("psql")
    }

    pub fn counts(&self, db: &str) -> BTreeMap<String, String> {
        [
            "ir_attachment",
            "ir_config_parameter",
            "ir_cron",
            "ir_mail_server",
            "ir_module_module",
            "res_partner",
            "res_users",
        ]
        .iter()
        .map(|t| {
            (
                t.to_string(),
                self.psql(db, &format!("SELECT count(*) FROM {t}"))
                    .trim()
                    .to_string(),
            )
        })
        .collect()
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run ward");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}
