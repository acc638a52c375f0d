//! The database a vault command connects to (`--db-url`, else the estate's login and its
//! password secret) and the PostgreSQL client tools and timeouts it uses.

use std::path::PathBuf;

use ward_estate::model::SecretRef;
use ward_estate::{Estate, ResolvedEnvironment};
use ward_vault::{DbConnection, PgTools, VaultError};

use super::vault_error;
use crate::{Error, ProcessEnv, Workspace};

/// Where the PostgreSQL client tools are, and how long to wait for the server.
#[derive(Debug, Clone, Default)]
pub struct PgSettings {
    /// Folder holding pg_dump/pg_restore [default: PATH].
    pub pg_bindir: Option<PathBuf>,
    /// How long to wait for the database server to accept the connection and the login
    /// (e.g. 30s) [default: the environment's database.connectTimeout, else 10s].
    pub db_connect_timeout: Option<String>,
    /// How long one statement or table-lock wait may take, pg_dump's included (e.g. 15m)
    /// [default: the environment's database.statementTimeout, else 5m].
    pub db_statement_timeout: Option<String>,
    pub tls: super::TlsSettings,
}

impl PgSettings {
    /// `pg_bindir`, else the process's `PATH`.
    pub fn tools(&self, env: &ProcessEnv) -> PgTools {
        match &self.pg_bindir {
            Some(dir) => PgTools::in_dir(dir),
            None => PgTools::on_path(env.path.clone()),
        }
    }

    /// The limits for `env`'s server: the flags, else the estate's
    /// `database.connectTimeout`/`statementTimeout`, else the defaults.
    pub fn timeouts(
        &self,
        estate: &Estate,
        env: Option<&ResolvedEnvironment>,
    ) -> Result<ward_vault::PgTimeouts, Error> {
        let declared = env.and_then(|env| {
            estate
                .workloads
                .iter()
                .find(|w| w.name() == env.workload)?
                .spec
                .environments
                .iter()
                .find(|e| e.name.value == env.environment)?
                .database
                .as_ref()
        });
        let pick = |flag: &Option<String>,
                    name: &str,
                    estate_value: Option<&ward_estate::units::Duration>,
                    default: std::time::Duration|
         -> Result<std::time::Duration, Error> {
            let seconds = match flag {
                Some(text) => ward_estate::units::Duration::parse(text)
                    .map_err(|e| {
                        Error::bad_input(format!("--{name} {text}: {e}"), "e.g. 30s, 5m, 1h")
                    })?
                    .as_secs(),
                None => match estate_value {
                    Some(d) => d.as_secs(),
                    None => return Ok(default),
                },
            };
            if seconds == 0 {
                return Err(Error::bad_input(
                    format!("the {name} must be at least 1s"),
                    "e.g. 30s, 5m, 1h",
                ));
            }
            Ok(std::time::Duration::from_secs(seconds))
        };
        let defaults = ward_vault::PgTimeouts::default();
        Ok(ward_vault::PgTimeouts {
            connect: pick(
                &self.db_connect_timeout,
                "db-connect-timeout",
                declared
                    .and_then(|d| d.connect_timeout.as_ref())
                    .map(|s| &s.value),
                defaults.connect,
            )?,
            statement: pick(
                &self.db_statement_timeout,
                "db-statement-timeout",
                declared
                    .and_then(|d| d.statement_timeout.as_ref())
                    .map(|s| &s.value),
                defaults.statement,
            )?,
        })
    }
}

/// A database to connect to, and where its password came from (for the hint when the
/// server refuses it).
pub struct DbTarget {
    pub db: DbConnection,
    pub password_source: String,
    /// Where the user name came from, for the hint when the server has no such role.
    pub user_source: String,
    /// Whether the host came from the estate (no `--db-url`): an unresolvable one is then
    /// most likely the in-cluster service name, run from outside the cluster.
    pub host_from_estate: bool,
}

impl DbTarget {
    /// The failure for a vault error, pointing at the password's source when the server
    /// refused the login.
    pub fn failure(&self, e: VaultError, hint: &str) -> Error {
        match e.cause() {
            VaultError::DatabaseAuth { .. } => {
                let hint = format!("the password came from {}", self.password_source);
                vault_error(e, &hint)
            }
            VaultError::RoleMissing { user, .. } => {
                let hint = format!(
                    "the user name {user:?} came from {}: create that role on the server, or fix the name there",
                    self.user_source
                );
                vault_error(e, &hint)
            }
            VaultError::DatabaseUnreachable { host, port, .. }
                if self.db.hostaddr.is_none() && !resolves(host, *port) =>
            {
                let hint = unresolved_hint(host, self.host_from_estate);
                vault_error(e, &hint)
            }
            _ => vault_error(e, hint),
        }
    }
}

/// Whether `host` resolves from here; asked again after the connection failed, so that the
/// hint rests on the resolver's answer rather than on the wording of the driver's error.
fn resolves(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    (host, port)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.next().is_some())
}

/// A Kubernetes service address: `<svc>.<namespace>.svc[.cluster.local]`, or a bare
/// service name as the estate derives it (`<cluster>-rw`), which only the cluster's DNS knows.
fn in_cluster_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.ends_with(".svc") || host.contains(".svc.") || !host.contains('.')
}

