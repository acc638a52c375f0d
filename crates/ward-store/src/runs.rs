//! The durable run queue: queued → leased → running → succeeded | failed | cancelled,
//! leases that fence a worker's writes (owner + epoch), requeueing of expired leases, hand
//! back on shutdown, logs, and the per-(environment, kind) schedule state.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::db::{Arg, Backend, DbRow, Tx, args, duration_ms, now_ms, to_ms};
use crate::error::StoreError;
use crate::leader::{Fence, check_fence};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for a worker, from its due time on.
    Queued,
    /// Claimed by a worker that has not started it yet.
    Leased,
    /// Being executed by the worker holding its lease.
    Running,
    Succeeded,
    /// Finished without success; the run's `reason` says why.
    Failed,
    Cancelled,
}

impl RunState {
    /// The word stored and shown: `queued`, `leased`, …
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Leased => "leased",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    /// True for succeeded, failed and cancelled: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<RunState, StoreError> {
        Ok(match s {
            "queued" => RunState::Queued,
            "leased" => RunState::Leased,
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("unknown run state {other:?}"))),
        })
    }
}

/// What caused a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Scheduled,
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Manual => "manual",
        }
    }
}

impl FromStr for Trigger {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Trigger, StoreError> {
        match s {
            "scheduled" => Ok(Trigger::Scheduled),
            "manual" => Ok(Trigger::Manual),
            other => Err(StoreError::Corrupt(format!("unknown trigger {other:?}"))),
        }
    }
}

/// A run to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// What to run (`backup`, `drill`, `prune`, `gc`, `check`, …); stored, not interpreted.
    pub kind: String,
    /// The environment address (`st-marys/billing/prod`), `None` for estate-wide runs.
    pub environment: Option<String>,
    pub trigger: Trigger,
    /// Who asked: a person, a token's subject, or the scheduler.
    pub requested_by: String,
    /// The schedule slot (e.g. `2026-11-26T02:00Z`): at most one run per (kind,
    /// environment, slot) is ever enqueued. `None` for runs that need no such guard.
    pub slot: Option<String>,
    /// Not claimed before this time; `None` for now.
    pub due: Option<Timestamp>,
    /// Opaque parameters for the worker (JSON).
    pub params: serde_json::Value,
}

impl NewRun {
    /// A run asked for by `requested_by`, due now, without a slot.
    pub fn manual(
        kind: impl Into<String>,
        environment: Option<&str>,
        requested_by: impl Into<String>,
    ) -> NewRun {
        NewRun {
            kind: kind.into(),
            environment: environment.map(str::to_string),
            trigger: Trigger::Manual,
            requested_by: requested_by.into(),
            slot: None,
            due: None,
            params: serde_json::Value::Null,
        }
    }

    /// The run of schedule slot `slot`, requested by `scheduler`.
    pub fn scheduled(
        kind: impl Into<String>,
        environment: Option<&str>,
        slot: impl Into<String>,
        scheduler: impl Into<String>,
    ) -> NewRun {
        NewRun {
            trigger: Trigger::Scheduled,
            slot: Some(slot.into()),
            ..NewRun::manual(kind, environment, scheduler)
        }
    }

    /// Sets the slot (also for manual runs, to make a request idempotent).
    pub fn slot(mut self, slot: impl Into<String>) -> NewRun {
        self.slot = Some(slot.into());
        self
    }

    /// Not before `due`.
    pub fn due(mut self, due: Timestamp) -> NewRun {
        self.due = Some(due);
        self
    }

    pub fn params(mut self, params: serde_json::Value) -> NewRun {
        self.params = params;
        self
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    pub id: i64,
    pub kind: String,
    pub environment: Option<String>,
    pub trigger: Trigger,
    pub requested_by: String,
    pub slot: Option<String>,
    pub params: serde_json::Value,
    pub state: RunState,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// How many times it has been claimed, hand-backs not counted.
    pub attempt: u32,
    /// The worker holding its lease (leased or running).
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub due_at: Timestamp,
    pub created_at: Timestamp,
    /// When the current (or last) attempt started running.
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The seq of the run's ledger entry, once recorded.
    pub ledger_seq: Option<u64>,
    /// What the operation reported (sizes, durations, verdicts), once it finished.
    pub result: Option<serde_json::Value>,
    /// Why a cancel of this run was asked while it was running: its worker stops it at
    /// the operation's next safe point and finishes it as cancelled.
    pub cancel_requested: Option<String>,
}

/// A worker's hold on a run, the fencing token of its writes about it: every write
/// (heartbeat, start, log, finish) names it and is refused with
/// [`StoreError::LeaseLost`] once the run was requeued, handed back or re-claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub run_id: i64,
    pub owner: String,
    /// Increases at every claim of the run: a later claim never matches an earlier lease.
    pub epoch: i64,
    pub expires_at: Timestamp,
}

