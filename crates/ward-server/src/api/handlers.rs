//! The handlers: each parses its request, calls the store, the evaluation or the
//! operations layer, and answers a view. Who may call which is the route table's; the
//! middleware has checked it before a handler runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use ward_ledger::Outcome;
use ward_ops::event;
use ward_store::{NewRun, RunFilter, RunState};

use super::auth::Caller;
use super::error::ApiError;
use super::views::*;
use crate::evaluation::CommitEvaluation;
use crate::server::Shared;

type Shared_ = State<Arc<Shared>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The evaluation a request is about: `commit`, or the one in force.
async fn evaluation(
    shared: &Shared,
    commit: Option<&str>,
) -> Result<Arc<CommitEvaluation>, ApiError> {
    match shared.evaluation(commit).await? {
        Some(e) => Ok(e),
        None => match commit {
            Some(c) => Err(ApiError::not_found(&format!(
                "commit {c} was not evaluated by this server (or did not load); see GET /api/v1/commits"
            ))),
            None => Err(ApiError::not_ready("no estate commit is in force yet")),
        },
    }
}

fn current_commit(shared: &Shared) -> Option<String> {
    shared.current().map(|c| c.commit.clone())
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz(State(shared): Shared_) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        commit: current_commit(&shared),
        leader: shared.leading.load(Ordering::SeqCst),
        draining: shared.draining.load(Ordering::SeqCst),
    })
}

/// Ready when an estate commit is in force and the store answers; not while draining.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(shared): Shared_) -> Response {
    let commit = current_commit(&shared);
    let draining = shared.draining.load(Ordering::SeqCst);
    let store_ok = shared.store.schema_version().await.is_ok();
    let ready = commit.is_some() && !draining && store_ok;
    let status = if ready {
        "ready"
    } else if draining {
        "draining"
    } else if !store_ok {
        "store-unreachable"
    } else {
        "no-estate-yet"
    };
    let body = Json(Health {
        status: status.into(),
        commit,
        leader: shared.leading.load(Ordering::SeqCst),
        draining,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body).into_response()
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document_json(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/metrics", tag = "meta", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(shared): Shared_) -> Response {
    match shared.metrics.render(&shared).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::operational(&e.to_string()).into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /api/v1/openapi.json")
}

#[utoipa::path(get, path = "/api/v1/estate", tag = "estate", params(CommitQuery),
    responses((status = 200, body = EstateSummary), (status = 404, body = ApiError), (status = 503, body = ApiError)),
    security(("bearer" = [])))]
pub async fn estate(
    State(shared): Shared_,
    Query(q): Query<CommitQuery>,
) -> ApiResult<EstateSummary> {
    let e = evaluation(&shared, q.commit.as_deref()).await?;
    Ok(Json(EstateSummary {
        commit: e.commit.clone(),
        evaluated_at: e.evaluated_at.clone(),
        judged_on: e.judged_on.clone(),
        environments: e.environments.len(),
        summary: e.summary,
        controls: e.controls,
        waivers: e.waivers.clone(),
        warnings: e.warnings.clone(),
        last_failure: shared.last_failure(),
    }))
}

#[utoipa::path(get, path = "/api/v1/estate/environments", tag = "estate", params(EnvironmentsQuery),
    responses((status = 200, body = EnvironmentList), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn environments(
    State(shared): Shared_,
    Query(q): Query<EnvironmentsQuery>,
) -> ApiResult<EnvironmentList> {
    let e = evaluation(&shared, q.commit.as_deref()).await?;
    let environments = e
        .environments
        .iter()
        .filter(|env| q.workload.as_deref().is_none_or(|w| w == env.workload))
        .filter(|env| {
            q.tier.is_none_or(|t| {
                env.classification.get("tier").and_then(Value::as_u64) == Some(u64::from(t))
            })
        })
        .cloned()
        .collect();
    Ok(Json(EnvironmentList {
        commit: e.commit.clone(),
        environments,
    }))
}

/// One environment's classification, DR posture and findings.
#[utoipa::path(get, path = "/api/v1/estate/environments/{workload}/{environment}", tag = "estate",
    params(("workload" = String, Path), ("environment" = String, Path), CommitQuery),
    responses((status = 200, body = EnvironmentDetail), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn environment(
    State(shared): Shared_,
    Path((workload, environment)): Path<(String, String)>,
    Query(q): Query<CommitQuery>,
) -> ApiResult<EnvironmentDetail> {
    let e = evaluation(&shared, q.commit.as_deref()).await?;
    let address = format!("{workload}/{environment}");
    let Some(view) = e.environment(&address) else {
        return Err(ApiError::not_found(&format!(
            "no environment {address} at commit {}",
            e.commit
        )));
    };
    let findings = e
        .findings
        .iter()
        .filter(|f| {
            f.get("workload").and_then(Value::as_str) == Some(workload.as_str())
                && f.get("environment").and_then(Value::as_str) == Some(environment.as_str())
        })
        .cloned()
        .collect();
    Ok(Json(EnvironmentDetail {
        commit: e.commit.clone(),
        environment: view.clone(),
        findings,
    }))
}

#[utoipa::path(get, path = "/api/v1/estate/findings", tag = "estate", params(CommitQuery),
    responses((status = 200, body = FindingList), (status = 404, body = ApiError)),
    security(("bearer" = [])))]
