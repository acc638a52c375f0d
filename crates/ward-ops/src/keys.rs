//! The vault's keys after the fact: `rewrap` re-encrypts a tenant's key and data keys to
//! the recipients the estate names now (a DBA left, a key was rotated), and
//! `sign_existing` signs an environment's snapshots written before signed statements.
//! Both are recorded in the ledger (`vault.rewrap`, `backup.sign-existing`). `keygen`
//! makes an environment's backup signing key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_vault::{Progress, RepositoryConfig, RewrapReport, SignExistingReport};

use crate::vault::{
    identities, local_config, open_repository, recipients, record_result, repository_config,
    runtime, signing_key, trusted_keys, vault_error,
};
use crate::{Error, Workspace, environment, event};

/// An environment's new backup signing key: its public half to pin in the estate, where
/// the private half was written, and the secret the backup job reads it from.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedKey {
    pub environment: String,
    pub signing_key: String,
    pub private_key_file: PathBuf,
    pub secret: String,
}

/// Generates a backup signing key for `address` into `out`, by default the state folder's
/// `keys/backup/<workload>/<env>.ed25519` (mode 0600). An existing file is never
/// overwritten.
pub fn keygen(
    ws: &Workspace,
    estate: &Estate,
    address: &str,
    out: Option<PathBuf>,
) -> Result<GeneratedKey, Error> {
    let _span = tracing::info_span!("keys.keygen", environment = address).entered();
    let env = environment(estate, address)?;
    let path = out.unwrap_or_else(|| crate::vault::state_key_path(&ws.state_dir, env));
    if path.exists() {
        return Err(Error::bad_input(
            format!("{} exists", path.display()),
            "a key file is never overwritten; choose another --out, or move the old key away after its snapshots have aged out",
        ));
    }
    let key = ward_vault::BackupSigningKey::generate_file(&path)
        .map_err(|e| Error::operational(e.to_string(), "check that the folder is writable"))?;
    Ok(GeneratedKey {
        environment: env.address(),
        signing_key: key.public().to_string(),
        private_key_file: path,
        secret: crate::secrets::SecretsDir::describe(&env.backup_signing_secret),
    })
}

/// What `ward vault rewrap` is asked.
#[derive(Clone, Debug, Default)]
pub struct RewrapRequest {
    pub tenant: String,
    /// An identity that opens the keys today.
    pub identity: Option<PathBuf>,
    pub dry_run: bool,
    /// A local repository folder instead of the tenant's object stores.
    pub repo: Option<PathBuf>,
}

/// One object store's rewrap.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRewrap {
    pub store: String,
    #[serde(flatten)]
    pub report: RewrapReport,
}

impl StoreRewrap {
    /// Whether a data key stayed as it was (not opened, or damaged).
    pub fn incomplete(&self) -> bool {
        !self.report.data_keys_not_opened.is_empty() || !self.report.data_keys_damaged.is_empty()
    }
}

