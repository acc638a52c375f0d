//! PostgreSQL: connections (tokio-postgres for the snapshot session and metadata) and the
//! `pg_dump`/`pg_restore` client binaries run as child processes.
//!
//! Passwords go to children through `PGPASSWORD`, never on the command line where `ps`
//! would show them. Both connections negotiate TLS alike: ours through [`crate::tls`], the
//! children's through `PGSSLMODE`, `PGSSLROOTCERT` and `PGCHANNELBINDING` set to the same.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::{Result, VaultError};
use crate::keys::SecretString;
use crate::tls::{ChannelBinding, MakeRustlsConnect, SslMode};

/// How long Ward waits for a database server, on its own connections and its children's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgTimeouts {
    /// TCP connect, TLS negotiation and login, together.
    pub connect: Duration,
    /// One statement, or a wait for a lock (`statement_timeout`, `lock_timeout`, and
    /// `pg_dump --lock-wait-timeout`).
    pub statement: Duration,
}

impl Default for PgTimeouts {
    fn default() -> Self {
        PgTimeouts {
            connect: Duration::from_secs(10),
            statement: Duration::from_secs(5 * 60),
        }
    }
}

/// How to reach one database. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct DbConnection {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: Option<SecretString>,
    /// libpq's `sslmode`: `?sslmode=` of a URL, else [`SslMode::Prefer`] as in libpq.
    pub sslmode: SslMode,
    /// libpq's `sslrootcert`: the PEM file of the CA the server's certificate must chain
    /// to under `verify-ca`/`verify-full` (required there; unused by the other modes).
    /// The caller supplies any default (libpq's is `~/.postgresql/root.crt`): this crate
    /// reads no environment and no home folder.
    pub sslrootcert: Option<PathBuf>,
    /// libpq's `channel_binding`: `?channel_binding=` of a URL, else `prefer`.
    pub channel_binding: ChannelBinding,
    pub timeouts: PgTimeouts,
    /// libpq's `hostaddr`: the address `pg_dump` and `pg_restore` connect to while `host`
    /// stays the name the certificate is checked against (`verify-full`). Set for one
    /// instance behind a service name (a standby that exported a snapshot); `None`
    /// connects to `host`.
    pub hostaddr: Option<String>,
}

impl DbConnection {
    /// Parses a `postgres://user:password@host:port/dbname[?sslmode=…]` URL (the
    /// `--db-url` override), with libpq's `sslmode` (all but `allow`), `sslrootcert` and
    /// `channel_binding` parameters.
    pub fn from_url(url: &str) -> Result<DbConnection> {
        let (rest, tls) = take_tls_parameters(url)?;
        // Never echo the URL: it may hold a password.
        let cfg: tokio_postgres::Config = rest.parse().map_err(|_| {
            VaultError::InvalidInput("the database URL is not a valid postgres:// URL".into())
        })?;
        let host = cfg
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .next()
            .unwrap_or_else(|| "localhost".into());
        Ok(DbConnection {
            host,
            port: cfg.get_ports().first().copied().unwrap_or(5432),
            dbname: cfg.get_dbname().unwrap_or("postgres").to_string(),
            user: cfg
                .get_user()
                .map(str::to_string)
                .ok_or_else(|| VaultError::InvalidInput("the database URL names no user".into()))?,
            password: cfg
                .get_password()
                .map(|p| SecretString::new(String::from_utf8_lossy(p).into_owned())),
            sslmode: tls.sslmode.unwrap_or_default(),
            sslrootcert: tls.sslrootcert,
            channel_binding: tls.channel_binding.unwrap_or_default(),
            timeouts: PgTimeouts::default(),
            hostaddr: None,
        })
    }

    /// The TLS settings a URL gave explicitly ([`DbConnection::from_url`] fills in
    /// libpq's defaults): the caller decides what a URL without `sslmode` means.
    pub fn url_tls_parameters(url: &str) -> Result<UrlTls> {
        take_tls_parameters(url).map(|(_, tls)| tls)
    }