/// A run just claimed, and the lease to work on it under.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    pub run: Run,
    pub lease: Lease,
}

/// The result of an enqueue.
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueued {
    /// A new run.
    Created(Run),
    /// The run already enqueued for this slot (in whatever state it is now).
    Existing(Run),
}

impl Enqueued {
    pub fn run(&self) -> &Run {
        match self {
            Enqueued::Created(run) | Enqueued::Existing(run) => run,
        }
    }

    pub fn created(&self) -> bool {
        matches!(self, Enqueued::Created(_))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed {
        reason: String,
    },
    /// Stopped on a cancel request while it ran.
    Cancelled {
        reason: String,
    },
}

/// What [`Store::requeue_expired`] did to one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeued {
    pub run_id: i64,
    /// `Queued` to be retried, or `Failed` when it had been tried `max_attempts` times.
    pub state: RunState,
    pub attempt: u32,
}

/// Which runs [`Store::list_runs`] returns: newest first, every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub state: Option<RunState>,
    pub kind: Option<String>,
    /// An exact environment address.
    pub environment: Option<String>,
    /// Only runs with a smaller id (for paging).
    pub before_id: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// The queue at a glance, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Queued runs, due or not.
    pub queued: u64,
    /// Queued runs whose due time has passed.
    pub due: u64,
    pub leased: u64,
    pub running: u64,
    /// The due time of the oldest due queued run: now minus this is the lag.
    pub oldest_due: Option<Timestamp>,
}

/// A log line's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<LogLevel, StoreError> {
        Ok(match s {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            other => return Err(StoreError::Corrupt(format!("unknown log level {other:?}"))),
        })
    }
}

/// One line of a run's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Increasing in the order lines were written; pass the last one seen as `after`.
    pub id: i64,
    pub time: Timestamp,
    pub level: LogLevel,
    pub message: String,
}

/// The schedule's memory for one (environment, kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleState {
    pub environment: Option<String>,
    pub kind: String,
    /// The last slot enqueued by the scheduler.
    pub last_slot: Option<String>,
    pub last_enqueued_at: Option<Timestamp>,
    /// When a run of this kind for this environment last finished, by outcome.
    pub last_success_at: Option<Timestamp>,
    pub last_failure_at: Option<Timestamp>,
    /// The leader term of the last scheduler write.
    pub term: Option<i64>,
}

const RUN_COLUMNS: &str = "id, kind, environment, trigger, requested_by, slot, params, state, \
    reason, attempt, lease_epoch, lease_owner, lease_expires_ms, due_ms, created_ms, \
    started_ms, finished_ms, ledger_seq, result, cancel_reason";

fn env_key(environment: Option<&str>) -> String {
    environment.unwrap_or_default().to_string()
}

fn run_from(row: &DbRow) -> Result<Run, StoreError> {
    let environment = row.text("environment")?;
    let params = row.text("params")?;
    Ok(Run {
        id: row.i64("id")?,
        kind: row.text("kind")?,
        environment: (!environment.is_empty()).then_some(environment),
        trigger: row.text("trigger")?.parse()?,
        requested_by: row.text("requested_by")?,
        slot: row.opt_text("slot")?,
        params: serde_json::from_str(&params)?,
        state: row.text("state")?.parse()?,
        reason: row.opt_text("reason")?,
        attempt: u32::try_from(row.i64("attempt")?)
            .map_err(|_| StoreError::Corrupt("a run's attempt count is out of range".into()))?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_expires_at: row.opt_time("lease_expires_ms")?,
        due_at: row.time("due_ms")?,
        created_at: row.time("created_ms")?,
        started_at: row.opt_time("started_ms")?,
        finished_at: row.opt_time("finished_ms")?,
        ledger_seq: row
            .opt_i64("ledger_seq")?
            .map(|s| {
                u64::try_from(s)
                    .map_err(|_| StoreError::Corrupt(format!("negative ledger seq {s}")))
            })
            .transpose()?,
        result: row
            .opt_text("result")?
            .map(|text| serde_json::from_str(&text))
            .transpose()?,
        cancel_requested: row.opt_text("cancel_reason")?,
    })
}