pub async fn findings(
    State(shared): Shared_,
    Query(q): Query<CommitQuery>,
) -> ApiResult<FindingList> {
    let e = evaluation(&shared, q.commit.as_deref()).await?;
    Ok(Json(FindingList {
        commit: e.commit.clone(),
        summary: e.summary,
        findings: e.findings.clone(),
    }))
}

/// Fetches the followed branch now and brings a new commit in.
#[utoipa::path(post, path = "/api/v1/estate/refresh", tag = "estate",
    responses((status = 200, body = Refreshed)), security(("bearer" = [])))]
pub async fn refresh(
    State(shared): Shared_,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Refreshed> {
    fetch_and_bring_in(&shared).await;
    let event = event::EstateRefresh {
        commit: current_commit(&shared),
    };
    record(&shared, &caller.actor(), event.into(), "estate").await?;
    Ok(Json(Refreshed {
        commit: current_commit(&shared),
        last_failure: shared.last_failure(),
    }))
}

async fn fetch_and_bring_in(shared: &Arc<Shared>) {
    let s = shared.clone();
    if let Ok(Ok(commit)) = tokio::task::spawn_blocking(move || s.follower.fetch()).await {
        let in_force = shared.current().is_some_and(|c| c.commit == commit);
        if !in_force {
            let _ = crate::server::bring_in(shared, &commit).await;
        }
    }
}

async fn record(
    shared: &Shared,
    actor: &str,
    event: ward_ops::Event,
    subject: &str,
) -> Result<u64, ApiError> {
    Ok(shared.record(actor, &event, subject, Outcome::Ok).await?)
}

#[utoipa::path(get, path = "/api/v1/commits", tag = "estate",
    responses((status = 200, body = CommitList)), security(("bearer" = [])))]
pub async fn commits(State(shared): Shared_) -> ApiResult<CommitList> {
    let records = shared.store.recent_commits(100).await?;
    Ok(Json(CommitList {
        commit: current_commit(&shared),
        followed: ward_ops::scrub::scrub_credentials(&shared.config.source.repository),
        revision: shared.config.source.revision.clone(),
        commits: records
            .into_iter()
            .map(|r| {
                let (status, error) = match r.status {
                    ward_store::CommitStatus::Ok => ("ok".to_string(), None),
                    ward_store::CommitStatus::Failed { error } => {
                        ("failed".to_string(), Some(error))
                    }
                };
                CommitView {
                    commit: r.commit,
                    status,
                    error,
                    evaluated_at: r.evaluated_at.to_string(),
                }
            })
            .collect(),
    }))
}

