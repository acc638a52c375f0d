//! Throwaway PostgreSQL clusters for tests and benchmarks.
//!
//! [`TempCluster::start`] runs `initdb` in a fresh temporary folder, starts `postgres` on a
//! free port of 127.0.0.1 with its unix socket inside that folder, and tears everything down
//! (server stopped, folder removed) when the value is dropped — also when a test panics.
//!
//! The superuser is `postgres`. Over TCP it needs its password ([`TempCluster::password`],
//! random per cluster, scram-sha-256), so tests can exercise wrong-password paths; over the
//! unix socket ([`TempCluster::psql`]) it is trusted.
//!
//! `initdb` refuses to run as root. When the process is root (CI here), the server binaries
//! run as the unprivileged `nobody` user and the folder is handed to it.
//!
//! [`TempCluster::enable_tls`] turns TLS on with a fresh certificate issued by a test CA of
//! its own ([`TestCa`], made by the `openssl` command; [`TempCluster::ca_file`] is its
//! certificate, for `sslmode=verify-full`) and [`TempCluster::set_hba`] replaces the client
//! authentication rules, each taking effect before it returns, for tests of `hostssl`-only
//! servers.
//!
//! [`TempCluster::start_standby`] makes a streaming hot standby of a cluster
//! (`pg_basebackup -R` into its own folder, its own port), itself a [`TempCluster`]
//! that [`TempCluster::stop`] can stop early, for tests of reading from a replica.
//!
//! Binaries are found, in order, in `$WARD_PG_BINDIR`, `pg_config --bindir`, the newest
//! `/usr/lib/postgresql/*/bin`, then `PATH`.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What can go wrong while setting up or using a throwaway cluster.
#[derive(Debug, thiserror::Error)]
pub enum PgTempError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found; install the postgresql package or set WARD_PG_BINDIR"
    )]
    BinariesNotFound,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed: {stderr}")]
    CommandFailed { program: String, stderr: String },
    #[error("PostgreSQL did not become ready; server log:\n{log}")]
    NotReady { log: String },
    #[error("the server did not take the new configuration: {0}")]
    Config(String),
}

/// Result alias for this crate.
pub type Result<T, E = PgTempError> = std::result::Result<T, E>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgTempError {
    let what = what.into();
    move |source| PgTempError::Io { what, source }
}

/// The unix identity the server runs as (only different from ours when we are root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running, throwaway PostgreSQL cluster. Dropping it stops the server and deletes its data.
#[derive(Debug)]
pub struct TempCluster {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    password: String,
    run_as: Option<RunAs>,
    server: Option<Child>,
}

impl TempCluster {
    /// Creates and starts a new cluster. Takes about a second.
    pub fn start() -> Result<TempCluster> {
        let bindir = find_bindir()?;
        let run_as = if current_uid() == Some(0) {
            Some(unprivileged_user())
        } else {
            None
        };
        let mut cluster = TempCluster::empty(bindir, run_as, random_hex(16))?;
        // From here on, Drop cleans up whatever exists.
        cluster.init()?;
        cluster.launch()?;
        Ok(cluster)
    }

    /// A cluster value with a fresh, empty root folder and no server yet.
    fn empty(bindir: PathBuf, run_as: Option<RunAs>, password: String) -> Result<TempCluster> {
        let root = std::env::temp_dir().join(format!("ward-pgtemp-{}", random_hex(8)));
        fs::create_dir(&root).map_err(io(format!("creating {}", root.display())))?;
        Ok(TempCluster {
            root,
            bindir,
            port: 0,
            password,
            run_as,
            server: None,
        })
    }

