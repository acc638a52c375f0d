//! What the binary read from its process environment on the operations' behalf: library
//! crates read no environment variable, so the CLI (or the server) reads these once and
//! hands them over in the [`crate::Workspace`].

use std::path::PathBuf;

use ward_vault::SecretString;

/// The settings a person or a job gives through environment variables.
#[derive(Clone, Debug, Default)]
pub struct ProcessEnv {
    /// `PGPASSWORD`: the database password when a URL has none.
    pub pgpassword: Option<SecretString>,
    /// `WARD_IDENTITY`: a DBA or break-glass age identity file.
    pub identity: Option<PathBuf>,
    /// `AWS_ACCESS_KEY_ID`.
    pub aws_access_key_id: Option<SecretString>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub aws_secret_access_key: Option<SecretString>,
    /// `HOME`: where libpq's `~/.postgresql/root.crt` is.
    pub home: Option<PathBuf>,
    /// `PATH`, split: where the PostgreSQL client tools are found without `--pg-bindir`.
    pub path: Vec<PathBuf>,
    /// The folder scratch files go in (`TMPDIR`, else the system's).
    pub temp_dir: PathBuf,
}