    /// `host:port`, as errors name the server (never with credentials).
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Fills in which server and limit a statement timeout was about: [`db_error`] sees
    /// only the server's message. Looks through what a failed restore cleaned up.
    pub(crate) fn locate(&self, e: VaultError) -> VaultError {
        match e {
            VaultError::Timeout {
                server,
                phase,
                limit_seconds,
                setting,
            } if server.is_empty() => VaultError::Timeout {
                server: self.server(),
                phase,
                limit_seconds: if limit_seconds == 0 {
                    self.timeouts.statement.as_secs()
                } else {
                    limit_seconds
                },
                setting,
            },
            VaultError::RestoreFailed { cause, cleanup } => VaultError::RestoreFailed {
                cause: Box::new(self.locate(*cause)),
                cleanup,
            },
            other => other,
        }
    }

    fn timeout(&self, phase: &str, setting: &'static str) -> VaultError {
        let limit = match setting {
            "connect" => self.timeouts.connect,
            _ => self.timeouts.statement,
        };
        VaultError::Timeout {
            server: self.server(),
            phase: phase.to_string(),
            limit_seconds: limit.as_secs(),
            setting,
        }
    }

    /// The error for a client tool (`pg_dump`, `pg_restore`) that failed: a limit of ours
    /// that ran out is a [`VaultError::Timeout`], anything else the tool's own words.
    pub(crate) fn tool_error(&self, program: &str, status: String, stderr: String) -> VaultError {
        if stderr.contains("timeout expired") {
            return self.timeout(&format!("{program} was connecting"), "connect");
        }
        // pg_dump turns statement_timeout off for itself but for its LOCK TABLE statements,
        // where it implements --lock-wait-timeout with it.
        let lock_wait = stderr.contains("canceling statement due to lock timeout")
            || (program == "pg_dump"
                && stderr.contains("canceling statement due to statement timeout"));
        if lock_wait {
            return self.timeout(&format!("{program} waited for a table lock"), "statement");
        }
        if stderr.contains("canceling statement due to statement timeout") {
            return self.timeout(&format!("{program} ran a statement"), "statement");
        }
        VaultError::ToolFailed {
            program: program.into(),
            status,
            stderr,
        }
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> DbConnection {
        DbConnection {
            dbname: dbname.to_string(),
            ..self.clone()
        }
    }

    /// The mode this connection negotiates with: none over a unix socket, where libpq never
    /// tries TLS whatever `sslmode` says (and the server would not offer it).
    fn effective_sslmode(&self) -> SslMode {
        if self.host.starts_with('/') {
            SslMode::Disable
        } else {
            self.sslmode
        }
    }

    /// Checks the TLS settings before any connection is tried: a verify mode needs a CA
    /// file that holds certificates, and `channel_binding=require` needs TLS.
    pub fn check_tls(&self) -> Result<()> {
        let mode = self.effective_sslmode();
        if self.channel_binding == ChannelBinding::Require
            && mode == SslMode::Disable
            && !self.host.starts_with('/')
        {
            return Err(VaultError::InvalidInput(
                "channel_binding=require binds the login to the TLS session, and sslmode=disable has none: use sslmode=verify-full (or require)".into(),
            ));
        }
        if mode.verifies() {
            let path = self
                .sslrootcert
                .as_ref()
                .ok_or_else(|| crate::tls::ca_required(mode))?;
            crate::tls::verifying_connector(path, mode)?;
        }
        Ok(())
    }

    pub(crate) async fn connect(&self) -> Result<Client> {
        self.check_tls()?;
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("ward-vault")
            .connect_timeout(self.timeouts.connect)
            // The server enforces these on every statement of ours, lock waits included.
            .options(format!(
                "-c statement_timeout={ms} -c lock_timeout={ms}",
                ms = self.timeouts.statement.as_millis().max(1)
            ))
            .ssl_mode(self.effective_sslmode().to_postgres())
            .channel_binding(self.channel_binding.to_postgres());
        if let Some(pw) = &self.password {
            cfg.password(pw.expose());
        }
        // With `disable` tokio-postgres never calls the connector.
        let mode = self.effective_sslmode();
        let tls = match &self.sslrootcert {
            Some(ca) if mode.verifies() => crate::tls::verifying_connector(ca, mode)?,
            _ => MakeRustlsConnect::shared().map_err(|e| {
                VaultError::Database(format!(
                    "cannot set up TLS for {}:{}: {e}",
                    self.host, self.port
                ))
            })?,
        };
        // connect_timeout bounds the TCP connect only: a server that accepts and never
        // answers would hang the TLS request or the login for ever.
        let (client, connection) = tokio::time::timeout(self.timeouts.connect, cfg.connect(tls))
            .await
            .map_err(|_| self.timeout("connecting (TCP, TLS and login)", "connect"))?
            .map_err(|e| self.connect_error(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    fn connect_error(&self, e: &tokio_postgres::Error) -> VaultError {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                && db.message().contains("no encryption")
            {
                // pg_hba has a `hostssl` line for this login and nothing for plain text: a
                // TLS matter, not a password one.
                let fix = if self.effective_sslmode() == SslMode::Disable {
                    "connect with sslmode=verify-full and the server's CA (or sslmode=require or sslmode=prefer, which do not check its certificate): ?sslmode= of the database URL, or the estate's database.sslmode"
                } else {
                    "the server did not offer TLS: turn on ssl in its configuration"
                };
                return VaultError::Database(format!(
                    "the database at {}:{} admits user {:?} over TLS only and this connection was not encrypted ({}); {fix}",
                    self.host,
                    self.port,
                    self.user,
                    db.message()
                ));
            }
            // `role "x" does not exist` (28000, with trust, peer or cert authentication;
            // password methods hide it behind a failed password): no password would help.
            if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                && db.message().starts_with("role ")
                && db.message().ends_with("does not exist")
            {
                return VaultError::RoleMissing {
                    user: self.user.clone(),
                    host: self.host.clone(),
                    port: self.port,
                    reason: db.message().to_string(),
                };
            }
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                return VaultError::DatabaseAuth {
                    user: self.user.clone(),
                    reason: db.message().to_string(),
                };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return VaultError::Database(format!(
                    "database {:?} does not exist on {}:{}; check the environment's database name",
                    self.dbname, self.host, self.port
                ));
            }
            return VaultError::Database(db.message().to_string());
        }
        // tokio-postgres shows only the kind ("error performing TLS handshake"); the
        // innermost source says what happened.
        let whole = e.to_string();
        let mut reason = whole.clone();
        let mut rustls_error = None;
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = s.to_string();
            // tokio-rustls hands rustls's error over inside an io::Error.
            rustls_error = rustls_error
                .or_else(|| s.downcast_ref::<rustls::Error>())
                .or_else(|| {
                    s.downcast_ref::<std::io::Error>()
                        .and_then(|io| io.get_ref())
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                });
            source = s.source();
        }
        if reason == "server did not use channel binding" {
            return VaultError::Database(format!(
                "refused the database at {} before sending the password: channel_binding=require, and the server did not offer SCRAM-SHA-256-PLUS over TLS (it asked for a cleartext or MD5 password, for SCRAM without channel binding, or for none, or the connection was not encrypted); give the role a SCRAM password under a `hostssl … scram-sha-256` pg_hba line, or connect with channel_binding=prefer",
                self.server()
            ));
        }
        if let Some(described) = rustls_error.and_then(|r| {
            crate::tls::describe_certificate_error(
                r,
                self.sslmode,
                &self.host,
                self.sslrootcert.as_deref(),
            )
        }) {
            return VaultError::Database(format!(
                "the TLS handshake with the database at {} failed: {described}",
                self.server()
            ));
        }
        if whole.starts_with("error performing TLS handshake") {
            if reason == "server does not support TLS" {
                return VaultError::Database(format!(
                    "the database at {}:{} does not offer TLS, and sslmode=require demands it; turn on ssl in the server's configuration, or connect with sslmode=prefer",
                    self.host, self.port
                ));
            }
            return VaultError::DatabaseUnreachable {
                host: self.host.clone(),
                port: self.port,
                reason: format!(
                    "the TLS handshake failed (sslmode={}): {reason}",
                    self.sslmode.as_str()
                ),
            };
        }
        if reason.contains("password") {
            return VaultError::DatabaseAuth {
                user: self.user.clone(),
                reason,
            };
        }
        VaultError::DatabaseUnreachable {
            host: self.host.clone(),
            port: self.port,
            reason,
        }
    }

    fn apply(&self, cmd: &mut Command) {
        cmd.arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port))
            .arg(format!("--username={}", self.user))
            .arg("--no-password")
            // libpq bounds the whole connection attempt by this (2 seconds at least).
            .env(
                "PGCONNECT_TIMEOUT",
                self.timeouts.connect.as_secs().max(2).to_string(),
            )
            .env("PGAPPNAME", "ward-vault")
            // The same negotiation as our own connection, whatever the caller's environment says.
            .env("PGSSLMODE", self.sslmode.as_str())
            .env("PGCHANNELBINDING", self.channel_binding.as_str())
            .env_remove("PGSSLROOTCERT")
            .env_remove("PGHOSTADDR")
            .env_remove("PGPASSWORD");
        if let Some(address) = &self.hostaddr {
            cmd.env("PGHOSTADDR", address);
        }
        if let Some(ca) = self
            .sslrootcert
            .as_ref()
            .filter(|_| self.sslmode.verifies())
        {
            cmd.env("PGSSLROOTCERT", ca);
        }
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw.expose());
        }
    }
}