    /// Starts a streaming hot standby of this cluster on its own port and folder, and
    /// returns once it accepts read-only connections. It is a base backup taken over the
    /// primary's unix socket (`pg_basebackup -R -X stream`, so it streams WAL over that
    /// socket too, as the superuser, which `local replication all trust` admits) with
    /// `hot_standby = on`; the superuser and its password are the primary's. Dropping it
    /// stops it and removes its folder; the primary is not touched.
    pub fn start_standby(&self) -> Result<TempCluster> {
        let mut standby =
            TempCluster::empty(self.bindir.clone(), self.run_as, self.password.clone())?;
        fs::create_dir(standby.socket_dir()).map_err(io("creating the socket folder"))?;
        standby.hand_over(&standby.root)?;
        standby.hand_over(&standby.socket_dir())?;
        let out = standby
            .command("pg_basebackup")
            .arg("-D")
            .arg(standby.data_dir())
            .arg("-h")
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-R", "-X", "stream", "--no-sync"])
            .args(["-c", "fast"])
            .stdin(Stdio::null())
            .output()
            .map_err(io("running pg_basebackup"))?;
        succeeded("pg_basebackup", out)?;
        // pg_basebackup copies the primary's settings; a standby's own are set here.
        let auto_conf = standby.data_dir().join("postgresql.auto.conf");
        let mut conf =
            fs::read_to_string(&auto_conf).map_err(io("reading postgresql.auto.conf"))?;
        conf.push_str("hot_standby = on\n");
        fs::write(&auto_conf, conf).map_err(io("writing postgresql.auto.conf"))?;
        standby.launch()?;
        Ok(standby)
    }

    /// Stops the server now (immediate shutdown); the folder stays until the value is
    /// dropped. Connections to the port are refused from then on.
    pub fn stop(&mut self) {
        self.stop_server();
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Folder holding the server's unix socket (usable as `host` by libpq clients).
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("sock")
    }

    /// Folder of the PostgreSQL binaries this cluster runs (`psql`, `pg_dump`, … live there too).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Host to connect to over TCP.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// Superuser name.
    pub fn user(&self) -> &str {
        "postgres"
    }

