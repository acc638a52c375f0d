//! The vault repositories of the platform's object stores, and finding a snapshot in
//! them by reference or id prefix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ward_estate::Estate;
use ward_estate::model::{LockMode as EstateLock, StoreKind};
use ward_vault::{
    Repository, RepositoryConfig, S3Location, SnapshotManifest, StoreLocation, VaultError,
};

use super::vault_error;
use crate::{Error, Workspace};

/// How to open the platform object store named `name`. S3 credentials come from
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else from the store's `credentials` secret
/// in the secrets folder (`access_key_id` and `secret_access_key` files); without both
/// halves from one of them it is bad input, naming what was looked for.
pub fn repository_config(
    ws: &Workspace,
    estate: &Estate,
    name: &str,
) -> Result<RepositoryConfig, Error> {
    let state = &ws.state_dir;
    let store = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.object_stores.iter().find(|s| s.name.value == name))
        .ok_or_else(|| {
            Error::bad_input(
                format!("the platform has no object store `{name}`"),
                "declare it under spec.objectStores of the Platform",
            )
        })?;
    let object_lock = store.object_lock.as_ref().map(|l| ward_vault::ObjectLock {
        mode: match l.mode.value {
            EstateLock::Governance => ward_vault::LockMode::Governance,
            EstateLock::Compliance => ward_vault::LockMode::Compliance,
        },
        days: l.days.value,
    });
    let text = |f: &Option<ward_estate::Spanned<String>>| f.as_ref().map(|s| s.value.clone());
    let location = match store.kind.value {
        StoreKind::Local => {
            let path = PathBuf::from(text(&store.path).unwrap_or_else(|| "vault".into()));
            StoreLocation::Local(if path.is_absolute() {
                path
            } else {
                state.join(path)
            })
        }
        StoreKind::S3 => {
            let mut s3 = S3Location::new(
                text(&store.endpoint),
                text(&store.bucket).unwrap_or_default(),
                text(&store.region).unwrap_or_else(|| "us-east-1".into()),
                text(&store.prefix).unwrap_or_default(),
            );
            s3.access_key_id = ws.env.aws_access_key_id.clone();
            s3.secret_access_key = ws.env.aws_secret_access_key.clone();
            let from_env = s3.access_key_id.is_some() || s3.secret_access_key.is_some();
            let mut files = None;
            if !from_env && let Some(reference) = &store.credentials {
                let secrets = &ws.secrets;
                s3.access_key_id = secrets.read(reference, Some("access_key_id"))?;
                s3.secret_access_key = secrets.read(reference, Some("secret_access_key"))?;
                files = Some((
                    crate::secrets::SecretsDir::describe(reference),
                    secrets.path_of(reference, Some("access_key_id"))?,
                    secrets.path_of(reference, Some("secret_access_key"))?,
                ));
            }
            // Without both halves the S3 client would fall back to the cloud's instance
            // metadata and fail there, naming a URL instead of what Ward looked for.
            if s3.access_key_id.is_none() || s3.secret_access_key.is_none() {
                // Trying Ward on one machine: a local store of the platform serves too.
                let local = estate.platform.as_ref().and_then(|p| {
                    p.spec
                        .object_stores
                        .iter()
                        .find(|s| s.kind.value == StoreKind::Local)
                        .map(|s| s.name.value.as_str())
                });
                return Err(missing_s3_credentials(name, from_env, files, local));
            }
            StoreLocation::S3(s3)
        }
    };
    Ok(RepositoryConfig {
        store: location,
        object_lock,
    })
}

/// What Ward looked for when an S3 store has no (complete) credentials: the variables,
/// then the files of the store's `credentials` secret (`files`: its name and two paths,
/// `None` when the environment had one half or the store declares no secret), and the
/// platform's local store the hint offers instead, if it has one.
fn missing_s3_credentials(
    store: &str,
    from_env: bool,
    files: Option<(String, PathBuf, PathBuf)>,
    local: Option<&str>,
) -> Error {
    let vars = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    let message = match (from_env, files) {
        (true, _) => format!(
            "no complete credentials for the S3 object store `{store}`: only one of {vars} is set"
        ),
        (false, Some((secret, id, key))) => format!(
            "no credentials for the S3 object store `{store}`: {vars} are not set, and the store's credentials secret {secret} is not in the secrets folder (looked for {} and {})",
            id.display(),
            key.display()
        ),
        (false, None) => format!(
            "no credentials for the S3 object store `{store}`: {vars} are not set, and the store declares no `credentials` secret"
        ),
    };
    let mut hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write the secret's access_key_id and secret_access_key files (or mount them, or pass --secrets-dir)".to_string();
    if let Some(local) = local {
        hint.push_str(&format!(
            "; to use the platform's local folder store instead, pass --object-store {local}"
        ));
    }
    Error::bad_input(message, hint)
}