/// The TLS parameters a URL names explicitly, each `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlTls {
    pub sslmode: Option<SslMode>,
    pub sslrootcert: Option<PathBuf>,
    pub channel_binding: Option<ChannelBinding>,
}

/// Takes libpq's TLS parameters out of a `postgres://` URL's query, since tokio-postgres
/// knows neither `sslrootcert` nor the verify modes: the rest of the URL, and the
/// parameters. An unknown value is refused naming the parameter; only a value from
/// libpq's own list (`allow`) is echoed, so nothing else of the URL ever is.
fn take_tls_parameters(url: &str) -> Result<(String, UrlTls)> {
    let mut tls = UrlTls::default();
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let Some((base, query)) = url.split_once('?').filter(|_| is_url) else {
        return Ok((url.to_string(), tls));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).ok_or_else(|| {
            VaultError::InvalidInput(format!(
                "the database URL's {key} parameter is not valid percent-encoded UTF-8"
            ))
        })?;
        match key {
            "sslmode" => {
                tls.sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                    VaultError::InvalidInput(if value == "allow" {
                        "sslmode=allow is not supported: use disable, prefer, require, verify-ca or verify-full".into()
                    } else {
                        "the database URL's sslmode is not one of disable, prefer, require, verify-ca, verify-full".into()
                    })
                })?);
            }
            "channel_binding" => {
                tls.channel_binding = Some(ChannelBinding::parse(&value).ok_or_else(|| {
                    VaultError::InvalidInput(
                        "the database URL's channel_binding is not one of disable, prefer, require"
                            .into(),
                    )
                })?);
            }
            "sslrootcert" => {
                if value.is_empty() {
                    return Err(VaultError::InvalidInput(
                        "the database URL's sslrootcert is empty: give the CA file's path".into(),
                    ));
                }
                // libpq 16's `system` (the operating system's trust store) is not offered:
                // a PostgreSQL server's CA is its own, never a public one.
                if value == "system" {
                    return Err(VaultError::InvalidInput(
                        "sslrootcert=system (the operating system's trusted roots) is not supported: give the server's CA file".into(),
                    ));
                }
                tls.sslrootcert = Some(PathBuf::from(value));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, tls))
}