/// What rendering `to` changes in the deploy tree `from` renders, and its approvals.
#[utoipa::path(get, path = "/api/v1/plan", tag = "estate", params(PlanQuery),
    responses((status = 200, body = PlanView), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn plan(State(shared): Shared_, Query(q): Query<PlanQuery>) -> ApiResult<PlanView> {
    let to = match q.to {
        Some(to) => to,
        None => current_commit(&shared)
            .ok_or_else(|| ApiError::not_ready("no estate commit is in force yet"))?,
    };
    for c in [&q.from, &to] {
        if !crate::follower::is_commit_id(c) {
            return Err(ApiError::bad_input(
                &format!("{c:?} is not a full commit id"),
                "pass the 40-hex commit ids GET /api/v1/commits lists",
            ));
        }
    }
    let s = shared.clone();
    let (from, target) = (q.from.clone(), to.clone());
    let planned = tokio::task::spawn_blocking(move || -> Result<PlanView, ApiError> {
        let load = |commit: &str| -> Result<ward_estate::Estate, ApiError> {
            let dir = s.follower.checkout(commit).map_err(|e| {
                ApiError::bad_input(&e.to_string(), "is it a commit of the followed repository?")
            })?;
            ward_estate::load(&dir).map_err(|e| {
                ApiError::bad_input(
                    &format!("the estate at {commit} does not load: {e}"),
                    "plan between commits that load",
                )
            })
        };
        let base = load(&from)?;
        let estate = load(&target)?;
        let planned = ward_ops::plan::between(&base, &from, &estate)?;
        Ok(PlanView {
            commit: target.clone(),
            from: from.clone(),
            plan: serde_json::to_value(&planned.plan).unwrap_or_default(),
            unmet: planned.unmet,
        })
    })
    .await
    .map_err(|e| ApiError::operational(&e.to_string()))??;
    Ok(Json(planned))
}

#[utoipa::path(get, path = "/api/v1/snapshots", tag = "vault", params(SnapshotsQuery),
    responses((status = 200, body = SnapshotList), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn snapshots(
    State(shared): Shared_,
    Query(q): Query<SnapshotsQuery>,
) -> ApiResult<SnapshotList> {
    let current = shared
        .current()
        .ok_or_else(|| ApiError::not_ready("no estate commit is in force yet"))?;
    let s = shared.clone();
    let c = current.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let (ws, _) = s.workspace(&c.estate, "api");
        ward_ops::snapshots::list(&ws, &c.estate, q.environment.as_deref(), None)
    })
    .await
    .map_err(|e| ApiError::operational(&e.to_string()))??;
    let snapshots = listed
        .iter()
        .map(|l| match l {
            ward_vault::ListedSnapshot::Verified { manifest, .. } => serde_json::json!({
                "id": manifest.snapshot.id,
                "snapshot": manifest.snapshot.to_string(),
                "tenant": manifest.snapshot.tenant,
                "workload": manifest.snapshot.workload,
                "environment": manifest.snapshot.environment,
                "verified": true,
                "started": manifest.started,
                "finished": manifest.finished,
                "estateCommit": manifest.estate_commit,
                "postgresVersion": manifest.postgres_version,
                "odooVersion": manifest.odoo_version,
                "storedBytes": manifest.stored_bytes(),
            }),
            ward_vault::ListedSnapshot::Unverified {
                snapshot, reason, ..
            } => serde_json::json!({
                "id": snapshot.id,
                "snapshot": snapshot.to_string(),
                "tenant": snapshot.tenant,
                "workload": snapshot.workload,
                "environment": snapshot.environment,
                "verified": false,
                "unverified": reason,
            }),
        })
        .collect();
    Ok(Json(SnapshotList {
        commit: current.commit.clone(),
        snapshots,
    }))
}

