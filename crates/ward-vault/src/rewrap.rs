//! `rewrap`: when a DBA leaves or a key is rotated, the tenant key and every data key are
//! re-encrypted to the current recipients, so the old identity opens nothing that can be
//! rewritten. Snapshot data is never rewritten, so every signed statement stays valid.
//!
//! What stays readable by an old identity is named: snapshots written before data keys
//! (their objects are encrypted to the recipients themselves) and snapshots under object
//! lock, whose superseded key versions the bucket keeps until their retention ends.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::catalog::{ListedSnapshot, SnapshotFilter, list};
use crate::datakey::{Opened, open_file, reseal, stored_ids};
use crate::error::Result;
use crate::keys::{Identities, Recipients};
use crate::manifest::SnapshotRef;
use crate::statement::TrustedKeys;
use crate::store::{LockMode, Repository, check_name};

/// Who each key is re-encrypted to.
#[derive(Debug, Clone)]
pub struct RewrapRecipients {
    /// The tenant key: everyone who restores, verifies or drills any of its environments.
    pub tenant_key: Recipients,
    /// The data keys of each environment's backups, by `workload/environment`.
    pub environments: BTreeMap<String, Recipients>,
    /// Data keys no verified snapshot names (a failed or forged run), or whose environment
    /// the estate no longer has: the recipients every environment shares (DBAs and
    /// break-glass).
    pub unclaimed: Recipients,
}

/// A snapshot that an old identity can still read after the rewrap, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StillReadable {
    pub snapshot: SnapshotRef,
    /// Until when (object lock), or `None`: until it is pruned.
    pub until: Option<jiff::Timestamp>,
    pub reason: String,
}

/// What `rewrap` did, or would do with `dry_run`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewrapReport {
    pub tenant: String,
    pub dry_run: bool,
    /// Id of the tenant key, re-encrypted to the tenant recipients.
    pub tenant_key_id: String,
    pub tenant_key_recipients: Vec<String>,
    /// Data keys re-encrypted (or, in a dry run, that would be).
    pub data_keys_rewrapped: u64,
    /// Data keys the identity is no recipient of: left as they are. Rewrap again with an
    /// identity that opens them (break-glass opens every one).
    pub data_keys_not_opened: Vec<String>,
    /// Data key files that are damaged or stored under an id their key does not give.
    pub data_keys_damaged: Vec<String>,
    pub still_readable: Vec<StillReadable>,
}

/// Re-encrypts `tenant`'s key and data keys to `to`, opening them with `identities`.
pub async fn rewrap(
    repo: &Repository,
    tenant: &str,
    identities: &Identities,
    to: &RewrapRecipients,
    keys: &TrustedKeys,
    dry_run: bool,
) -> Result<RewrapReport> {
    check_name("tenant", tenant)?;
    let tenant_key_id =
        crate::tenant::rewrap_tenant_key(repo, tenant, identities, &to.tenant_key, dry_run).await?;
    // Which environment's run each data key sealed: only verified snapshots say.
    let filter = SnapshotFilter {
        tenant: Some(tenant.into()),
        ..SnapshotFilter::default()
    };
    let listed = list(repo, &filter, keys).await?;
    let mut owner: HashMap<String, &SnapshotRef> = HashMap::new();
    let mut still_readable = Vec::new();
    let now = jiff::Timestamp::now();
    for l in &listed {
        let ListedSnapshot::Verified { manifest, .. } = l else {
            continue;
        };
        match &manifest.data_key {
            Some(id) => {
                owner.insert(id.clone(), &manifest.snapshot);
            }
            None => still_readable.push(StillReadable {
                snapshot: manifest.snapshot.clone(),
                until: None,
                reason: "written before data keys: its objects are encrypted to the recipients \
                         of its time, so their identities read it until it is pruned"
                    .into(),
            }),
        }
        if let Some(lock) = manifest.object_lock.filter(|l| l.retain_until > now)
            && manifest.data_key.is_some()
        {
            let mode = match lock.mode {
                LockMode::Compliance => "compliance",
                LockMode::Governance => "governance",
            };
            still_readable.push(StillReadable {
                snapshot: manifest.snapshot.clone(),
                until: Some(lock.retain_until),
                reason: format!(
                    "under object lock ({mode}): the bucket keeps the superseded version of \
                     its data key, readable by the old identity, until the lock ends"
                ),
            });
        }
    }
    let mut report = RewrapReport {
        tenant: tenant.to_string(),
        dry_run,
        tenant_key_id,
        tenant_key_recipients: to.tenant_key.to_strings(),
        data_keys_rewrapped: 0,
        data_keys_not_opened: Vec::new(),
        data_keys_damaged: Vec::new(),
        still_readable,
    };
    for (id, object) in stored_ids(repo, tenant).await? {
        let Some(bytes) = repo.get_bytes(&object).await? else {
            continue;
        };
        let key = match open_file(&object, &id, &bytes, identities) {
            Ok(Opened::Key(key)) => key,
            Ok(Opened::NotOurs) => {
                report.data_keys_not_opened.push(id);
                continue;
            }
            Err(_) => {
                report.data_keys_damaged.push(id);
                continue;
            }
        };
        let recipients = owner
            .get(&id)
            .and_then(|s| {
                to.environments
                    .get(&format!("{}/{}", s.workload, s.environment))
            })
            .unwrap_or(&to.unclaimed);
        let sealed = reseal(&key, recipients, &object)?;
        if !dry_run {
            repo.put(&object, sealed.into()).await?;
        }
        report.data_keys_rewrapped += 1;
    }
    report
        .still_readable
        .sort_by(|a, b| a.snapshot.cmp(&b.snapshot));
    Ok(report)
}