/// `%XX` decoding, as libpq and tokio-postgres read URL parameters; `None` when it is not
/// valid or not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn db_error(e: tokio_postgres::Error) -> VaultError {
    match e.as_db_error() {
        // Our statement_timeout or lock_timeout ran out; DbConnection::locate names the
        // server and the limit.
        Some(db)
            if *db.code() == SqlState::QUERY_CANCELED
                || *db.code() == SqlState::LOCK_NOT_AVAILABLE =>
        {
            VaultError::Timeout {
                server: String::new(),
                phase: format!("running a statement ({})", db.message()),
                limit_seconds: 0,
                setting: "statement",
            }
        }
        Some(db) => VaultError::Database(db.message().to_string()),
        None => VaultError::Database(e.to_string()),
    }
}

/// Where the PostgreSQL client binaries are: `bindir`, else the folders of `search_path`
/// (the caller's `PATH`: the vault reads no environment variable itself).
#[derive(Debug, Clone, Default)]
pub struct PgTools {
    pub bindir: Option<PathBuf>,
    pub search_path: Vec<PathBuf>,
}

impl PgTools {
    pub fn in_dir(dir: impl Into<PathBuf>) -> PgTools {
        PgTools {
            bindir: Some(dir.into()),
            search_path: Vec::new(),
        }
    }

