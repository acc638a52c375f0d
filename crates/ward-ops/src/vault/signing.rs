//! Backup signing keys: the keys the estate pins (`backup.signingKeys`) handed to the
//! vault, and where a backup finds its private key.

use std::path::{Path, PathBuf};

use ward_estate::{Estate, ResolvedEnvironment};
use ward_vault::{BackupSigningKey, SigningPublicKey, TrustedKeys};

use crate::{Error, Workspace};

/// Every environment's pinned keys, as the vault wants them. A key the estate decoder let
/// through whose Ed25519 point is invalid is refused here, naming the environment.
pub fn trusted_keys(estate: &Estate) -> Result<TrustedKeys, Error> {
    let mut keys = TrustedKeys::new();
    for env in &estate.environments {
        let mut parsed = Vec::new();
        for text in &env.backup_signing_keys {
            let key = text.parse::<SigningPublicKey>().map_err(|e| {
                Error::bad_input(
                    format!(
                        "{} ({}): backup.signingKeys entry {text}: {e}",
                        env.address(),
                        env.location
                    ),
                    "paste the line `ward backup keygen <workload>/<env>` prints",
                )
            })?;
            parsed.push(key);
        }
        keys.pin(&env.tenant, &env.workload, &env.environment, parsed);
    }
    Ok(keys)
}

/// Where `ward init` and `ward backup keygen` put an environment's private key.
pub fn state_key_path(state: &Path, env: &ResolvedEnvironment) -> PathBuf {
    backup_key_path(state, &env.workload, &env.environment)
}

/// [`state_key_path`] by the environment's names, for an estate not loaded yet.
pub fn backup_key_path(state: &Path, workload: &str, environment: &str) -> PathBuf {
    state
        .join("keys/backup")
        .join(workload)
        .join(format!("{environment}.ed25519"))
}

/// The private key a backup of `env` signs with: `--signing-key`, else the file of the
/// environment's signing secret in the secrets folder (where the rendered job mounts it),
/// else the state folder.
pub fn signing_key(
    ws: &Workspace,
    env: &ResolvedEnvironment,
    explicit: Option<&Path>,
) -> Result<BackupSigningKey, Error> {
    let load = |path: &Path| {
        BackupSigningKey::load(path).map_err(|e| {
            Error::bad_input(
                e.to_string(),
                "give a key file `ward backup keygen` wrote (mode 0600)",
            )
        })
    };
    if let Some(path) = explicit {
        return load(path);
    }
    let secret = ws.secrets.path_of(&env.backup_signing_secret, None)?;
    if secret.is_file() {
        return load(&secret);
    }
    let state = state_key_path(&ws.state_dir, env);
    if state.is_file() {
        return load(&state);
    }
    Err(Error::bad_input(
        format!(
            "no backup signing key for {}: not at {} (the secret {}) nor at {}",
            env.address(),
            secret.display(),
            crate::secrets::SecretsDir::describe(&env.backup_signing_secret),
            state.display()
        ),
        format!(
            "pass --signing-key FILE, or run `ward backup keygen {}` and pin the line it prints in the estate",
            env.address()
        ),
    ))
}