pub async fn open_repository(config: &RepositoryConfig) -> Result<Repository, Error> {
    Repository::open(config).await.map_err(|e| {
        vault_error(
            e,
            "check the object store in the platform (path, bucket, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
        )
    })
}

pub fn local_config(dir: &Path) -> RepositoryConfig {
    RepositoryConfig {
        store: StoreLocation::Local(dir.to_path_buf()),
        object_lock: None,
    }
}

/// Every distinct object store environments back up to, in estate order.
pub fn stores_in_use(ws: &Workspace, estate: &Estate) -> Vec<String> {
    let mut seen = BTreeSet::new();
    estate
        .environments
        .iter()
        .map(|e| ws.store_of(e))
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// A snapshot found in one of the estate's repositories (or `--repo`).
pub struct Located {
    pub repo: Repository,
    /// Verified against `keys`, the estate's pinned signing keys.
    pub manifest: SnapshotManifest,
    pub keys: ward_vault::TrustedKeys,
}

/// Finds a snapshot by reference or id prefix: in `--repo`, else in its environment's
/// object store, else in every object store the estate uses.
pub async fn locate_snapshot(
    ws: &Workspace,
    estate: &Estate,
    reference: &str,
    repo_dir: Option<&Path>,
) -> Result<Located, Error> {
    let keys = super::trusted_keys(estate)?;
    let configs: Vec<RepositoryConfig> = if let Some(dir) = repo_dir {
        vec![local_config(dir)]
    } else {
        let own_store = reference
            .parse::<ward_vault::SnapshotRef>()
            .ok()
            .and_then(|r| estate.environment(&format!("{}/{}", r.workload, r.environment)))
            .map(|e| ws.store_of(e));
        let names = match own_store {
            Some(s) => vec![s],
            None => stores_in_use(ws, estate),
        };
        names
            .iter()
            .map(|n| repository_config(ws, estate, n))
            .collect::<Result<_, _>>()?
    };
    for config in &configs {
        if let StoreLocation::Local(dir) = &config.store
            && !dir.exists()
        {
            continue;
        }
        let repo = open_repository(config).await?;
        match ward_vault::find_snapshot(&repo, reference, &keys).await {
            Ok(manifest) => {
                return Ok(Located {
                    repo,
                    manifest,
                    keys,
                });
            }
            Err(VaultError::SnapshotNotFound(_)) => continue,
            Err(e) => {
                return Err(vault_error(
                    e,
                    "check the snapshot id with `ward backup list`",
                ));
            }
        }
    }
    Err(vault_error(
        VaultError::SnapshotNotFound(reference.to_string()),
        "list the snapshots with `ward backup list`",
    ))
}

/// The newest snapshot of `env` whose signed statement verifies against the estate's
/// pinned keys, in the environment's object store (or the local folder `repo_dir`): a
/// forged newer snapshot is never the one restored or drilled. `None` in the repository
/// when it holds no such snapshot; the caller says what that means for it.
pub async fn newest_verified_snapshot(
    ws: &Workspace,
    estate: &Estate,
    env: &ward_estate::ResolvedEnvironment,
    repo_dir: Option<&Path>,
) -> Result<
    (
        Repository,
        Option<ward_vault::SnapshotRef>,
        ward_vault::TrustedKeys,
    ),
    Error,
> {
    let keys = super::trusted_keys(estate)?;
    let config = match repo_dir {
        Some(dir) => local_config(dir),
        None => repository_config(ws, estate, &ws.store_of(env))?,
    };
    let repo = open_repository(&config).await?;
    let newest = ward_vault::newest_verified_snapshot(
        &repo,
        &env.tenant,
        &env.workload,
        &env.environment,
        &keys,
    )
    .await
    .map_err(|e| vault_error(e, "check the object store"))?;
    Ok((repo, newest, keys))
}