    /// The binaries found in these folders, in order (a `PATH` split by the caller).
    pub fn on_path(search_path: Vec<PathBuf>) -> PgTools {
        PgTools {
            bindir: None,
            search_path,
        }
    }

    fn program(&self, name: &str) -> Result<PathBuf> {
        match &self.bindir {
            Some(dir) => {
                let p = dir.join(name);
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(VaultError::ToolMissing {
                        program: name.into(),
                        path: p,
                    })
                }
            }
            None => self
                .search_path
                .iter()
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| VaultError::ToolMissing {
                    program: name.into(),
                    path: PathBuf::from(format!("{name} on PATH")),
                }),
        }
    }

    /// Major version of a client binary (`pg_dump (PostgreSQL) 15.2 …` → 15).
    fn major_version(&self, program: &Path, name: &str) -> Result<u32> {
        let out = Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|_| VaultError::ToolMissing {
                program: name.into(),
                path: program.to_path_buf(),
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(')')
            .nth(1)
            .and_then(|rest| rest.trim().split(['.', ' ']).next())
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| VaultError::ToolFailed {
                program: name.into(),
                status: "unrecognised --version output".into(),
                stderr: text.trim().to_string(),
            })
    }

    /// Checks that `name` exists and is not older than the server.
    pub(crate) fn check(&self, name: &str, server_major: u32) -> Result<PathBuf> {
        let program = self.program(name)?;
        let client = self.major_version(&program, name)?;
        if client < server_major {
            return Err(VaultError::ToolTooOld {
                program: name.into(),
                client,
                server: server_major,
            });
        }
        Ok(program)
    }

    /// Starts `pg_dump` in custom format without compression, in the exported snapshot,
    /// writing to a pipe.
    pub(crate) fn spawn_dump(
        &self,
        program: &Path,
        db: &DbConnection,
        snapshot: &str,
    ) -> Result<Child> {
        let mut cmd = Command::new(program);
        cmd.args(["--format=custom", "--compress=0"])
            .arg(format!("--snapshot={snapshot}"))
            // pg_dump turns statement_timeout off for itself; a lock it waits for is bounded.
            .arg(format!(
                "--lock-wait-timeout={}",
                db.timeouts.statement.as_millis().max(1)
            ));
        db.apply(&mut cmd);
        cmd.arg(format!("--dbname={}", db.dbname));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().map_err(|_| VaultError::ToolMissing {
            program: "pg_dump".into(),
            path: program.to_path_buf(),
        })
    }

    /// Starts `pg_restore` into `db`. `archive`: a file for parallel jobs, or `None` to
    /// read the archive from stdin.
    pub(crate) fn spawn_restore(
        &self,
        program: &Path,
        db: &DbConnection,
        role: Option<&str>,
        jobs: u32,
        archive: Option<&Path>,
        sections: RestoreSections,
    ) -> Result<Child> {
        let mut cmd = Command::new(program);
        db.apply(&mut cmd);
        cmd.arg(format!("--dbname={}", db.dbname)).args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
        ]);
        // With `--no-owner`, objects belong to whoever creates them: `--role` makes that
        // the owner the restore was asked for, never the user who ran it.
        if let Some(role) = role {
            cmd.arg(format!("--role={role}"));
        }
        if jobs > 1 {
            cmd.arg(format!("--jobs={jobs}"));
        }
        cmd.args(sections.args());
        match archive {
            Some(path) => {
                cmd.arg(path).stdin(Stdio::null());
            }
            None => {
                cmd.stdin(Stdio::piped());
            }
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.spawn().map_err(|_| VaultError::ToolMissing {
            program: "pg_restore".into(),
            path: program.to_path_buf(),
        })
    }
}