/// The hint for a database host that does not resolve from here.
fn unresolved_hint(host: &str, from_estate: bool) -> String {
    if !from_estate {
        format!("{host} does not resolve from here: check the host in the --db-url")
    } else if in_cluster_name(host) {
        format!(
            "{host} does not resolve from here: this is the in-cluster address; use --db-url postgres://USER@HOST:PORT/DB with an address this machine reaches (e.g. localhost after kubectl port-forward)"
        )
    } else {
        format!(
            "{host} does not resolve from here: check the environment's database.host in the estate, or use --db-url"
        )
    }
}

/// Who logs in where when no `--db-url` says: an environment's own role on its database,
/// or the drill role on its server's maintenance database, each with the secret reference
/// its password is read from (resolved once in `ward_estate::resolve`).
pub struct Login<'e> {
    host: &'e str,
    port: u32,
    dbname: &'e str,
    user: &'e str,
    password_secret: &'e SecretRef,
    /// Where `user` came from, said in the hint when the server has no such role.
    user_source: String,
}

impl<'e> Login<'e> {
    /// The environment's own role on its own database (backups, restores).
    pub fn owner(env: &'e ResolvedEnvironment) -> Login<'e> {
        let d = &env.database;
        Login {
            host: &d.host,
            port: d.port,
            dbname: &d.name,
            user: &d.user,
            password_secret: &d.password_secret,
            user_source: format!(
                "the estate: environment {}'s database.user, or its default when not set ({})",
                env.address(),
                env.location
            ),
        }
    }

    /// The drill role on the environment's drill server (never its production one, unless
    /// the estate declares the host), at its maintenance database (drills).
    pub fn drill(env: &'e ResolvedEnvironment) -> Login<'e> {
        let d = &env.database;
        Login {
            host: &d.drill.host,
            port: d.port,
            dbname: &d.drill.database,
            user: &d.drill.user,
            password_secret: &d.drill.password_secret,
            user_source: "the drill role the renderer gives every PostgreSQL cluster (docs/rendering.md, \"The drill role\"); pass --db-url to drill as another user".into(),
        }
    }
}

/// The database to connect to: `--db-url`, else `login`. The password comes from the
/// URL, else `PGPASSWORD`, else the login's password secret in the secrets folder (see
/// [`crate::secrets`]).
pub fn db_connection(
    ws: &Workspace,
    login: Option<Login<'_>>,
    url: Option<&str>,
) -> Result<DbTarget, Error> {
    let mut db = match (url, &login) {
        (Some(url), _) => DbConnection::from_url(url)
            .map_err(|e| vault_error(e, "use postgres://user[:password]@host:port/db"))?,
        (None, Some(login)) => DbConnection {
            host: login.host.to_string(),
            port: u16::try_from(login.port).map_err(|_| {
                Error::bad_input(
                    format!("database port {} is out of range", login.port),
                    "fix the environment's database port in the estate",
                )
            })?,
            dbname: login.dbname.to_string(),
            user: login.user.to_string(),
            password: None,
            // Settled by `DbTlsArgs::apply` from the flags and the estate.
            sslmode: ward_vault::SslMode::VerifyFull,
            sslrootcert: None,
            channel_binding: ward_vault::ChannelBinding::Prefer,
            timeouts: ward_vault::PgTimeouts::default(),
            hostaddr: None,
        },
        (None, None) => {
            return Err(Error::bad_input(
                "no database to connect to: the snapshot's environment is not in the estate",
                "pass --db-url postgres://user@host:port/postgres",
            ));
        }
    };
    let host_from_estate = url.is_none();
    let user_source = match (url, &login) {
        (None, Some(login)) => login.user_source.clone(),
        _ => "the --db-url".into(),
    };
    if db.password.is_some() {
        return Ok(DbTarget {
            db,
            password_source: "the --db-url".into(),
            user_source,
            host_from_estate,
        });
    }
    if let Some(pw) = &ws.env.pgpassword {
        db.password = Some(pw.clone());
        return Ok(DbTarget {
            db,
            password_source: "PGPASSWORD".into(),
            user_source,
            host_from_estate,
        });
    }
    let Some(login) = login else {
        return Ok(DbTarget {
            db,
            password_source: "nowhere: put it in the --db-url or PGPASSWORD".into(),
            user_source,
            host_from_estate,
        });
    };
    let secrets = &ws.secrets;
    let secret = login.password_secret;
    let path = secrets.path_of(secret, None)?;
    let named = crate::secrets::SecretsDir::describe(secret);
    db.password = secrets.read(secret, None)?;
    let password_source = if db.password.is_some() {
        format!("the secret {named} ({})", path.display())
    } else {
        format!(
            "nowhere: the secret {named} is not at {}; write it there (or mount it, or pass --secrets-dir), or set PGPASSWORD",
            path.display()
        )
    };
    Ok(DbTarget {
        db,
        password_source,
        user_source,
        host_from_estate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_in_cluster() {
        for host in [
            "billing-rw.care-prod.svc",
            "billing-rw.care-prod.svc.cluster.local",
            "billing-rw.care-prod.svc.cluster.local.",
            "billing-prod-db-rw",
        ] {
            assert!(in_cluster_name(host), "{host}");
        }
        assert!(!in_cluster_name("db.care.example"));
        assert!(unresolved_hint("billing-prod-db-rw", true).contains("in-cluster"));
        assert!(!unresolved_hint("billing-prod-db-rw", false).contains("in-cluster"));
    }
}