/// Re-encrypts `request.tenant`'s tenant key (to every recipient of its environments) and
/// each environment's data keys (to that environment's), in every store its environments
/// back up to. A store where a data key stayed as it was is recorded as findings.
#[tracing::instrument(name = "ops.rewrap", skip_all, fields(tenant = %request.tenant, dry_run = request.dry_run, actor = %ws.actor))]
pub fn rewrap(
    ws: &Workspace,
    estate: &Estate,
    request: &RewrapRequest,
) -> Result<Vec<StoreRewrap>, Error> {
    let envs: Vec<_> = estate
        .environments
        .iter()
        .filter(|e| e.tenant == request.tenant)
        .collect();
    if envs.is_empty() {
        let mut known: Vec<&str> = estate
            .environments
            .iter()
            .map(|e| e.tenant.as_str())
            .collect();
        known.sort();
        known.dedup();
        return Err(Error::bad_input(
            format!("the estate has no tenant `{}`", request.tenant),
            format!("name one of: {}", known.join(", ")),
        ));
    }
    let mut details = event::VaultRewrap {
        dry_run: request.dry_run,
        ..Default::default()
    };
    let result = (|| {
        // Each environment's data keys go to that environment's recipients; the tenant key
        // to all of them; a run no verified snapshot claims to those every one shares.
        let mut environments = BTreeMap::new();
        let mut all: Vec<String> = Vec::new();
        let mut shared: Option<Vec<String>> = None;
        for env in &envs {
            let r = recipients(estate, env)?;
            let list = r.to_strings();
            all.extend(list.iter().cloned());
            shared = Some(match shared {
                None => list.clone(),
                Some(s) => s.into_iter().filter(|k| list.contains(k)).collect(),
            });
            environments.insert(format!("{}/{}", env.workload, env.environment), r);
        }
        all.sort();
        all.dedup();
        let parse = |keys: &[String]| {
            ward_vault::Recipients::parse(keys)
                .map_err(|e| vault_error(e, "fix the age recipients in the estate"))
        };
        let to = ward_vault::RewrapRecipients {
            tenant_key: parse(&all)?,
            environments,
            unclaimed: parse(&shared.unwrap_or_default())?,
        };
        let ids = identities(ws, estate, request.identity.as_deref())?;
        let trusted = trusted_keys(estate)?;
        let mut stores: Vec<(String, RepositoryConfig)> = Vec::new();
        match &request.repo {
            Some(dir) => stores.push((dir.display().to_string(), local_config(dir))),
            None => {
                let mut names: Vec<String> = envs.iter().map(|e| ws.store_of(e)).collect();
                names.sort();
                names.dedup();
                for name in names {
                    let config = repository_config(ws, estate, &name)?;
                    stores.push((name, config));
                }
            }
        }
        runtime()?.block_on(async {
            let mut out = Vec::new();
            for (store, config) in stores {
                let repo = open_repository(&config).await?;
                let report = ward_vault::rewrap(
                    &repo,
                    &request.tenant,
                    &ids,
                    &to,
                    &trusted,
                    request.dry_run,
                )
                .await
                .map_err(|e| {
                    vault_error(
                        e,
                        "pass an identity that opens the tenant key (--identity), e.g. break-glass",
                    )
                })?;
                out.push(StoreRewrap { store, report });
            }
            Ok::<_, Error>(out)
        })
    })();
    let result = match result {
        Ok(stores) => {
            details.stores = Some(
                stores
                    .iter()
                    .map(|s| {
                        json!({
                            "store": s.store,
                            "tenantKeyId": s.report.tenant_key_id,
                            "recipients": s.report.tenant_key_recipients,
                            "dataKeysRewrapped": s.report.data_keys_rewrapped,
                            "dataKeysNotOpened": s.report.data_keys_not_opened,
                            "stillReadable": s.report.still_readable.len(),
                        })
                    })
                    .collect(),
            );
            let outcome = if stores.iter().any(StoreRewrap::incomplete) {
                Outcome::Findings
            } else {
                Outcome::Ok
            };
            Ok((stores, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &request.tenant, result)
}

/// What `ward backup sign-existing` is asked.
#[derive(Clone, Debug, Default)]
pub struct SignExistingRequest {
    /// `workload/environment`.
    pub address: String,
    /// The environment's signing key file [default: its secret in the secrets folder].
    pub signing_key: Option<PathBuf>,
    /// An identity that opens the tenant's key, to check every object before signing.
    pub identity: Option<PathBuf>,
    pub dry_run: bool,
    /// A local repository folder instead of the environment's object store.
    pub repo: Option<PathBuf>,
}

/// Signs the environment's unsigned snapshots, each only once every byte of it checks
/// against its recorded checksums; a refused snapshot is recorded as findings.
#[tracing::instrument(name = "ops.sign_existing", skip_all, fields(environment = %request.address, dry_run = request.dry_run, actor = %ws.actor))]
pub fn sign_existing(
    ws: &Workspace,
    estate: &Estate,
    request: &SignExistingRequest,
    progress: Arc<dyn Progress>,
) -> Result<SignExistingReport, Error> {
    let env = environment(estate, &request.address)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let mut details = event::BackupSignExisting {
        dry_run: request.dry_run,
        ..Default::default()
    };
    let result = (|| {
        let config = match &request.repo {
            Some(dir) => local_config(dir),
            None => repository_config(ws, estate, &ws.store_of(env))?,
        };
        let ids = identities(ws, estate, request.identity.as_deref())?;
        let signing_key = signing_key(ws, env, request.signing_key.as_deref())?;
        let trusted = trusted_keys(estate)?;
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            ward_vault::sign_existing(
                &repo,
                &env.tenant,
                &env.workload,
                &env.environment,
                &signing_key,
                &trusted,
                &ids,
                request.dry_run,
                progress,
            )
            .await
            .map_err(|e| vault_error(e, "check the identity and the object store"))
        })
    })();
    let result = match result {
        Ok(report) => {
            details.signed = Some(report.signed.iter().map(|s| s.to_string()).collect());
            details.refused = Some(
                report
                    .refused
                    .iter()
                    .map(|r| json!({"snapshot": r.snapshot.to_string(), "reason": r.reason}))
                    .collect(),
            );
            let outcome = if report.refused.is_empty() {
                Outcome::Ok
            } else {
                Outcome::Findings
            };
            Ok((report, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}