/// Which sections of an archive one `pg_restore` restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestoreSections {
    All,
    /// Definitions and rows: what must read the archive's data.
    PreDataAndData,
    /// Indexes, constraints and triggers: only the archive's table of contents.
    PostData,
}

impl RestoreSections {
    fn args(self) -> &'static [&'static str] {
        match self {
            RestoreSections::All => &[],
            RestoreSections::PreDataAndData => &["--section=pre-data", "--section=data"],
            RestoreSections::PostData => &["--section=post-data"],
        }
    }
}

/// Collects a child's stderr on a thread (bounded), so a chatty child never blocks.
pub(crate) fn collect_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut s) = stderr {
            let mut buf = [0u8; 8192];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if text.len() < 64 * 1024 {
                    text.extend_from_slice(&buf[..n]);
                }
            }
        }
        String::from_utf8_lossy(&text).trim().to_string()
    })
}

/// What the backup learns inside the dump's snapshot.
#[derive(Debug, Clone)]
pub(crate) struct DatabaseFacts {
    pub server_version: String,
    pub server_major: u32,
    pub odoo_version: Option<String>,
    pub modules: BTreeMap<String, String>,
    pub row_counts: BTreeMap<String, u64>,
    pub store_fnames: Vec<String>,
}

/// Tables whose exact row counts go into the manifest (those that exist).
pub const COUNTED_TABLES: &[&str] = &[
    "ir_attachment",
    "ir_config_parameter",
    "ir_cron",
    "ir_mail_server",
    "ir_module_module",
    "res_partner",
    "res_users",
    "res_company",
    "account_move",
    "sale_order",
];

