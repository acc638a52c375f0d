//! Odoo's server configuration (`odoo.conf`) for web and cron processes, sized from the
//! environment: workers from CPU, per-worker memory limits from memory.
//!
//! Credentials are never written here: the text holds template references (`{{ .key }}`)
//! that External Secrets (Kubernetes) or an entrypoint (compose) fill in at run time.

use std::fmt::Write as _;

/// The HTTP port Odoo listens on.
pub const HTTP_PORT: u16 = 8069;
/// The gevent port that serves `/websocket` (bus, live chat, notifications).
pub const WEBSOCKET_PORT: u16 = 8072;
/// Where Odoo keeps its filestore and sessions.
pub const DATA_DIR: &str = "/var/lib/odoo";

/// What a process of this configuration does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serves HTTP; never runs scheduled actions (`max_cron_threads = 0`).
    Web,
    /// Runs scheduled actions only; not routed to.
    Cron,
}

/// Sizing of one Odoo pod (or compose container) from the resources it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// HTTP worker processes (prefork mode; at least 1, so that the limits apply).
    pub workers: u32,
    /// Cron worker processes (`max_cron_threads`): 0 for web pods.
    pub cron_threads: u32,
    pub limit_memory_soft: u64,
    pub limit_memory_hard: u64,
    pub limit_time_cpu: u32,
    pub limit_time_real: u32,
    /// Real time a scheduled action may take (`limit_time_real_cron`).
    pub limit_time_real_cron: u32,
    /// What the pod keeps for the prefork master and the gevent process.
    pub main_process_memory: u64,
}

const MIB: u64 = 1 << 20;
/// Odoo's deployment guidance: a worker is recycled above ~640 MB and killed at ~768 MB
/// of *virtual* memory. The hard limit is an `RLIMIT_AS` that wkhtmltopdf, started by a
/// worker to print a report, inherits: below it, PDF rendering fails.
pub const LIMIT_MEMORY_SOFT: u64 = 640 * MIB;
pub const LIMIT_MEMORY_HARD: u64 = 768 * MIB;
/// What the prefork master and the gevent (`/websocket`) process need besides the
/// workers; the pod's memory limit covers workers × hard + this.
pub const MAIN_PROCESS_MEMORY: u64 = 512 * MIB;

impl Sizing {
    /// The memory every process of the pod can reach at its hard limit: Odoo's processes
    /// are killed by Odoo (soft, hard), never by the kernel's OOM killer.
    pub fn peak_memory(&self) -> u64 {
        u64::from(self.workers + self.cron_threads) * self.limit_memory_hard
            + self.main_process_memory
    }
}

/// The most connections one Odoo process keeps to PostgreSQL (`db_maxconn`), for every
/// process but the gevent one. A prefork worker serves one request at a time, which holds
/// a cursor or two (the request's, one a hook opens beside it, the listing on `postgres`);
/// Odoo's default of 64 per process would let one pod exhaust the server. When the pool
/// is full, Odoo closes an idle connection (another tenant's database) before opening one.
pub const DB_MAXCONN: u32 = 4;
/// The same for the gevent process (`db_maxconn_gevent`), which serves every websocket
/// of the pod at once, one greenlet each.
pub const DB_MAXCONN_GEVENT: u32 = 16;

/// The processes of one Odoo pod in prefork mode: the HTTP workers and the cron workers
/// (each its own process); besides them run the master and the gevent process.
pub fn process_counts(role: Role, sizing: &Sizing) -> (u32, u32) {
    match role {
        Role::Web => (sizing.workers, 0),
        Role::Cron => (sizing.workers, sizing.cron_threads),
    }
}

/// The PostgreSQL connections one pod of this role can hold at once: every process's pool
/// full. The master and the workers use `db_maxconn`, the gevent process its own.
pub fn pod_max_connections(role: Role, sizing: &Sizing) -> u32 {
    let (workers, cron) = process_counts(role, sizing);
    (1 + workers + cron) * DB_MAXCONN + DB_MAXCONN_GEVENT
}