    /// The superuser's password (random per cluster; needed over TCP).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Connection URL of the `postgres` database, with the password (test use only).
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Connection URL of database `db`, with the password (test use only).
    pub fn url_for(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}",
            self.password, self.port, db
        )
    }

    /// Runs SQL in the `postgres` database through `psql` and returns its unaligned,
    /// tuples-only output (`|`-separated columns, one row per line).
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_db("postgres", sql)
    }

    /// Runs SQL in database `db` through `psql` (see [`TempCluster::psql`]).
    pub fn psql_db(&self, db: &str, sql: &str) -> Result<String> {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(io("running psql"))?;
        let out = succeeded("psql", out)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// A `psql` command over TCP (`127.0.0.1`) to database `db` as `user`, with its
    /// password and `PGSSLMODE` set: for tests of what a network login may do, including
    /// being refused, so it is returned to run rather than run here.
    pub fn psql_tcp(
        &self,
        user: &str,
        password: &str,
        sslmode: &str,
        db: &str,
        sql: &str,
    ) -> Command {
        let mut cmd = Command::new(self.bindir.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host(),
            "-p",
        ])
        .arg(self.port.to_string())
        .args(["-U", user, "-d", db, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", sslmode)
        .stdin(Stdio::null());
        cmd
    }

    /// Turns TLS on (`ssl = on`) with a new certificate for `127.0.0.1` (`IP:127.0.0.1`
    /// in its subjectAltName) issued by the cluster's test CA ([`TempCluster::ca_file`]),
    /// and returns once a TLS connection over TCP works. Needs the `openssl` command.
    pub fn enable_tls(&self) -> Result<()> {
        self.enable_tls_for("IP:127.0.0.1")
    }

    /// [`TempCluster::enable_tls`] with the certificate's subjectAltName `san` in
    /// OpenSSL's syntax (`DNS:localhost`, `DNS:a,IP:127.0.0.1`): for tests of host-name
    /// checks (`sslmode=verify-full` to `127.0.0.1` fails against `DNS:localhost`).
    pub fn enable_tls_for(&self, san: &str) -> Result<()> {
        let dir = self.root.join("tls");
        fs::create_dir_all(&dir).map_err(io("creating the TLS folder"))?;
        let ca = TestCa::create(&dir.join("ca"), "ward-pgtemp test CA")?;
        let (cert, key) = ca.issue_server(&dir, san)?;
        for path in [&dir, &cert, &key] {
            self.hand_over(path)?;
        }
        self.psql(&format!(
            "ALTER SYSTEM SET ssl_cert_file = {}",
            quote_literal(&cert.display().to_string())
        ))?;
        self.psql(&format!(
            "ALTER SYSTEM SET ssl_key_file = {}",
            quote_literal(&key.display().to_string())
        ))?;
        self.psql("ALTER SYSTEM SET ssl = on")?;
        self.reload()?;
        // A certificate the server cannot load leaves TLS off with only a log line: prove
        // it works with a real TLS login.
        let out = self
            .psql_tcp(
                self.user(),
                &self.password,
                "require",
                "postgres",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            )
            .output()
            .map_err(io("running psql"))?;
        if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "t" {
            let log = fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            return Err(PgTempError::Config(format!(
                "TLS did not come up: {}; server log:\n{log}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The PEM certificate of the CA that signed the server's certificate (after
    /// [`TempCluster::enable_tls`]): libpq's `sslrootcert`.
    pub fn ca_file(&self) -> PathBuf {
        self.root.join("tls").join("ca").join("ca.crt")
    }

    /// Replaces pg_hba.conf with `lines`, after the `local all all trust` line that
    /// [`TempCluster::psql`] relies on (and `local replication all trust`, which
    /// [`TempCluster::start_standby`] does), and returns once new connections follow them.
    /// Refuses lines the server reports as errors (the old rules would stay in force).
    pub fn set_hba(&self, lines: &[&str]) -> Result<()> {
        let file = self.psql("SHOW hba_file")?;
        // `all` in the database column does not match replication connections: a
        // standby of this cluster streams over the socket with its own line.
        let mut text = String::from("local all all trust\nlocal replication all trust\n");
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        fs::write(file.trim(), text).map_err(io("writing pg_hba.conf"))?;
        let errors = self.psql(
            "SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL",
        )?;
        if !errors.is_empty() {
            return Err(PgTempError::Config(format!("pg_hba.conf: {errors}")));
        }
        self.reload()
    }

    /// Reloads the configuration files and waits until the server has: a new session
    /// inherits the postmaster's load time, so it moving past the old one proves that
    /// connections made from now on see the new configuration.
    pub fn reload(&self) -> Result<()> {
        let before = self.psql("SELECT pg_conf_load_time()")?;
        self.psql("SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.psql("SELECT pg_conf_load_time()")? != before {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(PgTempError::Config(
                    "the server did not reload its configuration within 10 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        if let Some(run_as) = self.run_as {
            cmd.uid(run_as.uid).gid(run_as.gid);
        }
        // The unprivileged user may not be able to enter our working directory.
        cmd.current_dir(&self.root);
        cmd
    }

    fn init(&mut self) -> Result<()> {
        let pwfile = self.root.join("pwfile");
        fs::write(&pwfile, &self.password).map_err(io("writing the password file"))?;
        fs::create_dir(self.socket_dir()).map_err(io("creating the socket folder"))?;
        self.hand_over(&self.root)?;
        self.hand_over(&pwfile)?;
        self.hand_over(&self.socket_dir())?;
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(io("running initdb"))?;
        let _ = fs::remove_file(&pwfile);
        succeeded("initdb", out).map(drop)
    }

    fn hand_over(&self, path: &Path) -> Result<()> {
        if let Some(run_as) = self.run_as {
            std::os::unix::fs::chown(path, Some(run_as.uid), Some(run_as.gid))
                .map_err(io(format!("handing {} to the server user", path.display())))?;
        }
        Ok(())
    }

    fn launch(&mut self) -> Result<()> {
        let log_path = self.root.join("server.log");
        let mut last_log = String::new();
        // A port found free can be taken by someone else before the server binds it: retry.
        for _ in 0..5 {
            self.port = free_port()?;
            let log = File::create(&log_path).map_err(io("creating the server log"))?;
            let log_err = log.try_clone().map_err(io("creating the server log"))?;
            let child = self
                .command("postgres")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-k")
                .arg(self.socket_dir())
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=60",
                ])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .map_err(io("starting postgres"))?;
            self.server = Some(child);
            if self.wait_ready()? {
                return Ok(());
            }
            last_log = fs::read_to_string(&log_path).unwrap_or_default();
            self.stop_server();
        }
        Err(PgTempError::NotReady { log: last_log })
    }

    /// True once the server accepts connections; false when it exited or timed out.
    fn wait_ready(&mut self) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.server.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return Ok(false);
            }
            let ready = Command::new(self.bindir.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(self.socket_dir())
                .arg("-p")
                .arg(self.port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(io("running pg_isready"))?;
            if ready.success() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(false)
    }

    fn stop_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = self
                .command("pg_ctl")
                .arg("stop")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "-t", "10"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.stop_server();
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `out` when `program` exited with success, else its standard error as the failure.
/// A certificate authority for tests, made by `openssl` (P-256, ECDSA-SHA256: quick to
/// make, and a signature algorithm whose hash defines SCRAM channel binding).
#[derive(Debug, Clone)]
pub struct TestCa {
    cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// Makes a new CA in `dir` (created): `ca.crt` and `ca.key`, valid for two days.
    pub fn create(dir: &Path, name: &str) -> Result<TestCa> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let ca = TestCa {
            cert: dir.join("ca.crt"),
            key: dir.join("ca.key"),
        };
        let out = Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256"])
            .args(["-days", "2", "-subj"])
            .arg(format!("/CN={name}"))
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&ca.key)
            .arg("-out")
            .arg(&ca.cert)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running openssl (install the openssl package)"))?;
        succeeded("openssl", out)?;
        Ok(ca)
    }

    /// The CA's PEM certificate.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// Issues a server certificate for `san` (OpenSSL's subjectAltName syntax) into
    /// `dir`: `server.crt` and `server.key` (mode 0600), as PostgreSQL loads them.
    pub fn issue_server(&self, dir: &Path, san: &str) -> Result<(PathBuf, PathBuf)> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let (cert, key, csr, ext) = (
            dir.join("server.crt"),
            dir.join("server.key"),
            dir.join("server.csr"),
            dir.join("server.ext"),
        );
        let out = Command::new("openssl")
            .args(["req", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256"])
            .args(["-subj", "/CN=ward-pgtemp"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running openssl (install the openssl package)"))?;
        succeeded("openssl", out)?;
        fs::write(
            &ext,
            format!(
                "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .map_err(io("writing the certificate extensions"))?;
        let out = Command::new("openssl")
            .args(["x509", "-req", "-sha256", "-days", "2"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&self.cert)
            .arg("-CAkey")
            .arg(&self.key)
            .arg("-set_serial")
            .arg(format!("0x{}", random_hex(8)))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running openssl (install the openssl package)"))?;
        succeeded("openssl", out)?;
        // The server refuses a key file that others can read.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .map_err(io("restricting the TLS key"))?;
        Ok((cert, key))
    }
}

fn succeeded(program: &str, out: std::process::Output) -> Result<std::process::Output> {
    if out.status.success() {
        return Ok(out);
    }
    Err(PgTempError::CommandFailed {
        program: program.into(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Quotes an SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn current_uid() -> Option<u32> {
    // /proc/self belongs to the process's effective user; avoids libc and unsafe code.
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

fn unprivileged_user() -> RunAs {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == "nobody" {
                Some(RunAs {
                    uid: fields[2].parse().ok()?,
                    gid: fields[3].parse().ok()?,
                })
            } else {
                None
            }
        })
        .next()
        .unwrap_or(RunAs {
            uid: 65534,
            gid: 65534,
        })
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("finding a free port"))?
        .port();
    Ok(port)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Uniqueness, not secrecy, matters for folder names; fall back to time and pid.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        return format!("{:x}{:x}", nanos, std::process::id());
    }
    hex::encode(buf)
}

/// Finds the folder holding `initdb` and `postgres`.
pub fn find_bindir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("WARD_PG_BINDIR").map(PathBuf::from)
        && has_server(&dir)
    {
        return Ok(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, dir)| has_server(dir))
            .collect();
        versions.sort();
        if let Some((_, dir)) = versions.pop() {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(PgTempError::BinariesNotFound)
}