/// Reads versions, modules, row counts and attachment names, all inside the caller's
/// transaction (so they describe the same instant as the dump).
pub(crate) async fn read_facts(client: &Client) -> Result<DatabaseFacts> {
    let server_version: String = client
        .query_one("SHOW server_version", &[])
        .await
        .map_err(db_error)?
        .get(0);
    let num: String = client
        .query_one("SHOW server_version_num", &[])
        .await
        .map_err(db_error)?
        .get(0);
    let server_major = num.parse::<u32>().map(|n| n / 10000).unwrap_or(0);
    let existing: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r','p')",
            &[],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let has = |t: &str| existing.iter().any(|e| e == t);

    let mut modules = BTreeMap::new();
    let mut odoo_version = None;
    if has("ir_module_module") {
        for row in client
            .query(
                "SELECT name::text, coalesce(latest_version::text, '') FROM ir_module_module WHERE state = 'installed' ORDER BY name",
                &[],
            )
            .await
            .map_err(db_error)?
        {
            let name: String = row.get(0);
            let version: String = row.get(1);
            if name == "base" {
                // Odoo module versions are "<odoo series>.<module version>", e.g. 17.0.1.3.
                let parts: Vec<&str> = version.split('.').collect();
                if parts.len() >= 2 {
                    odoo_version = Some(format!("{}.{}", parts[0], parts[1]));
                }
            }
            modules.insert(name, version);
        }
    }
    let mut row_counts = BTreeMap::new();
    for table in COUNTED_TABLES.iter().filter(|t| has(t)) {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM public.\"{table}\""), &[])
            .await
            .map_err(db_error)?
            .get(0);
        row_counts.insert(table.to_string(), n.max(0) as u64);
    }
    let mut store_fnames = Vec::new();
    if has("ir_attachment") {
        for row in client
            .query(
                "SELECT DISTINCT store_fname::text FROM ir_attachment \
                 WHERE store_fname IS NOT NULL AND store_fname <> '' ORDER BY 1",
                &[],
            )
            .await
            .map_err(db_error)?
        {
            store_fnames.push(row.get(0));
        }
    }
    Ok(DatabaseFacts {
        server_version,
        server_major,
        odoo_version,
        modules,
        row_counts,
        store_fnames,
    })
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(cmd: &Command, name: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    /// `pg_dump` and `pg_restore` negotiate as our own connection does: the URL's mode, or
    /// libpq's default, whatever `PGSSLMODE` the caller's environment holds.
    #[test]
    fn children_get_the_connection_s_sslmode() {
        for (url, mode) in [
            ("postgres://u:pw@db:5432/odoo", "prefer"),
            ("postgres://u:pw@db:5432/odoo?sslmode=require", "require"),
            ("postgres://u:pw@db:5432/odoo?sslmode=disable", "disable"),
        ] {
            let db = DbConnection::from_url(url).expect("url");
            let mut cmd = Command::new("pg_dump");
            db.apply(&mut cmd);
            assert_eq!(env_of(&cmd, "PGSSLMODE").as_deref(), Some(mode), "{url}");
            assert_eq!(env_of(&cmd, "PGPASSWORD").as_deref(), Some("pw"));
            let argv: Vec<String> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(argv.iter().all(|a| !a.contains("pw") && !a.contains("ssl")));
        }
    }

    /// The CA file and channel binding reach the children too: `PGSSLROOTCERT` only under
    /// a verify mode (and never the caller's own), `PGCHANNELBINDING` always.
    #[test]
    fn children_get_the_ca_file_and_channel_binding() {
        let verified = DbConnection::from_url(
            "postgres://u@db/odoo?sslmode=verify-full&sslrootcert=/ca/ca.crt&channel_binding=require",
        )
        .expect("url");
        let mut cmd = Command::new("pg_restore");
        verified.apply(&mut cmd);
        assert_eq!(env_of(&cmd, "PGSSLMODE").as_deref(), Some("verify-full"));
        assert_eq!(env_of(&cmd, "PGSSLROOTCERT").as_deref(), Some("/ca/ca.crt"));
        assert_eq!(env_of(&cmd, "PGCHANNELBINDING").as_deref(), Some("require"));
        let plain =
            DbConnection::from_url("postgres://u@db/odoo?sslmode=require&sslrootcert=/ca/ca.crt")
                .expect("url");
        let mut cmd = Command::new("pg_dump");
        plain.apply(&mut cmd);
        let removed = cmd
            .get_envs()
            .any(|(k, v)| k == "PGSSLROOTCERT" && v.is_none());
        assert!(removed, "the caller's PGSSLROOTCERT is removed");
        assert_eq!(env_of(&cmd, "PGCHANNELBINDING").as_deref(), Some("prefer"));
    }

    /// libpq never tries TLS over a unix socket; neither do we, whatever the mode.
    #[test]
    fn a_unix_socket_is_never_encrypted() {
        let db = DbConnection {
            host: "/run/postgresql".into(),
            port: 5432,
            dbname: "odoo".into(),
            user: "odoo".into(),
            password: None,
            sslmode: SslMode::Require,
            sslrootcert: None,
            channel_binding: ChannelBinding::Prefer,
            timeouts: PgTimeouts::default(),
            hostaddr: None,
        };
        assert_eq!(db.effective_sslmode(), SslMode::Disable);
        let tcp = DbConnection {
            host: "db".into(),
            ..db
        };
        assert_eq!(tcp.effective_sslmode(), SslMode::Require);
    }
}