/// The main process's share: 512 MiB, or a quarter of a pod smaller than 2 GiB.
fn main_memory(memory_bytes: u64) -> u64 {
    MAIN_PROCESS_MEMORY.min(memory_bytes / 4)
}

/// The hard limit each of `processes` gets in `memory_bytes`: Odoo's 768 MB when it fits,
/// else an equal share of what the main process leaves (small pods print small reports).
fn per_process_hard(memory_bytes: u64, processes: u32) -> (u64, u64) {
    let left = memory_bytes.saturating_sub(main_memory(memory_bytes));
    let hard = (left / u64::from(processes.max(1))).min(LIMIT_MEMORY_HARD) / MIB * MIB;
    let soft = if hard == LIMIT_MEMORY_HARD {
        LIMIT_MEMORY_SOFT
    } else {
        hard / 6 * 5 / MIB * MIB
    };
    (soft, hard)
}

/// How many 768 MB processes fit in `memory_bytes` beside the main process (at least 1).
fn processes_by_memory(memory_bytes: u64) -> u32 {
    let left = memory_bytes.saturating_sub(main_memory(memory_bytes));
    u32::try_from(left / LIMIT_MEMORY_HARD)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The sizing of a pod of `role` with `millicores` CPU and `memory_bytes` memory.
///
/// Web: Odoo's rule of thumb (2 × cores + 1 workers), capped so that every worker can
/// reach its hard limit: workers × hard + main process ≤ the pod's memory. Requests are
/// cut at 60 s CPU / 120 s real time.
///
/// Cron: one HTTP worker (the health probe's) and up to two cron workers, as memory
/// allows; scheduled actions (invoicing runs, mail queues, fetchmail) get an hour of CPU
/// and two of real time, since a killed cron job restarts from the beginning next time.
pub fn sizing(role: Role, millicores: u32, memory_bytes: u64) -> Sizing {
    let cores = (millicores / 1000).max(1);
    let fit = processes_by_memory(memory_bytes);
    match role {
        Role::Web => {
            let workers = (2 * cores + 1).min(fit).max(1);
            let (soft, hard) = per_process_hard(memory_bytes, workers);
            Sizing {
                workers,
                cron_threads: 0,
                limit_memory_soft: soft,
                limit_memory_hard: hard,
                limit_time_cpu: 60,
                limit_time_real: 120,
                // Unused: no cron runs here (`max_cron_threads = 0`).
                limit_time_real_cron: 600,
                main_process_memory: main_memory(memory_bytes),
            }
        }
        Role::Cron => {
            let cron_threads = fit.saturating_sub(1).clamp(1, 2);
            let (soft, hard) = per_process_hard(memory_bytes, cron_threads + 1);
            Sizing {
                workers: 1,
                cron_threads,
                limit_memory_soft: soft,
                limit_memory_hard: hard,
                limit_time_cpu: 3600,
                limit_time_real: 7200,
                limit_time_real_cron: 7200,
                main_process_memory: main_memory(memory_bytes),
            }
        }
    }
}

/// The outgoing mail relay in `odoo.conf`. Odoo's `smtp_ssl` means STARTTLS (Odoo has
/// read it so since 7.0); the password is a template reference, never a value.
#[derive(Clone, Debug)]
pub struct SmtpInput<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: Option<&'a str>,
    /// `{{ .smtp_password }}` for External Secrets; present only with a user.
    pub password_ref: Option<&'a str>,
    pub starttls: bool,
}