/// Enqueues a manual run and records who asked.
async fn enqueue(
    shared: &Shared,
    caller: &Caller,
    kind: &str,
    environment: Option<&str>,
    params: Value,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let current = shared
        .current()
        .ok_or_else(|| ApiError::not_ready("no estate commit is in force yet"))?;
    if let Some(address) = environment {
        ward_ops::environment(&current.estate, address)?;
    }
    let run = shared
        .store
        .enqueue(NewRun::manual(kind, environment, caller.actor()).params(params.clone()))
        .await?;
    let run = run.run().clone();
    let event = event::RunEnqueue {
        run: run.id,
        kind: kind.to_string(),
        params,
        credential: caller.credential_detail(),
    };
    let subject = environment.unwrap_or("estate");
    record(shared, &caller.actor(), event.into(), subject).await?;
    shared.work_ready.notify_waiters();
    Ok((
        StatusCode::ACCEPTED,
        Json(RunAccepted {
            commit: current.commit.clone(),
            run: run.into(),
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/snapshots/verify", tag = "vault", request_body = VerifyBody,
    responses((status = 202, body = RunAccepted), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn verify_snapshot(
    State(shared): Shared_,
    Extension(caller): Extension<Caller>,
    body: Result<Json<VerifyBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let params = serde_json::json!({"snapshot": body.snapshot, "readData": body.read_data});
    enqueue(&shared, &caller, "verify", None, params).await
}

fn bad_body(e: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError::bad_input(
        &e.body_text(),
        "see the request body in /api/v1/openapi.json",
    )
}

#[utoipa::path(post, path = "/api/v1/backups", tag = "vault", request_body = EnvironmentBody,
    responses((status = 202, body = RunAccepted), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn start_backup(
    State(shared): Shared_,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EnvironmentBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    enqueue(
        &shared,
        &caller,
        "backup",
        Some(&body.environment),
        Value::Null,
    )
    .await
}

#[utoipa::path(get, path = "/api/v1/drills", tag = "vault", params(SnapshotsQuery),
    responses((status = 200, body = RunList)), security(("bearer" = [])))]
pub async fn drills(State(shared): Shared_, Query(q): Query<SnapshotsQuery>) -> ApiResult<RunList> {
    let runs = shared
        .store
        .list_runs(&RunFilter {
            kind: Some("drill".into()),
            environment: q.environment,
            ..RunFilter::default()
        })
        .await?;
    Ok(Json(RunList {
        commit: current_commit(&shared),
        runs: runs.into_iter().map(RunView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/drills", tag = "vault", request_body = EnvironmentBody,
    responses((status = 202, body = RunAccepted), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn start_drill(
    State(shared): Shared_,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EnvironmentBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let Json(body) = body.map_err(bad_body)?;
    let params = match body.snapshot {
        Some(s) => serde_json::json!({"snapshot": s}),
        None => Value::Null,
    };
    enqueue(&shared, &caller, "drill", Some(&body.environment), params).await
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunsQuery),
    responses((status = 200, body = RunList), (status = 400, body = ApiError)), security(("bearer" = [])))]
pub async fn runs(State(shared): Shared_, Query(q): Query<RunsQuery>) -> ApiResult<RunList> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<RunState>().map_err(|_| {
            ApiError::bad_input(
                &format!("unknown run state {s:?}"),
                "queued, leased, running, succeeded, failed or cancelled",
            )
        })?),
    };
    let runs = shared
        .store
        .list_runs(&RunFilter {
            state,
            kind: q.kind,
            environment: q.environment,
            before_id: q.before,
            limit: q.limit,
        })
        .await?;
    Ok(Json(RunList {
        commit: current_commit(&shared),
        runs: runs.into_iter().map(RunView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunDetail), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn run(State(shared): Shared_, Path(id): Path<i64>) -> ApiResult<RunDetail> {
    let run = shared
        .store
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("no run {id}")))?;
    Ok(Json(RunDetail {
        commit: current_commit(&shared),
        run: run.into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/logs", tag = "runs", params(("id" = i64, Path), LogsQuery),
    responses((status = 200, body = RunLogs), (status = 404, body = ApiError)), security(("bearer" = [])))]
pub async fn run_logs(
    State(shared): Shared_,
    Path(id): Path<i64>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<RunLogs> {
    if shared.store.get_run(id).await?.is_none() {
        return Err(ApiError::not_found(&format!("no run {id}")));
    }
    let lines = shared
        .store
        .run_logs(id, q.after, q.limit.unwrap_or(1000))
        .await?;
    Ok(Json(RunLogs {
        commit: current_commit(&shared),
        run: id,
        lines: lines
            .into_iter()
            .map(|l| LogLineView {
                id: l.id,
                time: l.time.to_string(),
                level: l.level.as_str().to_string(),
                message: l.message,
            })
            .collect(),
    }))
}

/// Cancels a run that has not started; a running backup is asked to stop before its
/// commit point (its worker finishes it as cancelled); other running kinds run to their end.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunDetail), (status = 404, body = ApiError), (status = 409, body = ApiError)),
    security(("bearer" = [])))]
pub async fn cancel_run(
    State(shared): Shared_,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<RunDetail> {
    let reason = format!("cancelled by {}", caller.actor());
    let run = match shared.store.cancel(id, &reason).await {
        Ok(run) => run,
        Err(ward_store::StoreError::RunNotFound { .. }) => {
            return Err(ApiError::not_found(&format!("no run {id}")));
        }
        Err(e @ ward_store::StoreError::NotCancellable { .. }) => {
            return Err(ApiError::conflict(
                &e.to_string(),
                "only a queued, leased or running run can be cancelled",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let event = event::RunCancel {
        run: id,
        kind: run.kind.clone(),
        credential: caller.credential_detail(),
    };
    record(
        &shared,
        &caller.actor(),
        event.into(),
        run.environment.as_deref().unwrap_or("estate"),
    )
    .await?;
    Ok(Json(RunDetail {
        commit: current_commit(&shared),
        run: run.into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/schedule", tag = "runs",
    responses((status = 200, body = ScheduleView)), security(("bearer" = [])))]
pub async fn schedule(State(shared): Shared_) -> ApiResult<ScheduleView> {
    let states = shared.store.schedule_states().await?;
    let stats = shared.store.queue_stats().await?;
    let leader = shared.store.leader_term(crate::scheduler::ELECTION).await?;
    let time = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string());
    Ok(Json(ScheduleView {
        commit: current_commit(&shared),
        leader: shared.leading.load(Ordering::SeqCst),
        leader_term: leader.as_ref().map(|l| l.0),
        leader_name: leader.map(|l| l.1),
        queue: QueueView {
            queued: stats.queued,
            due: stats.due,
            leased: stats.leased,
            running: stats.running,
            oldest_due: time(stats.oldest_due),
        },
        schedule: states
            .into_iter()
            .map(|s| ScheduleEntry {
                environment: s.environment,
                kind: s.kind,
                last_slot: s.last_slot,
                last_enqueued_at: time(s.last_enqueued_at),
                last_success_at: time(s.last_success_at),
                last_failure_at: time(s.last_failure_at),
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger", params(LedgerQuery),
    responses((status = 200, body = LedgerPage)), security(("bearer" = [])))]
pub async fn ledger(State(shared): Shared_, Query(q): Query<LedgerQuery>) -> ApiResult<LedgerPage> {
    let entries = shared
        .store
        .ledger()
        .entries(q.from.unwrap_or(0), q.limit.unwrap_or(100).min(1000))
        .await?;
    Ok(Json(LedgerPage {
        commit: current_commit(&shared),
        entries: entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/ledger/verify", tag = "ledger",
    responses((status = 200, body = LedgerVerification)), security(("bearer" = [])))]
pub async fn verify_ledger(State(shared): Shared_) -> ApiResult<LedgerVerification> {
    let v = shared.store.ledger().verify(None).await?;
    Ok(Json(LedgerVerification {
        commit: current_commit(&shared),
        ok: v.is_ok(),
        entries: v.entries,
        checkpoints: v.checkpoints,
        last_checkpoint_seq: v.last_checkpoint_seq,
        problem: v.problem.map(|p| p.message),
    }))
}

/// A push webhook (GitHub's, Gitea's, GitLab's with a signature): fetches at once.
/// Authenticated by `X-Hub-Signature-256: sha256=<hmac of the body>` with the webhook
/// secret, or by a platform-ops token.
#[utoipa::path(post, path = "/api/v1/webhooks/git", tag = "estate",
    responses((status = 202, body = Refreshed), (status = 401, body = ApiError)))]
pub async fn git_webhook(
    State(shared): Shared_,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Refreshed>), ApiError> {
    let actor = match caller {
        Some(Extension(c)) => c.actor(),
        None => {
            let Some(secret) = &shared.config.webhook_secret else {
                return Err(ApiError::unauthenticated(
                    "no webhook secret is configured: start the server with --webhook-secret-file, or call with a platform-ops token",
                ));
            };
            let signature = headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("sha256="))
                .and_then(|v| hex::decode(v).ok())
                .ok_or_else(|| {
                    ApiError::unauthenticated("missing or malformed X-Hub-Signature-256")
                })?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret)
                .map_err(|e| ApiError::operational(&e.to_string()))?;
            mac.update(&body);
            if mac.verify_slice(&signature).is_err() {
                return Err(ApiError::unauthenticated(
                    "the webhook signature does not match",
                ));
            }
            "webhook".to_string()
        }
    };
    tracing::info!(actor = %actor, "webhook: fetching the estate");
    let event = event::EstateWebhook {
        commit: current_commit(&shared),
    };
    record(&shared, &actor, event.into(), "estate").await?;
    shared.fetch_now.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(Refreshed {
            commit: current_commit(&shared),
            last_failure: shared.last_failure(),
        }),
    ))
}
