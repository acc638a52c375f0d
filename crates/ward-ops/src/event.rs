//! The ledger's events: one variant per action Ward records, each with its typed details.
//! An action's name and its details' keys are written here and nowhere else; the keys are
//! camelCase, as every JSON document Ward writes (docs/cli.md, "JSON output").
//!
//! A detail that is not known (a failure before the snapshot existed) is left out of the
//! entry, not written as null; a failure's entry also carries `error`.

use serde::Serialize;
use serde_json::{Map, Value};

macro_rules! events {
    ($( $(#[$m:meta])* $variant:ident = $action:literal, )+) => {
        /// What one ledger entry records.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum Event {
            $( $(#[$m])* $variant($variant), )+
        }

        impl Event {
            /// Every action's name, as the ledger's `action` field holds it.
            pub const ACTIONS: &'static [&'static str] = &[$($action),+];

            /// The action's name.
            pub fn action(&self) -> &'static str {
                match self {
                    $( Event::$variant(_) => $action, )+
                }
            }
        }

        $(
            impl From<$variant> for Event {
                fn from(details: $variant) -> Event {
                    Event::$variant(details)
                }
            }
        )+
    };
}

events! {
    /// `ward backup run`, or a backup run of the server.
    BackupRun = "backup.run",
    /// `ward backup verify`.
    BackupVerify = "backup.verify",
    /// `ward backup prune` (with garbage collection).
    BackupPrune = "backup.prune",
    /// `ward backup sign-existing`.
    BackupSignExisting = "backup.sign-existing",
    /// `ward vault rewrap`.
    VaultRewrap = "vault.rewrap",
    /// `ward restore … --to-db`.
    Restore = "restore",
    /// `ward restore … --filestore-only`.
    RestoreFilestore = "restore.filestore",
    /// `ward restore … --to-zip`.
    RestoreZip = "restore.zip",
    /// `ward drill`, or a drill run of the server.
    Drill = "drill",
    /// `ward check --record`, or the server's check of a commit.
    Check = "check",
    /// `ward apply`, granted or refused.
    Apply = "apply",
    /// `ward init`.
    Init = "init",
    /// `ward token create`.
    TokenCreate = "token.create",
    /// `ward token revoke`.
    TokenRevoke = "token.revoke",
    /// A run queued through the API.
    RunEnqueue = "run.enqueue",
    /// A run cancelled through the API.
    RunCancel = "run.cancel",
    /// `POST /api/v1/estate/refresh`.
    EstateRefresh = "estate.refresh",
    /// `POST /api/v1/webhooks/git`.
    EstateWebhook = "estate.webhook",
    /// A person's OpenID Connect login, opened or refused.
    AuthLogin = "auth.login",
    /// A person's logout.
    AuthLogout = "auth.logout",
    /// An authenticated call the route table refused.
    ApiDenied = "api.denied",
}

impl Event {
    /// The entry's details: the variant's fields, camelCase, without the unknown ones.
    pub fn details(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => Map::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRun {
    pub environment: String,
    pub object_store: String,
    /// The standby the dump was read from.
    pub standby: Option<String>,
    pub snapshot: Option<String>,
    /// Which server was read and why (`ward_vault::DumpSource`).
    pub source: Option<Value>,
    pub standby_skipped: Option<Value>,
    pub new_bytes: Option<u64>,
    pub dump_bytes: Option<u64>,
    pub dump_stored_bytes: Option<u64>,
    pub attachments: Option<u64>,
    pub blobs_uploaded: Option<u64>,
    pub blobs_reused: Option<u64>,
    pub duration_seconds: Option<f64>,
    /// Attachments the filestore lacks, when the backup was committed without them.
    pub missing_blobs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupVerify {
    pub read_data: bool,
    pub objects_checked: Option<u64>,
    pub stored_bytes_read: Option<u64>,
    pub objects_unlocated: Option<u64>,
    /// `{object, problem}` per fault.
    pub faults: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupPrune {
    pub dry_run: bool,
    pub grace: String,
    /// The tier's retention (`keepLast`, `hourly`, `daily`, `weekly`, `monthly`).
    pub retention: Value,
    pub removed: Option<Vec<String>>,
    pub kept: Option<u64>,
    pub deleted_objects: Option<u64>,
    pub unverified: Option<Vec<String>>,
    pub deleted_bytes: Option<u64>,
    pub packs_repacked: Option<u64>,
    /// No tenant key was given: packs were neither read nor collected.
    pub packs_unchecked: Option<bool>,
    /// No tenant key was given and an object list is sealed: no blob was collected.
    pub blobs_unchecked: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSignExisting {
    pub dry_run: bool,
    pub signed: Option<Vec<String>>,
    /// `{snapshot, reason}` per refusal.
    pub refused: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultRewrap {
    pub dry_run: bool,
    /// Per store: `{store, tenantKeyId, recipients, dataKeysRewrapped, dataKeysNotOpened,
    /// stillReadable}`.
    pub stores: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restore {
    pub to_db: String,
    pub filestore: String,
    pub replace: bool,
    pub replaced: Option<bool>,
    pub dump_bytes: Option<u64>,
    pub blobs_restored: Option<u64>,
    pub blob_bytes: Option<u64>,
    pub duration_seconds: Option<f64>,
    pub consistent: Option<bool>,
    pub row_count_mismatches: Option<Value>,
    pub modules_match: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreFilestore {
    pub filestore: String,
    pub replace: bool,
    pub replaced: Option<bool>,
    pub blobs_restored: Option<u64>,
    pub blob_bytes: Option<u64>,
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreZip {
    pub to_zip: String,
    pub replace: bool,
    pub sql_bytes: Option<u64>,
    pub blobs: Option<u64>,
    pub zip_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drill {
    pub environment: String,
    pub scratch_database: Option<String>,
    pub kept: Option<bool>,
    pub rto_seconds: Option<f64>,
    pub rto_target_seconds: Option<f64>,
    pub rpo_seconds: Option<f64>,
    pub rpo_target_seconds: Option<f64>,
    pub dump_bytes: Option<u64>,
    pub blobs_checked: Option<u64>,
    pub passed: Option<bool>,
    pub failures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub deny: u64,
    pub warn: u64,
    pub waived: u64,
    pub controls: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Apply {
    pub change_id: String,
    pub target: Value,
    pub changes: u64,
    pub risk: Value,
    pub trust: Value,
    pub base: Value,
    pub estate_target: Value,
    pub authors: Vec<String>,
    pub approvers: Vec<String>,
    pub approver_keys: Vec<String>,
    pub people_changes: Option<Value>,
    pub environments: Vec<String>,
    pub check: Value,
    /// Why a refused apply was refused.
    pub unmet: Option<Vec<String>>,
    pub written: Option<u64>,
    pub removed: Option<u64>,
    pub removed_files: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Init {
    /// `healthcare` or `minimal`.
    pub example: String,
    pub files: u64,
    /// `generated` or `given`.
    pub break_glass: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreate {
    pub token: String,
    pub role: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRevoke {
    pub token: String,
}

/// The credential an API call came with: a token's id or a session's.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub token: Option<String>,
    pub session: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEnqueue {
    pub run: i64,
    pub kind: String,
    pub params: Value,
    #[serde(flatten)]
    pub credential: Credential,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCancel {
    pub run: i64,
    pub kind: String,
    #[serde(flatten)]
    pub credential: Credential,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EstateRefresh {
    /// The commit in force after the fetch.
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EstateWebhook {
    /// The commit in force when the webhook came.
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthLogin {
    pub issuer: String,
    /// The provider's `sub`.
    pub sub: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// The roles the groups map to (`none` when refused for holding none).
    pub roles: String,
    pub session: Option<String>,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthLogout {
    pub session: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiDenied {
    /// The caller's roles, `none` when it holds none.
    pub roles: String,
    /// The role the route needs.
    pub needs: String,
    /// `csrf` when a session's unsafe call came without its CSRF token.
    pub reason: Option<String>,
    #[serde(flatten)]
    pub credential: Credential,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_camel_case_without_the_unknown_ones() {
        let event: Event = BackupRun {
            environment: "billing/prod".into(),
            object_store: "vault".into(),
            new_bytes: Some(42),
            ..Default::default()
        }
        .into();
        assert_eq!(event.action(), "backup.run");
        let details = event.details();
        assert_eq!(
            details.keys().cloned().collect::<Vec<_>>(),
            vec!["environment", "newBytes", "objectStore"]
        );
        let denied: Event = ApiDenied {
            roles: "dba".into(),
            needs: "security-reviewer".into(),
            reason: None,
            credential: Credential {
                token: Some("0123".into()),
                session: None,
            },
        }
        .into();
        assert_eq!(
            serde_json::Value::Object(denied.details()),
            serde_json::json!({"roles": "dba", "needs": "security-reviewer", "token": "0123"})
        );
    }

    #[test]
    fn every_action_is_named_once() {
        let mut names = Event::ACTIONS.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ACTIONS.len());
    }
}
