//! The age keys of a backup: the recipients it is encrypted to, and the identities a
//! restore, a verify or a tenant-key unlock decrypts with.

use std::path::{Path, PathBuf};

use ward_estate::model::Role;
use ward_estate::{Estate, ResolvedEnvironment};
use ward_vault::{Identities, Recipients};

use super::vault_error;
use crate::{Error, Workspace};

/// The recipients a backup of `env` is encrypted to: each `dba`'s age key, break-glass,
/// and the drill recipient of the environment's stack (`rendering.drillRecipients`), so
/// that a stack's drill identity reads that stack's backups and no other's.
pub fn recipients(estate: &Estate, env: &ResolvedEnvironment) -> Result<Recipients, Error> {
    let mut keys: Vec<String> = estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .filter(|p| p.has(Role::Dba))
        .filter_map(|p| p.age_recipient.as_ref().map(|r| r.value.clone()))
        .collect();
    if keys.is_empty() {
        return Err(Error::bad_input(
            "no person with role dba has an age key: nobody could restore this backup",
            "add `keys: { age: age1… }` to a dba in a Team (age-keygen prints one)",
        ));
    }
    let break_glass = estate
        .platform
        .as_ref()
        .and_then(|p| p.spec.break_glass_recipient.as_ref())
        .ok_or_else(|| {
            Error::bad_input(
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
    Recipients::parse(&keys).map_err(|e| vault_error(e, "fix the age recipients in the estate"))
}

/// The DBA identity `ward init` keeps in the state folder (`keys/<dba>.age`), if any.
pub fn state_identity(estate: &Estate, state: &Path) -> Option<PathBuf> {
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
pub fn tenant_key_cache(state: &Path, tenant: &str) -> PathBuf {
    state.join("keys").join(format!("{tenant}.key"))
}

/// The tenant key, for what opens pack indexes without decrypting any data (garbage
/// collection, verify without `--read-data`): the cached copy, else unlocked with an
/// identity (`--identity`, `WARD_IDENTITY`, the state folder's), else none. A key that is
/// not the tenant's opens no index, so nothing is deleted or vouched for with it.
pub async fn tenant_key_if_held(
    repo: &ward_vault::Repository,
    ws: &Workspace,
    estate: &Estate,
    tenant: &str,
    explicit: Option<&Path>,
) -> Option<ward_vault::RepositoryKey> {
    let state = &ws.state_dir;
    if let Ok(key) = ward_vault::RepositoryKey::load(&tenant_key_cache(state, tenant)) {
        return Some(key);
    }
    let ids = locate(ws, estate, explicit).ok()?;
    ward_vault::unlock_tenant_key(repo, tenant, &ids).await.ok()
}

/// `--identity`, then `WARD_IDENTITY`, then the state folder's DBA identity.
pub fn identities(
    ws: &Workspace,
    estate: &Estate,
    explicit: Option<&Path>,
) -> Result<Identities, Error> {
    locate(ws, estate, explicit)
        .map_err(|e| vault_error(e, "pass --identity FILE or set WARD_IDENTITY"))
}

/// The identities when one is given or kept here, `None` when none is: a backup needs one
/// only to unlock a tenant key that is not cached.
pub fn identities_if_any(
    ws: &Workspace,
    estate: &Estate,
    explicit: Option<&Path>,
) -> Result<Option<Identities>, Error> {
    match locate(ws, estate, explicit) {
        Ok(ids) => Ok(Some(ids)),
        Err(ward_vault::VaultError::IdentityRequired) => Ok(None),
        Err(e) => Err(vault_error(e, "pass a valid --identity FILE")),
    }
}

fn locate(
    ws: &Workspace,
    estate: &Estate,
    explicit: Option<&Path>,
) -> Result<Identities, ward_vault::VaultError> {
    let explicit = explicit.or(ws.env.identity.as_deref());
    let fallback = state_identity(estate, &ws.state_dir);
    Identities::locate(explicit, fallback.as_deref())
}