/// Everything `odoo.conf` needs that is not a credential.
#[derive(Clone, Debug)]
pub struct ConfInput<'a> {
    pub role: Role,
    pub sizing: &'a Sizing,
    pub db_host: &'a str,
    pub db_port: u32,
    pub db_user: &'a str,
    /// `Some` for a dedicated deployment (it serves one database only).
    pub db_name: Option<&'a str>,
    /// A Python regular expression over database names; `%h` is the request's host.
    pub dbfilter: &'a str,
    pub db_sslmode: &'a str,
    /// How the credentials are written: `{{ .admin_passwd }}` for External Secrets.
    pub admin_passwd_ref: &'a str,
    pub db_password_ref: &'a str,
    pub server_wide_modules: &'a [&'a str],
    /// The relay Odoo sends mail through; `None` leaves Odoo's default (localhost:25,
    /// which a pod does not have: mail then stays queued).
    pub smtp: Option<SmtpInput<'a>>,
}

/// The text of `odoo.conf`. Deterministic: options in a fixed order.
pub fn conf(input: &ConfInput<'_>) -> String {
    let s = input.sizing;
    let mut out = String::from("[options]\n");
    let mut opt = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k} = {v}");
    };
    opt("admin_passwd", &input.admin_passwd_ref);
    opt("data_dir", &DATA_DIR);
    opt("db_host", &input.db_host);
    opt("db_port", &input.db_port);
    opt("db_user", &input.db_user);
    opt("db_password", &input.db_password_ref);
    if let Some(name) = input.db_name {
        opt("db_name", &name);
    }
    opt("db_sslmode", &input.db_sslmode);
    opt("db_maxconn", &DB_MAXCONN);
    // Read by Odoo 17+; an older Odoo keeps the option and ignores it.
    opt("db_maxconn_gevent", &DB_MAXCONN_GEVENT);
    opt("dbfilter", &input.dbfilter);
    // The database manager stays closed: databases are created by the platform, and the
    // list of databases would reveal other tenants on a shared deployment.
    opt("list_db", &"False");
    opt("proxy_mode", &"True");
    opt("http_port", &HTTP_PORT);
    opt("gevent_port", &WEBSOCKET_PORT);
    // Worker segregation: scheduled actions run in the cron deployment only (web has no
    // cron threads), so a long cron job never takes an HTTP worker away from users.
    let (workers, cron_threads) = process_counts(input.role, s);
    opt("workers", &workers);
    opt("max_cron_threads", &cron_threads);
    opt("limit_memory_soft", &s.limit_memory_soft);
    opt("limit_memory_hard", &s.limit_memory_hard);
    opt("limit_time_cpu", &s.limit_time_cpu);
    opt("limit_time_real", &s.limit_time_real);
    opt("limit_time_real_cron", &s.limit_time_real_cron);
    opt("limit_request", &8192);
    opt("log_level", &"info");
    opt("logfile", &"False");
    opt("server_wide_modules", &input.server_wide_modules.join(","));
    if let Some(smtp) = &input.smtp {
        opt("smtp_server", &smtp.host);
        opt("smtp_port", &smtp.port);
        opt("smtp_ssl", &if smtp.starttls { "True" } else { "False" });
        if let (Some(user), Some(password)) = (smtp.user, smtp.password_ref) {
            opt("smtp_user", &user);
            opt("smtp_password", &password);
        }
    }
    opt("unaccent", &"True");
    opt("without_demo", &"all");
    out
}

/// What a database runs: the image and the estate's modules. Its hash names the release
/// (sorted and deduplicated modules, so that reordering the list changes nothing).
pub fn release_hash(image: &str, modules: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut modules: Vec<&str> = modules.to_vec();
    modules.sort_unstable();
    modules.dedup();
    let digest = Sha256::digest(format!("{image}\n{}", modules.join(",")));
    hex::encode(&digest[..6])
}

/// The key in `ir_config_parameter` where the upgrade records the release a database is
/// at, so that a restarted pod does not upgrade again and a restored copy of an older
/// release does.
pub const RELEASE_PARAMETER: &str = "ward.release";