fn lease_from(row: &DbRow) -> Result<Lease, StoreError> {
    Ok(Lease {
        run_id: row.i64("id")?,
        owner: row.opt_text("lease_owner")?.unwrap_or_default(),
        epoch: row.i64("lease_epoch")?,
        expires_at: row
            .opt_time("lease_expires_ms")?
            .ok_or_else(|| StoreError::Corrupt("a leased run without an expiry".into()))?,
    })
}

fn check_new(new: &NewRun) -> Result<(), StoreError> {
    if new.kind.is_empty() {
        return Err(StoreError::InvalidInput("a run needs a kind".into()));
    }
    if new.environment.as_deref() == Some("") {
        return Err(StoreError::InvalidInput(
            "an environment address cannot be empty (use none)".into(),
        ));
    }
    Ok(())
}

impl Store {
    /// Enqueues a run, or returns the one already enqueued for its slot (unique per
    /// kind, environment and slot). Runs without a slot are always new.
    pub async fn enqueue(&self, new: NewRun) -> Result<Enqueued, StoreError> {
        check_new(&new)?;
        let mut tx = self.pool.begin_write().await?;
        let enqueued = insert_run(&mut tx, &new).await?;
        tx.commit().await?;
        Ok(enqueued)
    }

    /// The scheduler's enqueue: as [`Store::enqueue`], and records the slot as the last
    /// enqueued for (environment, kind), both refused with [`StoreError::Fenced`] unless
    /// `fence` is the current leader term.
    pub async fn enqueue_scheduled(
        &self,
        fence: &Fence,
        new: NewRun,
    ) -> Result<Enqueued, StoreError> {
        check_new(&new)?;
        let mut tx = self.pool.begin_write().await?;
        check_fence(&mut tx, fence).await?;
        let enqueued = insert_run(&mut tx, &new).await?;
        if let Some(slot) = &new.slot {
            tx.execute(
                "INSERT INTO schedule_state (environment, kind, last_slot, last_enqueued_ms, term) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (environment, kind) DO UPDATE SET last_slot = excluded.last_slot, \
                 last_enqueued_ms = excluded.last_enqueued_ms, term = excluded.term",
                args![
                    env_key(new.environment.as_deref()),
                    new.kind.as_str(),
                    slot.as_str(),
                    now_ms(),
                    fence.term()
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(enqueued)
    }

    /// Records, under `fence`, the last slot the scheduler considered for (environment,
    /// kind) without enqueueing (a slot it decided to skip).
    pub async fn set_schedule_slot(
        &self,
        fence: &Fence,
        environment: Option<&str>,
        kind: &str,
        slot: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_write().await?;
        check_fence(&mut tx, fence).await?;
        tx.execute(
            "INSERT INTO schedule_state (environment, kind, last_slot, term) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (environment, kind) DO UPDATE SET last_slot = excluded.last_slot, \
             term = excluded.term",
            args![env_key(environment), kind, slot, fence.term()],
        )
        .await?;
        tx.commit().await
    }

    /// The schedule state of (environment, kind), `None` before anything was recorded.
    pub async fn schedule_state(
        &self,
        environment: Option<&str>,
        kind: &str,
    ) -> Result<Option<ScheduleState>, StoreError> {
        self.pool
            .fetch_optional(
                "SELECT * FROM schedule_state WHERE environment = $1 AND kind = $2",
                args![env_key(environment), kind],
            )
            .await?
            .map(|row| schedule_from(&row))
            .transpose()
    }

    /// Every schedule state, by environment and kind.
    pub async fn schedule_states(&self) -> Result<Vec<ScheduleState>, StoreError> {
        self.pool
            .fetch_all(
                "SELECT * FROM schedule_state ORDER BY environment, kind",
                args![],
            )
            .await?
            .iter()
            .map(schedule_from)
            .collect()
    }

    /// Claims the queued run due first (then lowest id) for `worker`, leasing it for
    /// `lease`; `None` when nothing is due. Atomic across workers and replicas: a run is
    /// never claimed twice (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one `UPDATE`
    /// under the writer lock).
    pub async fn claim(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedRun>, StoreError> {
        if worker.is_empty() {
            return Err(StoreError::InvalidInput("a worker needs a name".into()));
        }
        let now = now_ms();
        let expires = now.saturating_add(duration_ms(lease)?);
        let lock = match self.pool.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE runs SET state = 'leased', lease_owner = $1, lease_expires_ms = $2, \
             lease_epoch = lease_epoch + 1, attempt = attempt + 1 \
             WHERE id = (SELECT id FROM runs WHERE state = 'queued' AND due_ms <= $3 \
             ORDER BY due_ms, id LIMIT 1{lock}) AND state = 'queued' \
             RETURNING {RUN_COLUMNS}"
        );
        let Some(row) = self
            .pool
            .fetch_optional(&sql, args![worker, expires, now])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(ClaimedRun {
            run: run_from(&row)?,
            lease: lease_from(&row)?,
        }))
    }

    /// Extends the lease to `extend` from now and returns it renewed.
    pub async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<Lease, StoreError> {
        let expires = now_ms().saturating_add(duration_ms(extend)?);
        let row = self
            .pool
            .fetch_optional(
                &format!(
                    "UPDATE runs SET lease_expires_ms = $1 \
                     WHERE id = $2 AND lease_owner = $3 AND lease_epoch = $4 \
                     AND state IN ('leased', 'running') RETURNING {RUN_COLUMNS}"
                ),
                args![expires, lease.run_id, lease.owner.as_str(), lease.epoch],
            )
            .await?;
        match row {
            Some(row) => lease_from(&row),
            None => Err(self.lease_lost(lease).await),
        }
    }

    /// Marks the leased run running (its attempt's start time is now).
    pub async fn start(&self, lease: &Lease) -> Result<Run, StoreError> {
        let row = self
            .pool
            .fetch_optional(
                &format!(
                    "UPDATE runs SET state = 'running', started_ms = $1 \
                     WHERE id = $2 AND lease_owner = $3 AND lease_epoch = $4 \
                     AND state = 'leased' RETURNING {RUN_COLUMNS}"
                ),
                args![now_ms(), lease.run_id, lease.owner.as_str(), lease.epoch],
            )
            .await?;
        match row {
            Some(row) => run_from(&row),
            None => Err(self.lease_lost(lease).await),
        }
    }

    /// Finishes the run (leased or running) under `lease`, recording the seq of its
    /// ledger entry if there is one, and the outcome's time in the schedule state of its
    /// (environment, kind).
    pub async fn finish(
        &self,
        lease: &Lease,
        outcome: RunOutcome,
        ledger_seq: Option<u64>,
    ) -> Result<Run, StoreError> {
        let now = now_ms();
        let (state, reason) = match &outcome {
            RunOutcome::Succeeded => (RunState::Succeeded, None),
            RunOutcome::Failed { reason } => (RunState::Failed, Some(reason.clone())),
            RunOutcome::Cancelled { reason } => (RunState::Cancelled, Some(reason.clone())),
        };
        let seq = ledger_seq.map(seq_i64).transpose()?;
        let mut tx = self.pool.begin_write().await?;
        let row = tx
            .fetch_optional(
                &format!(
                    "UPDATE runs SET state = $1, reason = $2, finished_ms = $3, \
                     ledger_seq = COALESCE($4, ledger_seq), lease_owner = NULL, \
                     lease_expires_ms = NULL \
                     WHERE id = $5 AND lease_owner = $6 AND lease_epoch = $7 \
                     AND state IN ('leased', 'running') RETURNING {RUN_COLUMNS}"
                ),
                args![
                    state.as_str(),
                    reason,
                    now,
                    seq,
                    lease.run_id,
                    lease.owner.as_str(),
                    lease.epoch
                ],
            )
            .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.lease_lost(lease).await);
        };
        let run = run_from(&row)?;
        let column = match state {
            RunState::Succeeded => "last_success_ms",
            RunState::Cancelled => {
                tx.commit().await?;
                return Ok(run);
            }
            _ => "last_failure_ms",
        };
        tx.execute(
            &format!(
                "INSERT INTO schedule_state (environment, kind, {column}) VALUES ($1, $2, $3) \
                 ON CONFLICT (environment, kind) DO UPDATE SET {column} = excluded.{column}"
            ),
            args![env_key(run.environment.as_deref()), run.kind.as_str(), now],
        )
        .await?;
        tx.commit().await?;
        Ok(run)
    }

