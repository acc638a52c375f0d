//! Runs one backup into a local repository, configured from the environment, and prints the
//! summary as JSON. Used by the crash test (SIGKILL at random points); `ward backup run` is
//! the real entry point.
//!
//! Environment: `WARD_VAULT_REPO` (folder), `WARD_DB_URL`, `WARD_FILESTORE`, `WARD_TARGET`
//! (`tenant/workload/environment`), `WARD_RECIPIENTS` (comma-separated `age1…`),
//! `WARD_KEY_CACHE` (repository key file), optional `WARD_PG_BINDIR`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ward_vault::{
    BackupOptions, BackupTarget, DbConnection, PgTools, Recipients, Repository, RepositoryConfig,
    StoreLocation, VaultError,
};

fn var(name: &str) -> Result<String, VaultError> {
    std::env::var(name).map_err(|_| VaultError::InvalidInput(format!("{name} is not set")))
}

async fn run() -> Result<ward_vault::BackupSummary, VaultError> {
    let repo = Repository::open(&RepositoryConfig {
        store: StoreLocation::Local(PathBuf::from(var("WARD_VAULT_REPO")?)),
        object_lock: None,
    })
    .await?;
    let target_spec = var("WARD_TARGET")?;
    let parts: Vec<&str> = target_spec.split('/').collect();
    let [tenant, workload, environment] = parts.as_slice() else {
        return Err(VaultError::InvalidInput(
            "WARD_TARGET must be tenant/workload/environment".into(),
        ));
    };
    let recipients_text = var("WARD_RECIPIENTS")?;
    let recipients = Recipients::parse(&recipients_text.split(',').collect::<Vec<_>>())?;
    let key = ward_vault::tenant_key(
        &repo,
        tenant,
        &recipients,
        &PathBuf::from(var("WARD_KEY_CACHE")?),
        None,
        None,
    )
    .await?;
    let target = BackupTarget {
        tenant: tenant.to_string(),
        workload: workload.to_string(),
        environment: environment.to_string(),
        db: DbConnection::from_url(&var("WARD_DB_URL")?)?,
        standby: None,
        filestore: PathBuf::from(var("WARD_FILESTORE")?),
    };
    let signing_key = ward_vault::BackupSigningKey::load(&PathBuf::from(var("WARD_SIGNING_KEY")?))?;
    let mut trusted = ward_vault::TrustedKeys::new();
    trusted.pin(tenant, workload, environment, [signing_key.public()]);
    let mut options = BackupOptions::new(recipients, signing_key, trusted);
    if let Ok(dir) = std::env::var("WARD_PG_BINDIR") {
        options.pg_tools = PgTools::in_dir(dir);
    }
    ward_vault::backup(
        &repo,
        &target,
        &key,
        &options,
        Arc::new(ward_vault::NoProgress),
    )
    .await
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run()) {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