/// The argument that asks [`UPGRADE_SCRIPT`] to set `database` up with the SQL in
/// `setup` (a file under [`DATABASE_SETUP_DIR`]) and bring it to `release`.
pub fn upgrade_arg(database: &str, release: &str, setup: &str, modules: &[&str]) -> String {
    format!("{database}={release}={setup}={}", modules.join(","))
}

// The folder the cron pod's init container finds each database's setup SQL in, as a
// macro so that the script embeds the very path the pod mounts.
macro_rules! database_setup_dir {
    () => {
        "/etc/ward/database-setup"
    };
}

/// Where the `database-setup` ConfigMap is mounted in the upgrade container, one file
/// per database (the ConfigMap's key), read by [`UPGRADE_SCRIPT`].
pub const DATABASE_SETUP_DIR: &str = database_setup_dir!();

// The SQL the upgrade script runs, as macros so that the script embeds the very text that
// the tests run on PostgreSQL (`concat!` takes literals only).
macro_rules! initialised_sql {
    () => {
        "SELECT to_regclass('ir_module_module') IS NOT NULL"
    };
}
macro_rules! plan_sql {
    () => {
        "SELECT (SELECT value FROM ir_config_parameter WHERE key = %(key)s),
       ARRAY(SELECT u.m FROM unnest(%(modules)s::text[]) WITH ORDINALITY AS u(m, i)
             WHERE NOT EXISTS (SELECT 1 FROM ir_module_module
                               WHERE name = u.m AND state IN ('installed', 'to upgrade'))
             ORDER BY u.i),
       ARRAY(SELECT u.m FROM unnest(%(modules)s::text[]) WITH ORDINALITY AS u(m, i)
             WHERE EXISTS (SELECT 1 FROM ir_module_module
                           WHERE name = u.m AND state IN ('installed', 'to upgrade'))
             ORDER BY u.i)"
    };
}
macro_rules! record_sql {
    () => {
        "INSERT INTO ir_config_parameter (key, value, create_date, write_date)
VALUES (%(key)s, %(release)s, now() at time zone 'UTC', now() at time zone 'UTC')
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = EXCLUDED.write_date"
    };
}

/// Whether a database was ever initialised by Odoo (Odoo's own test: `ir_module_module`).
pub const INITIALISED_SQL: &str = initialised_sql!();
/// On an initialised database, with `%(key)s` = [`RELEASE_PARAMETER`] and `%(modules)s`
/// the estate's modules: the recorded release, the modules to `--init` (not installed),
/// and those to `--update` (installed, or left `to upgrade` by an interrupted upgrade: the
/// states Odoo's own `--update` takes), each in the estate's order.
pub const PLAN_SQL: &str = plan_sql!();
/// Records `%(release)s` under `%(key)s` once the upgrade succeeded.
pub const RECORD_SQL: &str = record_sql!();