    /// Records what a leased or running run's operation reported, under its lease (refused
    /// with [`StoreError::LeaseLost`] once the run is no longer this lease's).
    pub async fn set_run_result(
        &self,
        lease: &Lease,
        result: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let changed = self
            .pool
            .execute(
                "UPDATE runs SET result = $1 WHERE id = $2 AND lease_owner = $3 \
                 AND lease_epoch = $4 AND state IN ('leased', 'running')",
                args![
                    result.to_string(),
                    lease.run_id,
                    lease.owner.as_str(),
                    lease.epoch
                ],
            )
            .await?;
        if changed == 0 {
            return Err(self.lease_lost(lease).await);
        }
        Ok(())
    }

    /// Records the seq of a run's ledger entry (for runs whose entry is written after
    /// they finish).
    pub async fn set_run_ledger_seq(&self, run_id: i64, seq: u64) -> Result<(), StoreError> {
        let changed = self
            .pool
            .execute(
                "UPDATE runs SET ledger_seq = $1 WHERE id = $2",
                args![seq_i64(seq)?, run_id],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::RunNotFound { id: run_id });
        }
        Ok(())
    }

    /// Returns one run under `lease`, leased but not started, to the queue (not counted
    /// as an attempt).
    pub async fn hand_back_run(&self, lease: &Lease) -> Result<Run, StoreError> {
        let row = self
            .pool
            .fetch_optional(
                &format!(
                    "UPDATE runs SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL, \
                     attempt = attempt - 1 \
                     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 AND state = 'leased' \
                     RETURNING {RUN_COLUMNS}"
                ),
                args![lease.run_id, lease.owner.as_str(), lease.epoch],
            )
            .await?;
        match row {
            Some(row) => run_from(&row),
            None => Err(self.lease_lost(lease).await),
        }
    }

    /// A shutting-down worker returns every run it leased but has not started to the
    /// queue (not counted as attempts); returns their ids. Running runs stay: their
    /// leases expire and [`Store::requeue_expired`] retries them.
    pub async fn hand_back(&self, worker: &str) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .pool
            .fetch_all(
                "UPDATE runs SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL, \
                 attempt = attempt - 1 WHERE lease_owner = $1 AND state = 'leased' RETURNING id",
                args![worker],
            )
            .await?;
        let mut ids = rows
            .iter()
            .map(|r| r.i64("id"))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Requeues every leased or running run whose lease has expired (its worker died or
    /// hung): it is retried, unless it has been claimed `max_attempts` times already,
    /// in which case it fails with a reason saying so. Its old lease is void either way.
    pub async fn requeue_expired(&self, max_attempts: u32) -> Result<Vec<Requeued>, StoreError> {
        let now = now_ms();
        let max = i64::from(max_attempts.max(1));
        let reason = format!(
            "interrupted: its worker's lease expired, and it had been tried {max} time{}",
            if max == 1 { "" } else { "s" }
        );
        let mut tx = self.pool.begin_write().await?;
        let failed = tx
            .fetch_all(
                "UPDATE runs SET state = 'failed', reason = $1, finished_ms = $2, \
                 lease_owner = NULL, lease_expires_ms = NULL \
                 WHERE state IN ('leased', 'running') AND lease_expires_ms < $2 AND attempt >= $3 \
                 RETURNING id, attempt",
                args![reason, now, max],
            )
            .await?;
        let queued = tx
            .fetch_all(
                "UPDATE runs SET state = 'queued', lease_owner = NULL, lease_expires_ms = NULL \
                 WHERE state IN ('leased', 'running') AND lease_expires_ms < $1 AND attempt < $2 \
                 RETURNING id, attempt",
                args![now, max],
            )
            .await?;
        tx.commit().await?;
        let mut out = Vec::with_capacity(failed.len() + queued.len());
        for (rows, state) in [(failed, RunState::Failed), (queued, RunState::Queued)] {
            for row in rows {
                out.push(Requeued {
                    run_id: row.i64("id")?,
                    state,
                    attempt: u32::try_from(row.i64("attempt")?).unwrap_or(u32::MAX),
                });
            }
        }
        out.sort_by_key(|r| r.run_id);
        Ok(out)
    }

    /// The newest run of `kind` of each environment: in `state`, or when `None` the newest
    /// that finished (succeeded or failed). For metrics: one row per environment.
    pub async fn latest_runs(
        &self,
        kind: &str,
        state: Option<RunState>,
    ) -> Result<Vec<Run>, StoreError> {
        let (condition, values) = match state {
            Some(state) => ("state = $2", args![kind, state.as_str()]),
            None => ("state IN ('succeeded', 'failed')", args![kind]),
        };
        let rows = self
            .pool
            .fetch_all(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE id IN (SELECT MAX(id) FROM runs \
                     WHERE kind = $1 AND environment <> '' AND {condition} GROUP BY environment) \
                     ORDER BY environment"
                ),
                values,
            )
            .await?;
        rows.iter().map(run_from).collect()
    }

    /// Cancels a queued or leased (not yet running) run: a leased run's worker finds its
    /// lease gone when it tries to start it. A running run is asked to stop: its worker
    /// sees [`Run::cancel_requested`] at its next heartbeat and finishes it as cancelled.
    pub async fn cancel(&self, run_id: i64, reason: &str) -> Result<Run, StoreError> {
        let row = self
            .pool
            .fetch_optional(
                &format!(
                    "UPDATE runs SET state = 'cancelled', reason = $1, finished_ms = $2, \
                     lease_owner = NULL, lease_expires_ms = NULL \
                     WHERE id = $3 AND state IN ('queued', 'leased') RETURNING {RUN_COLUMNS}"
                ),
                args![reason, now_ms(), run_id],
            )
            .await?;
        if let Some(row) = row {
            return run_from(&row);
        }
        let asked = self
            .pool
            .fetch_optional(
                &format!(
                    "UPDATE runs SET cancel_reason = $1 WHERE id = $2 AND state = 'running' \
                     RETURNING {RUN_COLUMNS}"
                ),
                args![reason, run_id],
            )
            .await?;
        if let Some(row) = asked {
            return run_from(&row);
        }
        match self.get_run(run_id).await? {
            None => Err(StoreError::RunNotFound { id: run_id }),
            Some(run) => Err(StoreError::NotCancellable {
                id: run_id,
                state: run.state.to_string(),
            }),
        }
    }

    /// One run.
    pub async fn get_run(&self, run_id: i64) -> Result<Option<Run>, StoreError> {
        self.pool
            .fetch_optional(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                args![run_id],
            )
            .await?
            .map(|row| run_from(&row))
            .transpose()
    }

    /// Runs matching `filter`, newest first.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Arg> = Vec::new();
        let mut add = |condition: &str, value: Arg| {
            values.push(value);
            conditions.push(format!("{condition} ${}", values.len()));
        };
        if let Some(state) = filter.state {
            add("state =", state.as_str().into());
        }
        if let Some(kind) = &filter.kind {
            add("kind =", kind.into());
        }
        if let Some(environment) = &filter.environment {
            add("environment =", environment.into());
        }
        if let Some(before) = filter.before_id {
            add("id <", before.into());
        }
        let limit = i64::from(filter.limit.unwrap_or(100));
        values.push(limit.into());
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs {condition} ORDER BY id DESC LIMIT ${}",
            values.len()
        );
        self.pool
            .fetch_all(&sql, values)
            .await?
            .iter()
            .map(run_from)
            .collect()
    }

    /// Counts by state and the oldest due time, for metrics and scheduler lag.
    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let now = now_ms();
        let row = self
            .pool
            .fetch_one(
                "SELECT \
                 COUNT(CASE WHEN state = 'queued' THEN 1 END) AS queued, \
                 COUNT(CASE WHEN state = 'queued' AND due_ms <= $1 THEN 1 END) AS due, \
                 COUNT(CASE WHEN state = 'leased' THEN 1 END) AS leased, \
                 COUNT(CASE WHEN state = 'running' THEN 1 END) AS running, \
                 MIN(CASE WHEN state = 'queued' AND due_ms <= $1 THEN due_ms END) AS oldest \
                 FROM runs WHERE state IN ('queued', 'leased', 'running')",
                args![now],
            )
            .await?;
        let count = |col: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.i64(col)?).unwrap_or_default())
        };
        Ok(QueueStats {
            queued: count("queued")?,
            due: count("due")?,
            leased: count("leased")?,
            running: count("running")?,
            oldest_due: row.opt_time("oldest")?,
        })
    }

    /// Appends a line to the run's log, under its lease.
    pub async fn append_log(
        &self,
        lease: &Lease,
        level: LogLevel,
        message: &str,
    ) -> Result<(), StoreError> {
        let written = self
            .pool
            .execute(
                "INSERT INTO run_logs (run_id, time_ms, level, message) \
                 SELECT id, $1, $2, $3 FROM runs \
                 WHERE id = $4 AND lease_owner = $5 AND lease_epoch = $6 \
                 AND state IN ('leased', 'running')",
                args![
                    now_ms(),
                    level.as_str(),
                    message,
                    lease.run_id,
                    lease.owner.as_str(),
                    lease.epoch
                ],
            )
            .await?;
        if written == 0 {
            return Err(self.lease_lost(lease).await);
        }
        Ok(())
    }

    /// The run's log in the order written, from after line `after` (a [`LogLine::id`]),
    /// at most `limit` lines.
    pub async fn run_logs(
        &self,
        run_id: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LogLine>, StoreError> {
        let rows = self
            .pool
            .fetch_all(
                "SELECT id, time_ms, level, message FROM run_logs \
                 WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                args![run_id, after.unwrap_or(0), i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LogLine {
                    id: row.i64("id")?,
                    time: row.time("time_ms")?,
                    level: row.text("level")?.parse()?,
                    message: row.text("message")?,
                })
            })
            .collect()
    }

    /// The error for a lease that no longer holds: why, as far as the run says.
    async fn lease_lost(&self, lease: &Lease) -> StoreError {
        match self.get_run(lease.run_id).await {
            Ok(None) => StoreError::RunNotFound { id: lease.run_id },
            Ok(Some(run)) => StoreError::LeaseLost {
                run_id: lease.run_id,
                owner: lease.owner.clone(),
                epoch: lease.epoch,
                state: run.state.to_string(),
                holder: run.lease_owner,
            },
            Err(e) => e,
        }
    }
}

