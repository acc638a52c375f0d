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

/// Sizing of one Odoo process (one pod or one container).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sizing {
    pub workers: u32,
    pub limit_memory_soft: u64,
    pub limit_memory_hard: u64,
    pub limit_time_cpu: u32,
    pub limit_time_real: u32,
}

/// Odoo's rule of thumb (2 × cores + 1 workers), capped so that every worker can reach its
/// hard memory limit without the pod being OOM-killed: workers × hard ≤ 90% of memory.
pub fn sizing(millicores: u32, memory_bytes: u64) -> Sizing {
    const MIB: u64 = 1 << 20;
    // A worker below ~384 MiB cannot render a large report; fewer, larger workers then.
    const MIN_WORKER: u64 = 384 * MIB;
    const MAX_HARD: u64 = 2560 * MIB; // Odoo's own default hard limit.
    let cores = (millicores / 1000).max(1);
    let budget = memory_bytes / 10 * 9;
    let by_memory = u32::try_from(budget / MIN_WORKER)
        .unwrap_or(u32::MAX)
        .max(1);
    let workers = (2 * cores + 1).min(by_memory).max(1);
    let hard = (budget / u64::from(workers)).min(MAX_HARD);
    // Round to whole MiB so the numbers read well in review.
    let hard = hard / MIB * MIB;
    let soft = hard / 5 * 4 / MIB * MIB;
    Sizing {
        workers,
        limit_memory_soft: soft,
        limit_memory_hard: hard,
        limit_time_cpu: 60,
        limit_time_real: 120,
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
        Role::Cron => (2, 2),
    }
}

/// The PostgreSQL connections one pod of this role can hold at once: every process's pool
/// full. The master and the workers use `db_maxconn`, the gevent process its own.
pub fn pod_max_connections(role: Role, sizing: &Sizing) -> u32 {
    let (workers, cron) = process_counts(role, sizing);
    (1 + workers + cron) * DB_MAXCONN + DB_MAXCONN_GEVENT
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
    // Scheduled actions may run longer than a request; Odoo's own default for crons.
    opt("limit_time_real_cron", &(s.limit_time_real * 5));
    opt("limit_request", &8192);
    opt("log_level", &"info");
    opt("logfile", &"False");
    opt("server_wide_modules", &input.server_wide_modules.join(","));
    opt("unaccent", &"True");
    opt("without_demo", &"all");
    out
}

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
        let s = sizing(4000, 8 << 30);
        assert_eq!(s.workers, 9);
        assert!(u64::from(s.workers) * s.limit_memory_hard <= (8u64 << 30) / 10 * 9);
        assert!(s.limit_memory_soft < s.limit_memory_hard);
        // Small memory caps the worker count below the CPU rule.
        let small = sizing(4000, 1 << 30);
        assert_eq!(small.workers, 2);
        assert!(sizing(500, 512 << 20).workers >= 1);
    }

    #[test]
    fn web_conf_has_production_settings_and_no_cron_threads() {
        let s = sizing(2000, 4 << 30);
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
        });
        for line in [
            "proxy_mode = True",
            "list_db = False",
            "max_cron_threads = 0",
            "workers = 5",
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
    fn escapes_regex_metacharacters() {
        assert_eq!(regex_escape("a.b-c"), "a\\.b\\-c");
    }
}
