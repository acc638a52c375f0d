//! The age keys of a backup: the recipients it is encrypted to, and the identities a
//! restore, a verify or a tenant-key unlock decrypts with.

use std::path::{Path, PathBuf};

use ward_estate::model::Role;
use ward_estate::{Estate, ResolvedEnvironment};
use ward_vault::{Identities, Recipients};

use super::vault_failure;
use crate::report::Failure;

/// The recipients a backup of `env` is encrypted to: each `dba`'s age key, break-glass,
/// and the drill recipient of the environment's stack (`rendering.drillRecipients`), so
/// that a stack's drill identity reads that stack's backups and no other's.
pub(crate) fn recipients(
    estate: &Estate,
    env: &ResolvedEnvironment,
) -> Result<Recipients, Failure> {
    let mut keys: Vec<String> = estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .filter(|p| p.has(Role::Dba))
        .filter_map(|p| p.age_recipient.as_ref().map(|r| r.value.clone()))
        .collect();
    if keys.is_empty() {
        return Err(Failure::bad_input(
            "no person with role dba has an age key: nobody could restore this backup",
            "add `keys: { age: age1… }` to a dba in a Team (age-keygen prints one)",
        ));
    }
    let break_glass = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.break_glass_recipient.as_ref())
        .ok_or_else(|| {
            Failure::bad_input(
                "the platform has no breakGlassRecipient: backups need a recovery key of last resort",
                "add `breakGlassRecipient: age1…` to the Platform spec and keep its identity offline",
            )
        })?;
    keys.push(break_glass.value.clone());
    if let Some(drill) = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.rendering.drill_recipients.get(&env.stack))
    {
        keys.push(drill.value.clone());
    }
    keys.sort();
    keys.dedup();
    Recipients::parse(&keys).map_err(|e| vault_failure(e, "fix the age recipients in the estate"))
}

/// The DBA identity `ward init` keeps in the state folder (`keys/<dba>.age`), if any.
pub(crate) fn state_identity(estate: &Estate, state: &Path) -> Option<PathBuf> {
    estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .filter(|p| p.has(Role::Dba))
        // A person's name becomes a file name: only one safe component does.
        .filter(|p| ward_vault::check_component("person name", &p.name.value).is_ok())
        .map(|p| state.join("keys").join(format!("{}.age", p.name.value)))
        .find(|p| p.is_file())
}

/// Where the CLI caches a tenant's repository key (mode 0600): backups name blobs with it,
/// garbage collection opens pack indexes with it.
pub(crate) fn tenant_key_cache(state: &Path, tenant: &str) -> PathBuf {
    state.join("keys").join(format!("{tenant}.key"))
}

/// The tenant key, for what opens pack indexes without decrypting any data (garbage
/// collection, verify without `--read-data`): the cached copy, else unlocked with an
/// identity (`--identity`, `WARD_IDENTITY`, the state folder's), else none. A key that is
/// not the tenant's opens no index, so nothing is deleted or vouched for with it.
pub(crate) async fn tenant_key_if_held(
    repo: &ward_vault::Repository,
    estate: &Estate,
    state: &Path,
    tenant: &str,
    explicit: Option<&Path>,
) -> Option<ward_vault::RepositoryKey> {
    if let Ok(key) = ward_vault::RepositoryKey::load(&tenant_key_cache(state, tenant)) {
        return Some(key);
    }
    let ids = Identities::locate(explicit, state_identity(estate, state).as_deref()).ok()?;
    ward_vault::unlock_tenant_key(repo, tenant, &ids).await.ok()
}

/// `--identity`, then `WARD_IDENTITY`, then the state folder's DBA identity.
pub(crate) fn identities(
    estate: &Estate,
    state: &Path,
    explicit: Option<&Path>,
) -> Result<Identities, Failure> {
    let fallback = state_identity(estate, state);
    Identities::locate(explicit, fallback.as_deref())
        .map_err(|e| vault_failure(e, "pass --identity FILE or set WARD_IDENTITY"))
}
