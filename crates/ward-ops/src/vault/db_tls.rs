//! How `ward backup run`, `restore` and `drill` protect their database connection: the
//! `--db-sslmode`/`--db-ca-file` flags, the `--db-url`'s libpq parameters and the estate's
//! `database.sslmode`, settled into one [`DbConnection`] before anything connects.

use std::path::{Path, PathBuf};

use ward_estate::ResolvedEnvironment;
use ward_estate::model::DbSslMode;
use ward_vault::{DbConnection, SslMode};

use crate::Error;

/// libpq's default CA file under the home folder, as libpq looks for it.
const LIBPQ_ROOT_CERT: &str = ".postgresql/root.crt";

/// TLS for the database connection.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// libpq's sslmode for the database connection (and pg_dump/pg_restore's)
    /// [default: the --db-url's sslmode, else the environment's database.sslmode: verify-full
    /// where the workload holds PHI, else require]. `prefer` only when asked for.
    pub db_sslmode: Option<String>,
    /// The PEM file of the CA that signs the server's certificate, for verify-ca and
    /// verify-full (libpq's sslrootcert; for CloudNativePG, `ca.crt` of the `<cluster>-ca`
    /// Secret) [default: the --db-url's sslrootcert, else ~/.postgresql/root.crt].
    pub db_ca_file: Option<PathBuf>,
}

/// Where the mode in force came from, for messages.
enum ModeSource {
    Flag,
    Url,
    Estate(String),
    Unknown,
}

impl TlsSettings {
    /// Settles `db`'s `sslmode` and `sslrootcert`: `--db-sslmode`, the `--db-url`'s
    /// `sslmode`, the estate's mode for `env` (declared or derived), else `verify-full`
    /// (a snapshot whose environment the estate no longer has: assume it holds PHI). The CA
    /// file: `--db-ca-file`, the URL's `sslrootcert`, else libpq's `~/.postgresql/root.crt`.
    /// A verify mode without a CA file there is refused here, saying where the mode came
    /// from; a CA file that does not parse is refused by [`DbConnection::check_tls`].
    pub fn apply(
        &self,
        db: &mut DbConnection,
        env: Option<&ResolvedEnvironment>,
        url: Option<&str>,
        home: Option<&Path>,
    ) -> Result<(), Error> {
        let from_url = match url {
            Some(url) => DbConnection::url_tls_parameters(url).map_err(|e| {
                Error::bad_input(e.to_string(), "use postgres://user[:password]@host:port/db")
            })?,
            None => Default::default(),
        };
        let flag = self.db_sslmode.as_deref().and_then(SslMode::parse);
        let (mode, source) = match (flag, from_url.sslmode) {
            (Some(flag), Some(in_url)) if flag != in_url => {
                return Err(Error::bad_input(
                    format!("--db-sslmode {flag} and the --db-url's sslmode={in_url} disagree"),
                    "give the mode once",
                ));
            }
            (Some(flag), _) => (flag, ModeSource::Flag),
            (None, Some(in_url)) => (in_url, ModeSource::Url),
            (None, None) => match env {
                Some(env) => (
                    estate_mode(env.database.sslmode),
                    ModeSource::Estate(env.address()),
                ),
                None => (SslMode::VerifyFull, ModeSource::Unknown),
            },
        };
        db.sslmode = mode;
        let ca = match (&self.db_ca_file, &from_url.sslrootcert) {
            (Some(flag), Some(in_url)) if flag != in_url => {
                return Err(Error::bad_input(
                    format!(
                        "--db-ca-file {} and the --db-url's sslrootcert={} disagree",
                        flag.display(),
                        in_url.display()
                    ),
                    "give the CA file once",
                ));
            }
            (Some(flag), _) => Some(flag.clone()),
            (None, Some(in_url)) => Some(in_url.clone()),
            (None, None) => None,
        };
        db.sslrootcert = match ca {
            Some(ca) => Some(ca),
            None if mode.verifies() => Some(libpq_default_ca(mode, &source, home)?),
            None => None,
        };
        db.check_tls().map_err(|e| {
            let hint = "pass --db-ca-file with the server's CA, or --db-sslmode require to encrypt without checking the certificate";
            if e.exit_code() == 2 {
                Error::bad_input(e.to_string(), hint)
            } else {
                Error::operational(e.to_string(), hint)
            }
        })
    }
}

/// The estate's mode as the vault spells it.
fn estate_mode(mode: DbSslMode) -> SslMode {
    match mode {
        DbSslMode::Disable => SslMode::Disable,
        DbSslMode::Prefer => SslMode::Prefer,
        DbSslMode::Require => SslMode::Require,
        DbSslMode::VerifyCa => SslMode::VerifyCa,
        DbSslMode::VerifyFull => SslMode::VerifyFull,
    }
}

/// libpq's `~/.postgresql/root.crt`, when it exists; else a refusal that says where the
/// verify mode came from and how to give the CA or ask for less.
fn libpq_default_ca(
    mode: SslMode,
    source: &ModeSource,
    home: Option<&Path>,
) -> Result<PathBuf, Error> {
    let default = home.as_ref().map(|h| h.join(LIBPQ_ROOT_CERT));
    if let Some(path) = default.as_ref().filter(|p| p.is_file()) {
        return Ok(path.clone());
    }
    let why = match source {
        ModeSource::Flag => "--db-sslmode".to_string(),
        ModeSource::Url => "the --db-url's sslmode".to_string(),
        ModeSource::Estate(address) => format!(
            "environment {address}'s database.sslmode, by default verify-full where the workload holds PHI"
        ),
        ModeSource::Unknown => {
            "the default for a snapshot whose environment is not in the estate".to_string()
        }
    };
    let looked = default.map_or_else(
        || "and HOME is not set".to_string(),
        |p| format!("nor at {}", p.display()),
    );
    Err(Error::bad_input(
        format!(
            "sslmode={mode} (from {why}) checks the server's certificate against a CA, and none was given: no --db-ca-file, no sslrootcert= in a --db-url, {looked}"
        ),
        "pass --db-ca-file with the CA that signs the server's certificate (for CloudNativePG: kubectl get secret <cluster>-ca -o jsonpath='{.data.ca\\.crt}' | base64 -d > ca.crt), or --db-sslmode require to encrypt without checking it",
    ))
}