/// Run by `python3 -c` in the Odoo image with one [`upgrade_arg`] per database, before the
/// cron workers start. Each database first gets its setup
/// ([`crate::postgres::database_setup_sql`], mounted under [`DATABASE_SETUP_DIR`]) on
/// every start, as Odoo's role, its owner: the SQL is idempotent and needs no more than
/// ownership, and running it every time also sets up a database restored or recreated
/// since. It is one `execute` without parameters (psycopg2 then sends the text as it is,
/// `%` included), in one transaction, committed before Odoo looks at the database.
///
/// A database never initialised gets `--init=base,<modules>`; an initialised one `--init`
/// for the modules not yet installed and `--update` for those installed (never `--init`
/// of an installed module, which would reload its `noupdate` data). Each is skipped when
/// `ward.release` already names the release; on success the release is recorded. Odoo's
/// own Python reads the configuration, so the credentials stay in the mounted
/// `odoo.conf`. The decisions are [`INITIALISED_SQL`], [`PLAN_SQL`] and [`RECORD_SQL`].
pub const UPGRADE_SCRIPT: &str = concat!(
    r#"import subprocess, sys
import odoo
from odoo.tools import config
CONF = "/etc/odoo/odoo.conf"
KEY = "ward.release"
SETUP = ""#,
    database_setup_dir!(),
    r#""
INITIALISED = """"#,
    initialised_sql!(),
    r#""""
PLAN = """"#,
    plan_sql!(),
    r#""""
RECORD = """"#,
    record_sql!(),
    r#""""
config.parse_config(["--config=" + CONF])
for spec in sys.argv[1:]:
    db, release, setup, modules = spec.split("=", 3)
    modules = [m for m in modules.split(",") if m]
    with open(SETUP + "/" + setup, encoding="utf-8") as f:
        setup_sql = f.read()
    with odoo.sql_db.db_connect(db).cursor() as cr:
        cr.execute(setup_sql)
    print(db + ": set up (" + setup + ")", flush=True)
    with odoo.sql_db.db_connect(db).cursor() as cr:
        cr.execute(INITIALISED)
        initialised = cr.fetchone()[0]
        recorded, new, old = None, modules, []
        if initialised:
            cr.execute(PLAN, {"key": KEY, "modules": modules})
            recorded, new, old = cr.fetchone()
    odoo.sql_db.close_all()
    if recorded == release:
        print(db + ": at release " + release, flush=True)
        continue
    args = ["odoo", "--config=" + CONF, "--database=" + db, "--stop-after-init", "--no-http"]
    if not initialised:
        args.append("--init=" + ",".join(["base"] + modules))
    else:
        if new:
            args.append("--init=" + ",".join(new))
        if old:
            args.append("--update=" + ",".join(old))
    print(db + ": " + " ".join(args[3:]), flush=True)
    subprocess.run(args, check=True)
    with odoo.sql_db.db_connect(db).cursor() as cr:
        cr.execute(RECORD, {"key": KEY, "release": release})
    odoo.sql_db.close_all()
"#
);