async fn insert_run(tx: &mut Tx, new: &NewRun) -> Result<Enqueued, StoreError> {
    let now = now_ms();
    let environment = env_key(new.environment.as_deref());
    let inserted = tx
        .fetch_optional(
            &format!(
                "INSERT INTO runs (kind, environment, trigger, requested_by, slot, params, state, \
                 attempt, lease_epoch, due_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, 0, $7, $8) \
                 ON CONFLICT (kind, environment, slot) DO NOTHING RETURNING {RUN_COLUMNS}"
            ),
            args![
                new.kind.as_str(),
                environment.as_str(),
                new.trigger.as_str(),
                new.requested_by.as_str(),
                new.slot.clone(),
                serde_json::to_string(&new.params)?,
                new.due.map_or(now, to_ms),
                now
            ],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(Enqueued::Created(run_from(&row)?));
    }
    let row = tx
        .fetch_one(
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE kind = $1 AND environment = $2 AND slot = $3"
            ),
            args![new.kind.as_str(), environment.as_str(), new.slot.clone()],
        )
        .await?;
    Ok(Enqueued::Existing(run_from(&row)?))
}

fn schedule_from(row: &DbRow) -> Result<ScheduleState, StoreError> {
    let environment = row.text("environment")?;
    Ok(ScheduleState {
        environment: (!environment.is_empty()).then_some(environment),
        kind: row.text("kind")?,
        last_slot: row.opt_text("last_slot")?,
        last_enqueued_at: row.opt_time("last_enqueued_ms")?,
        last_success_at: row.opt_time("last_success_ms")?,
        last_failure_at: row.opt_time("last_failure_ms")?,
        term: row.opt_i64("term")?,
    })
}

pub(crate) fn seq_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq)
        .map_err(|_| StoreError::InvalidInput(format!("ledger seq {seq} is too large")))
}
