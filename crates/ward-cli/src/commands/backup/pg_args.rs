//! The flags of the database connection every vault command shares (`--pg-bindir`, the
//! timeouts, `--db-sslmode`, `--db-ca-file`), turned into the operations layer's settings.

use std::path::PathBuf;

use ward_ops::vault::{PgSettings, TlsSettings};

/// Where the PostgreSQL client tools are, and how long to wait for the server.
#[derive(clap::Args, Debug, Clone)]
pub struct PgArgs {
    /// Folder holding pg_dump/pg_restore [default: PATH].
    #[arg(long, env = "WARD_PG_BINDIR", value_name = "DIR")]
    pub pg_bindir: Option<PathBuf>,
    /// How long to wait for the database server to accept the connection and the login
    /// (e.g. 30s) [default: the environment's database.connectTimeout, else 10s].
    #[arg(long, value_name = "DURATION")]
    pub db_connect_timeout: Option<String>,
    /// How long one statement or table-lock wait may take, pg_dump's included (e.g. 15m)
    /// [default: the environment's database.statementTimeout, else 5m].
    #[arg(long, value_name = "DURATION")]
    pub db_statement_timeout: Option<String>,
    #[command(flatten)]
    pub tls: DbTlsArgs,
}

/// TLS for the database connection.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbTlsArgs {
    /// libpq's sslmode for the database connection (and pg_dump/pg_restore's)
    /// [default: the --db-url's sslmode, else the environment's database.sslmode: verify-full
    /// where the workload holds PHI, else require]. `prefer` only when asked for.
    #[arg(long, value_name = "MODE", value_parser = ["disable", "prefer", "require", "verify-ca", "verify-full"])]
    pub db_sslmode: Option<String>,
    /// The PEM file of the CA that signs the server's certificate, for verify-ca and
    /// verify-full (libpq's sslrootcert; for CloudNativePG, `ca.crt` of the `<cluster>-ca`
    /// Secret) [default: the --db-url's sslrootcert, else ~/.postgresql/root.crt].
    #[arg(long, value_name = "FILE")]
    pub db_ca_file: Option<PathBuf>,
}

impl PgArgs {
    pub fn settings(&self) -> PgSettings {
        PgSettings {
            pg_bindir: self.pg_bindir.clone(),
            db_connect_timeout: self.db_connect_timeout.clone(),
            db_statement_timeout: self.db_statement_timeout.clone(),
            tls: TlsSettings {
                db_sslmode: self.tls.db_sslmode.clone(),
                db_ca_file: self.tls.db_ca_file.clone(),
            },
        }
    }
}