/// Escapes a literal for use inside a Python regular expression (Odoo's `dbfilter`).
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_follow_cpu_and_fit_memory() {
        let s = sizing(Role::Web, 4000, 8 << 30);
        assert_eq!(s.workers, 9);
        assert_eq!(s.limit_memory_hard, LIMIT_MEMORY_HARD);
        assert_eq!(s.limit_memory_soft, LIMIT_MEMORY_SOFT);
        // Small memory caps the worker count below the CPU rule.
        let small = sizing(Role::Web, 4000, 2 << 30);
        assert_eq!(small.workers, 2);
        assert!(sizing(Role::Web, 500, 512 << 20).workers >= 1);
    }

    /// The resources each tier's web and cron pods get in the example (dedicated tier 1,
    /// 4 CPU / 8 GiB; tier 2, 2 CPU / 4 GiB and 1 CPU / 2 GiB; tier 3, 1 CPU / 2 GiB; cron
    /// pods half the web pod, at least 2 GiB) and the edges around them.
    const PODS: &[(u32, u64)] = &[
        (4000, 8 << 30),
        (2000, 4 << 30),
        (1000, 2 << 30),
        (500, 2 << 30),
        (250, 512 << 20),
        (8000, 16 << 30),
        (16000, 8 << 30),
    ];

    #[test]
    fn every_process_reaches_its_hard_limit_inside_the_pod() {
        for &(cpu, memory) in PODS {
            for role in [Role::Web, Role::Cron] {
                let s = sizing(role, cpu, memory);
                // workers × hard + the main process fit the pod's memory limit.
                assert!(s.peak_memory() <= memory, "{role:?} {cpu}m {memory}: {s:?}");
                // Even the smallest pod (512 MiB) leaves its worker room for a request.
                assert!(s.limit_memory_hard >= 128 << 20, "{s:?}");
                assert!(s.limit_memory_soft < s.limit_memory_hard, "{s:?}");
                assert!(s.limit_memory_hard <= LIMIT_MEMORY_HARD, "{s:?}");
                assert!(s.workers >= 1, "prefork mode, so that the limits apply");
                if memory >= MAIN_PROCESS_MEMORY + 2 * LIMIT_MEMORY_HARD {
                    // Enough memory: Odoo's guidance exactly, and no OOM kill possible.
                    assert_eq!(s.limit_memory_hard, LIMIT_MEMORY_HARD);
                    assert_eq!(s.main_process_memory, MAIN_PROCESS_MEMORY);
                }
            }
        }
    }

    #[test]
    fn cron_is_sized_from_the_cron_pod_and_lets_long_jobs_live() {
        let web = sizing(Role::Web, 4000, 8 << 30);
        let cron = sizing(Role::Cron, 2000, 4 << 30);
        assert_eq!((cron.workers, cron.cron_threads), (1, 2));
        assert!(cron.peak_memory() <= 4 << 30);
        assert_eq!(web.cron_threads, 0);
        assert!(cron.limit_time_cpu >= 3600 && cron.limit_time_real_cron >= 7200);
        assert!(cron.limit_time_real >= cron.limit_time_cpu);
        // A 2 GiB cron pod fits one HTTP worker and one cron worker at 768 MB each.
        let small = sizing(Role::Cron, 500, 2 << 30);
        assert_eq!((small.workers, small.cron_threads), (1, 1));
        assert_eq!(small.limit_memory_hard, LIMIT_MEMORY_HARD);
        assert!(small.peak_memory() <= 2 << 30);
    }

    #[test]
    fn web_conf_has_production_settings_and_no_cron_threads() {
        let s = sizing(Role::Web, 2000, 4 << 30);
        let text = conf(&ConfInput {
            role: Role::Web,
            sizing: &s,
            db_host: "db-rw",
            db_port: 5432,
            db_user: "billing",
            db_name: Some("billing-prod"),
            dbfilter: "^billing\\-prod$",
            db_sslmode: "require",
            admin_passwd_ref: "{{ .admin_passwd }}",
            db_password_ref: "{{ .db_password }}",
            server_wide_modules: &["base", "web"],
            smtp: Some(SmtpInput {
                host: "smtp.example.org",
                port: 587,
                user: Some("odoo@example.org"),
                password_ref: Some("{{ .smtp_password }}"),
                starttls: true,
            }),
        });
        for line in [
            "proxy_mode = True",
            "list_db = False",
            "max_cron_threads = 0",
            "workers = 4",
            "limit_memory_hard = 805306368",
            "limit_memory_soft = 671088640",
            "smtp_server = smtp.example.org",
            "smtp_port = 587",
            "smtp_ssl = True",
            "smtp_user = odoo@example.org",
            "smtp_password = {{ .smtp_password }}",
            "dbfilter = ^billing\\-prod$",
            "admin_passwd = {{ .admin_passwd }}",
            "gevent_port = 8072",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }

    #[test]
    fn the_release_changes_exactly_when_the_image_or_the_modules_do() {
        let image = "registry/odoo@sha256:aa";
        let base = release_hash(image, &["account", "sale"]);
        assert_eq!(base.len(), 12);
        // Order and repetition are not changes.
        assert_eq!(base, release_hash(image, &["sale", "account", "sale"]));
        assert_ne!(
            base,
            release_hash("registry/odoo@sha256:bb", &["account", "sale"])
        );
        assert_ne!(base, release_hash(image, &["account", "sale", "stock"]));
        assert_ne!(base, release_hash(image, &["account"]));
        assert_eq!(
            upgrade_arg(
                "billing-prod",
                &base,
                "billing-prod.sql",
                &["account", "sale"]
            ),
            format!("billing-prod={base}=billing-prod.sql=account,sale")
        );
        assert!(UPGRADE_SCRIPT.contains(RELEASE_PARAMETER));
    }

    #[test]
    fn escapes_regex_metacharacters() {
        assert_eq!(regex_escape("a.b-c"), "a\\.b\\-c");
    }
}
