//! Workers: each claims a due run from the store, executes it through the operations
//! layer against the commit in force, heartbeats its lease meanwhile, and finishes it with
//! its result, its reason and the seq of its ledger entry. Every write names the lease, so
//! a run taken away (its lease expired, another replica claimed it) is never finished here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use ward_store::{ClaimedRun, Lease, LogLevel, RunOutcome};
use ward_vault::{Phase, Progress};

use crate::server::{Current, Shared};

/// How often a running run looks for a cancel request.
const CANCEL_POLL: Duration = Duration::from_secs(1);

/// Sends an operation's progress to the run's log (the operation runs on a thread of its
/// own; the lines are written by the worker's task).
struct RunLog {
    lines: mpsc::UnboundedSender<(LogLevel, String)>,
}

impl Progress for RunLog {
    fn start(&self, phase: Phase, total: Option<u64>) {
        let text = match total {
            Some(n) => format!("{phase}: started ({n} to do)"),
            None => format!("{phase}: started"),
        };
        let _ = self.lines.send((LogLevel::Info, text));
    }
    fn finish(&self, phase: Phase) {
        let _ = self.lines.send((LogLevel::Info, format!("{phase}: done")));
    }
    fn note(&self, message: &str) {
        let _ = self.lines.send((LogLevel::Info, message.to_string()));
    }
}

/// The worker loop: claim, execute, repeat; stops claiming when the server drains.
pub async fn run(shared: Arc<Shared>, name: String) {
    loop {
        if shared.draining.load(Ordering::SeqCst) {
            return;
        }
        if shared.current().is_none() {
            // No estate yet: nothing can be executed against it.
            if shared.sleep_or_stop(Duration::from_secs(1)).await {
                return;
            }
            continue;
        }
        match shared.store.claim(&name, shared.config.lease).await {
            Ok(Some(claimed)) => execute(&shared, claimed).await,
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shared.work_ready.notified() => {}
                    _ = shared.stopped() => return,
                }
            }
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "cannot claim a run");
                if shared.sleep_or_stop(Duration::from_secs(2)).await {
                    return;
                }
            }
        }
    }
}

