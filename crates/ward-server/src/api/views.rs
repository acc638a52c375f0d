//! The API's response and request documents, camelCase like every JSON Ward writes. Each
//! response names the estate commit it describes (`commit`).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::evaluation::{EnvironmentView, FindingCounts, WaiverView};
use crate::server::FailedCommit;

/// `?commit=`: a past commit the server evaluated; the one in force when absent.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommitQuery {
    pub commit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub leader: bool,
    pub draining: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstateSummary {
    pub commit: String,
    pub evaluated_at: String,
    pub judged_on: String,
    pub environments: usize,
    pub summary: FindingCounts,
    pub controls: u64,
    pub waivers: Vec<WaiverView>,
    pub warnings: Vec<String>,
    /// The newest commit that did not load, when one is newer than this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<FailedCommit>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnvironmentsQuery {
    pub commit: Option<String>,
    /// Only this tier (1, 2 or 3).
    pub tier: Option<u8>,
    /// Only this workload.
    pub workload: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentList {
    pub commit: String,
    pub environments: Vec<EnvironmentView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentDetail {
    pub commit: String,
    pub environment: EnvironmentView,
    /// The findings about this environment.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingList {
    pub commit: String,
    pub summary: FindingCounts,
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitView {
    pub commit: String,
    /// `ok` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub evaluated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommitList {
    /// The commit in force.
    pub commit: Option<String>,
    pub followed: String,
    pub revision: String,
    pub commits: Vec<CommitView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// The base commit (what is deployed).
    pub from: String,
    /// The target commit; the one in force when absent.
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanView {
    /// The target commit.
    pub commit: String,
    pub from: String,
    /// What rendering `commit` changes in the deploy tree rendered from `from`, as
    /// `ward plan -o json` shows it.
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
    /// What is still missing before `ward apply` may write it.
    pub unmet: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotsQuery {
    /// Only this `workload/environment`.
    pub environment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotList {
    pub commit: String,
    #[schema(value_type = Vec<Object>)]
    pub snapshots: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyBody {
    /// Snapshot id, unique prefix, or `tenant/workload/environment/id`.
    pub snapshot: String,
    #[serde(default)]
    pub read_data: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentBody {
    /// `workload/environment`.
    pub environment: String,
    /// A drill's snapshot (default: the newest verified one).
    #[serde(default)]
    pub snapshot: Option<String>,
}

/// A run as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: i64,
    pub kind: String,
    pub environment: Option<String>,
    /// `scheduled` or `manual`.
    pub trigger: String,
    pub requested_by: String,
    pub slot: Option<String>,
    /// `queued`, `leased`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub reason: Option<String>,
    pub attempt: u32,
    pub worker: Option<String>,
    pub due_at: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub ledger_seq: Option<u64>,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// What the operation reported.
    #[schema(value_type = Object)]
    pub result: Option<serde_json::Value>,
}

impl From<ward_store::Run> for RunView {
    fn from(r: ward_store::Run) -> RunView {
        RunView {
            id: r.id,
            kind: r.kind,
            environment: r.environment,
            trigger: r.trigger.as_str().to_string(),
            requested_by: r.requested_by,
            slot: r.slot,
            state: r.state.as_str().to_string(),
            reason: r.reason,
            attempt: r.attempt,
            worker: r.lease_owner,
            due_at: r.due_at.to_string(),
            created_at: r.created_at.to_string(),
            started_at: r.started_at.map(|t| t.to_string()),
            finished_at: r.finished_at.map(|t| t.to_string()),
            ledger_seq: r.ledger_seq,
            params: r.params,
            result: r.result,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunAccepted {
    pub commit: String,
    pub run: RunView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    pub state: Option<String>,
    pub kind: Option<String>,
    pub environment: Option<String>,
    /// Runs with a smaller id only (paging).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunList {
    pub commit: Option<String>,
    pub runs: Vec<RunView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    pub commit: Option<String>,
    pub run: RunView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Lines after this id only.
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLineView {
    pub id: i64,
    pub time: String,
    pub level: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLogs {
    pub commit: Option<String>,
    pub run: i64,
    pub lines: Vec<LogLineView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEntry {
    pub environment: Option<String>,
    pub kind: String,
    pub last_slot: Option<String>,
    pub last_enqueued_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub commit: Option<String>,
    /// Whether this replica leads the scheduler.
    pub leader: bool,
    /// The current leader's term and name, as the store records them.
    pub leader_term: Option<i64>,
    pub leader_name: Option<String>,
    pub queue: QueueView,
    pub schedule: Vec<ScheduleEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    pub queued: u64,
    pub due: u64,
    pub leased: u64,
    pub running: u64,
    pub oldest_due: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// The first seq (default 0).
    pub from: Option<u64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerPage {
    pub commit: Option<String>,
    /// Entries as the ledger holds them (their stored field names).
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerVerification {
    pub commit: Option<String>,
    pub ok: bool,
    pub entries: u64,
    pub checkpoints: u64,
    pub last_checkpoint_seq: Option<u64>,
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refreshed {
    /// The commit in force after the fetch.
    pub commit: Option<String>,
    pub last_failure: Option<FailedCommit>,
}

/// Who is calling (`GET /api/v1/session`, `POST /auth/logout`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// The ledger's actor: a Team person, or the provider's email or `oidc:<sub>`.
    pub subject: String,
    /// The roles held now; a session's follow its groups through the estate in force.
    pub roles: Vec<String>,
    /// `token` or `session`.
    pub credential: String,
    /// The token's or session's id.
    pub id: String,
    pub expires_at: String,
    /// A session's anti-forgery token: send it as `X-CSRF-Token` on every POST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

impl SessionView {
    pub fn of(caller: &crate::api::Caller, with_csrf: bool) -> SessionView {
        let (credential, id) = caller.credential_kind();
        SessionView {
            subject: caller.subject.clone(),
            roles: caller
                .roles
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            credential: credential.to_string(),
            id: id.to_string(),
            expires_at: caller.expires_at.to_string(),
            csrf_token: match &caller.credential {
                crate::api::Credential::Session { csrf, .. } if with_csrf => Some(csrf.clone()),
                _ => None,
            },
        }
    }
}