async fn execute(shared: &Arc<Shared>, claimed: ClaimedRun) {
    let ClaimedRun { run, lease } = claimed;
    let Some(current) = shared.current() else {
        let _ = shared.store.hand_back_run(&lease).await;
        return;
    };
    if let Err(e) = shared.store.start(&lease).await {
        tracing::warn!(run = run.id, error = %e, "cannot start a claimed run");
        return;
    }
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let span =
        tracing::info_span!("run", id = run.id, kind = %run.kind, environment = ?run.environment);
    let _entered = span.enter();
    tracing::info!(attempt = run.attempt, "run started");
    drop(_entered);

    let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<(LogLevel, String)>();
    let log_store = shared.store.clone();
    let log_lease = lease.clone();
    let log_task = tokio::spawn(async move {
        while let Some((level, line)) = lines_rx.recv().await {
            let line = ward_ops::scrub::scrub_credentials(&line);
            if log_store
                .append_log(&log_lease, level, &line)
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let _ = lines_tx.send((
        LogLevel::Info,
        format!(
            "attempt {} on {} at estate commit {}",
            run.attempt, lease.owner, current.commit
        ),
    ));

    // The lease is renewed at a third of its length while the operation runs. A cancel
    // asked meanwhile (POST /runs/{id}/cancel) is looked for every second, so that it
    // lands while there is still something to stop.
    let cancel = ward_vault::Cancel::new();
    let beat_store = shared.store.clone();
    let beat_lease = lease.clone();
    let beat_cancel = cancel.clone();
    let length = shared.config.lease;
    let heartbeat = tokio::spawn(async move {
        let beat_every = length / 3;
        let mut last_beat = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(CANCEL_POLL.min(beat_every)).await;
            if last_beat.elapsed() >= beat_every {
                if let Err(e) = beat_store.heartbeat(&beat_lease, length).await {
                    tracing::warn!(run = beat_lease.run_id, error = %e, "lease lost");
                    return;
                }
                last_beat = tokio::time::Instant::now();
            }
            if !beat_cancel.is_cancelled()
                && let Ok(Some(run)) = beat_store.get_run(beat_lease.run_id).await
                && run.cancel_requested.is_some()
            {
                beat_cancel.cancel();
            }
        }
    });

    let actor = run.requested_by.clone();
    let (ws, sink) = shared.workspace(&current.estate, &actor);
    let kind = run.kind.clone();
    let environment = run.environment.clone();
    let params = run.params.clone();
    let pg = shared.config.workspace.pg.clone();
    let scratch = shared.config.cache_dir.join("scratch");
    let task_current = current.clone();
    let progress: Arc<dyn Progress> = Arc::new(RunLog {
        lines: lines_tx.clone(),
    });
    let task_cancel = cancel.clone();
    let executed = tokio::task::spawn_blocking(move || {
        let context = RunContext {
            ws: &ws,
            current: &task_current,
            pg,
            scratch,
            cancel: task_cancel,
        };
        perform(&context, &kind, environment.as_deref(), &params, progress)
    })
    .await
    .unwrap_or_else(|e| Err(format!("the run's task failed: {e}")));
    heartbeat.abort();

    let outcome = match &executed {
        Ok(result) => {
            if let Err(e) = shared.store.set_run_result(&lease, result).await {
                tracing::warn!(run = run.id, error = %e, "cannot record the run's result");
            }
            match verdict(&run.kind, result) {
                None => RunOutcome::Succeeded,
                Some(reason) => RunOutcome::Failed { reason },
            }
        }
        Err(reason) if cancel.is_cancelled() => RunOutcome::Cancelled {
            reason: match shared.store.get_run(run.id).await {
                Ok(Some(r)) => r.cancel_requested.unwrap_or_else(|| reason.clone()),
                _ => reason.clone(),
            },
        },
        Err(reason) => RunOutcome::Failed {
            reason: reason.clone(),
        },
    };
    match &outcome {
        RunOutcome::Failed { reason } => {
            let _ = lines_tx.send((LogLevel::Error, reason.clone()));
        }
        RunOutcome::Cancelled { reason } => {
            let _ = lines_tx.send((LogLevel::Warn, format!("cancelled: {reason}")));
        }
        RunOutcome::Succeeded => {
            let _ = lines_tx.send((LogLevel::Info, "succeeded".to_string()));
        }
    }
    drop(lines_tx);
    let _ = log_task.await;
    finish(shared, &lease, outcome, sink.last_seq()).await;
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
}

async fn finish(shared: &Shared, lease: &Lease, outcome: RunOutcome, seq: Option<u64>) {
    let failed = matches!(outcome, RunOutcome::Failed { .. });
    match shared.store.finish(lease, outcome, seq).await {
        Ok(run) => {
            tracing::info!(run = run.id, state = run.state.as_str(), "run finished");
            shared.metrics.runs_finished(&run.kind, failed);
        }
        Err(e) => tracing::warn!(run = lease.run_id, error = %e, "the run's end was not recorded"),
    }
}

/// A finished operation whose report says it did not pass: why.
fn verdict(kind: &str, result: &Value) -> Option<String> {
    match kind {
        "drill" => {
            let failures = result.get("failures").and_then(Value::as_array)?;
            (!failures.is_empty()).then(|| {
                let list: Vec<&str> = failures.iter().filter_map(Value::as_str).collect();
                format!("the drill failed: {}", list.join("; "))
            })
        }
        "verify" => {
            let faults = result.get("faults").and_then(Value::as_array)?;
            (!faults.is_empty()).then(|| format!("{} bad object(s)", faults.len()))
        }
        "check" => {
            let deny = result.pointer("/summary/deny").and_then(Value::as_u64)?;
            (deny > 0).then(|| format!("{deny} unwaived deny finding(s)"))
        }
        _ => None,
    }
}

/// What a run executes with.
struct RunContext<'a> {
    ws: &'a ward_ops::Workspace,
    current: &'a Current,
    pg: ward_ops::vault::PgSettings,
    scratch: std::path::PathBuf,
    /// Heard by backups (the long operation that writes); the others run to their end.
    cancel: ward_vault::Cancel,
}

/// Executes one run's operation on the current thread (a blocking one).
fn perform(
    cx: &RunContext<'_>,
    kind: &str,
    environment: Option<&str>,
    params: &Value,
    progress: Arc<dyn Progress>,
) -> Result<Value, String> {
    let (ws, current) = (cx.ws, cx.current);
    let estate = &current.estate;
    let address = || environment.ok_or_else(|| format!("a {kind} run needs an environment"));
    match kind {
        "backup" => {
            let mut request = ward_ops::backup::BackupRequest::new(address()?);
            request.pg = cx.pg.clone();
            request.cancel = cx.cancel.clone();
            ward_ops::backup::run(ws, estate, &request, progress)
                .map_err(|e| e.message())
                .and_then(|s| json_of(&s))
        }
        "drill" => {
            let mut request = ward_ops::drill::DrillRequest::new(address()?);
            request.pg = cx.pg.clone();
            let scratch = cx.scratch.clone();
            request.snapshot = params
                .get("snapshot")
                .and_then(Value::as_str)
                .map(String::from);
            std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
            request.scratch_dir = Some(scratch);
            ward_ops::drill::run(ws, estate, &request, progress)
                .map_err(|e| e.message())
                .and_then(|r| json_of(&r))
        }
        "prune" => {
            let request = ward_ops::snapshots::PruneRequest::new(address()?);
            ward_ops::snapshots::prune(ws, estate, &request)
                .map_err(|e| e.message())
                .map(|(pruned, gc)| json!({"prune": pruned, "gc": gc}))
        }
        "verify" => {
            let snapshot = params
                .get("snapshot")
                .and_then(Value::as_str)
                .ok_or("a verify run needs params.snapshot")?;
            let request = ward_ops::snapshots::VerifyRequest {
                snapshot: snapshot.to_string(),
                read_data: params
                    .get("readData")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                identity: None,
                repo: None,
            };
            ward_ops::snapshots::verify(ws, estate, &request, progress)
                .map_err(|e| e.message())
                .and_then(|r| json_of(&r))
        }
        "check" => {
            let e = &current.evaluation;
            let result = json!({
                "commit": e.commit,
                "summary": e.summary,
                "controls": e.controls,
                "environments": e.environments.len(),
            });
            let outcome = if e.summary.deny > 0 {
                ward_ledger::Outcome::Findings
            } else {
                ward_ledger::Outcome::Ok
            };
            let event = ward_ops::event::Check {
                deny: e.summary.deny,
                warn: e.summary.warn,
                waived: e.summary.waived,
                controls: e.controls,
            };
            ws.record(&event.into(), "estate", outcome, &estate.git)
                .map_err(|e| e.message())?;
            Ok(result)
        }
        other => Err(format!("unknown run kind {other:?}")),
    }
}

fn json_of<T: serde::Serialize>(report: &T) -> Result<Value, String> {
    serde_json::to_value(report).map_err(|e| e.to_string())
}
