//! The scheduler: a reconcile loop, as a Kubernetes controller's, over every environment
//! of the commit in force. Each pass says what is due now (a backup at the posture's
//! interval, a drill at its drill frequency, a daily prune with garbage collection, a check
//! of each new commit) and when to look again. Only the leader enqueues, under its fence.
//!
//! Time is cut into slots per (environment, kind): slot `k` of an interval `every` starts
//! at `k·every + offset`, the offset a hash of the address, so 6,000 environments do not
//! all start at midnight. A slot is enqueued at most once (the store's unique slot), and
//! only the slot that contains now: slots missed while no server ran are caught up once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use ward_estate::ResolvedEnvironment;
use ward_store::{NewRun, ScheduleState};

use crate::server::Shared;

/// The election the scheduler's replicas take part in.
pub const ELECTION: &str = "scheduler";
/// Who the scheduler's runs are requested by.
pub const SCHEDULER_ACTOR: &str = "ward-scheduler";
/// How often prune and garbage collection run per environment.
pub const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How many times a run whose lease expired is tried again before it fails.
pub const MAX_ATTEMPTS: u32 = 3;

/// What one kind of work is, per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Backup,
    Drill,
    Prune,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Drill => "drill",
            Kind::Prune => "prune",
        }
    }
}

/// One environment as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct Schedulable {
    pub address: String,
    pub backup_every: Duration,
    pub drill_every: Duration,
}

impl Schedulable {
    pub fn of(env: &ResolvedEnvironment) -> Schedulable {
        let p = &env.classification.posture;
        Schedulable {
            address: env.address(),
            backup_every: Duration::from_secs(p.backup_interval.as_secs().max(60)),
            drill_every: Duration::from_secs(p.drill_every.as_secs().max(60)),
        }
    }
}

/// A pass's decision: the runs to enqueue now and when to look again.
#[derive(Debug, Default)]
pub struct Reconcile {
    pub enqueue: Vec<NewRun>,
    pub requeue_after: Duration,
}

/// The start of the slot of `every` (shifted by `offset`) that contains `now`, and the
/// start of the next one, in Unix milliseconds.
pub fn slot_of(now_ms: i64, every: Duration, offset_ms: i64) -> (i64, i64) {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let offset = offset_ms.rem_euclid(every_ms);
    let start = (now_ms - offset).div_euclid(every_ms) * every_ms + offset;
    (start, start + every_ms)
}

/// The spread of an address's slots over an interval: a hash, so it is the same on every
/// replica and at every start.
pub fn offset_ms(address: &str, kind: Kind, every: Duration) -> i64 {
    let digest = Sha256::digest(format!("{}:{address}", kind.as_str()).as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
    i64::try_from(u64::from_be_bytes(head) % every_ms).unwrap_or(0)
}

fn slot_name(start_ms: i64) -> String {
    Timestamp::from_millisecond(start_ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| start_ms.to_string())
}

/// Decides what is due at `now_ms`. `states` is the store's schedule memory by
/// (environment address, kind); `commit` is the commit in force, checked once.
pub fn reconcile(
    envs: &[Schedulable],
    states: &HashMap<(String, String), ScheduleState>,
    commit: Option<&str>,
    now_ms: i64,
    max_wait: Duration,
) -> Reconcile {
    let mut out = Reconcile {
        enqueue: Vec::new(),
        requeue_after: max_wait,
    };
    let mut next_ms = now_ms + i64::try_from(max_wait.as_millis()).unwrap_or(i64::MAX);
    let state = |address: &str, kind: &str| states.get(&(address.to_string(), kind.to_string()));
    for env in envs {
        // Drills and prunes wait for a first good backup: there is nothing to drill or
        // prune before one, and a drill failing for want of a snapshot is no evidence.
        let backed_up =
            state(&env.address, Kind::Backup.as_str()).is_some_and(|s| s.last_success_at.is_some());
        for (kind, every) in [
            (Kind::Backup, env.backup_every),
            (Kind::Drill, env.drill_every),
            (Kind::Prune, PRUNE_EVERY),
        ] {
            if kind != Kind::Backup && !backed_up {
                continue;
            }
            let (start, next) = slot_of(now_ms, every, offset_ms(&env.address, kind, every));
            next_ms = next_ms.min(next);
            let slot = slot_name(start);
            let done = state(&env.address, kind.as_str())
                .and_then(|s| s.last_slot.as_deref())
                .is_some_and(|last| last == slot);
            if !done {
                out.enqueue.push(NewRun::scheduled(
                    kind.as_str(),
                    Some(&env.address),
                    slot,
                    SCHEDULER_ACTOR,
                ));
            }
        }
    }
    if let Some(commit) = commit {
        let checked = state("", "check")
            .and_then(|s| s.last_slot.as_deref())
            .is_some_and(|last| last == commit);
        if !checked {
            out.enqueue
                .push(NewRun::scheduled("check", None, commit, SCHEDULER_ACTOR));
        }
    }
    let wait_ms = (next_ms - now_ms).max(1000);
    out.requeue_after = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1000)).min(max_wait);
    out
}

/// Whether the server's filters let `env` be scheduled.
fn selected(shared: &Shared, env: &ResolvedEnvironment) -> bool {
    let c = &shared.config;
    c.schedule_cluster
        .as_deref()
        .is_none_or(|cl| cl == env.cluster)
        && (c.schedule_only.is_empty() || c.schedule_only.contains(&env.address()))
}

/// The loop: win or keep the lease, reconcile, sleep until the next slot (or a poll).
pub async fn run(shared: Arc<Shared>) {
    let mut lease = None;
    loop {
        if shared.is_stopping() {
            break;
        }
        if lease.is_none() {
            match shared
                .store
                .try_lead(ELECTION, &shared.config.replica)
                .await
            {
                Ok(Some(won)) => {
                    tracing::info!(term = won.term(), "this replica leads the scheduler");
                    lease = Some(won);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "leader election failed"),
            }
        } else if let Some(held) = lease.as_mut()
            && let Err(e) = held.check().await
        {
            tracing::warn!(error = %e, "scheduler leadership lost");
            lease = None;
        }
        shared.leading.store(lease.is_some(), Ordering::SeqCst);
        let wait = match &lease {
            Some(held) => pass(&shared, &held.fence()).await,
            None => Duration::from_secs(5),
        };
        // A follower looks again soon: the leader may be gone.
        let wait = if lease.is_some() {
            wait
        } else {
            wait.min(Duration::from_secs(5))
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.work_ready.notified() => {}
            _ = shared.stopped() => break,
        }
    }
    shared.leading.store(false, Ordering::SeqCst);
    if let Some(held) = lease {
        let _ = held.release().await;
    }
}

/// One reconcile pass as the leader; returns when to look again.
async fn pass(shared: &Shared, fence: &ward_store::Fence) -> Duration {
    let max_wait = shared.config.poll_interval.max(Duration::from_secs(5));
    match shared.store.requeue_expired(MAX_ATTEMPTS).await {
        Ok(requeued) if !requeued.is_empty() => {
            tracing::warn!(runs = ?requeued.iter().map(|r| r.run_id).collect::<Vec<_>>(), "requeued runs whose lease expired");
            shared.work_ready.notify_waiters();
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot requeue expired runs"),
    }
    let Some(current) = shared.current() else {
        return Duration::from_secs(2);
    };
    let envs: Vec<Schedulable> = current
        .estate
        .environments
        .iter()
        .filter(|e| selected(shared, e))
        .map(Schedulable::of)
        .collect();
    let states: HashMap<(String, String), ScheduleState> =
        match shared.store.schedule_states().await {
            Ok(list) => list
                .into_iter()
                .map(|s| {
                    (
                        (s.environment.clone().unwrap_or_default(), s.kind.clone()),
                        s,
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the schedule");
                return Duration::from_secs(5);
            }
        };
    let now = Timestamp::now().as_millisecond();
    let decision = reconcile(&envs, &states, Some(&current.commit), now, max_wait);
    let mut enqueued = 0;
    for run in decision.enqueue {
        match shared.store.enqueue_scheduled(fence, run).await {
            Ok(e) if e.created() => enqueued += 1,
            Ok(_) => {}
            Err(ward_store::StoreError::Fenced { .. }) => {
                tracing::warn!("a newer scheduler term exists; this replica stops scheduling");
                return Duration::from_secs(1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot enqueue a scheduled run");
                break;
            }
        }
    }
    if enqueued > 0 {
        tracing::info!(enqueued, "scheduled runs enqueued");
        shared.work_ready.notify_waiters();
    }
    decision.requeue_after
}

#[cfg(test)]
mod tests {
    //! The schedule on a simulated calendar: the store's memory is played by a map that
    //! records what each pass enqueued, and backups are taken to succeed when enqueued.
    use super::*;

    const HOUR: i64 = 3_600_000;

    struct Calendar {
        states: HashMap<(String, String), ScheduleState>,
        enqueued: Vec<NewRun>,
    }

    impl Calendar {
        fn new() -> Calendar {
            Calendar {
                states: HashMap::new(),
                enqueued: Vec::new(),
            }
        }

        /// One reconcile pass at `now`, applied as the store would.
        fn pass(&mut self, envs: &[Schedulable], commit: &str, now: i64) -> Duration {
            let r = reconcile(
                envs,
                &self.states,
                Some(commit),
                now,
                Duration::from_secs(3600),
            );
            for run in r.enqueue {
                let key = (
                    run.environment.clone().unwrap_or_default(),
                    run.kind.clone(),
                );
                let state = self.states.entry(key).or_insert_with(|| ScheduleState {
                    environment: run.environment.clone(),
                    kind: run.kind.clone(),
                    last_slot: None,
                    last_enqueued_at: None,
                    last_success_at: None,
                    last_failure_at: None,
                    term: Some(1),
                });
                assert_ne!(state.last_slot, run.slot, "a slot is enqueued once");
                state.last_slot = run.slot.clone();
                state.last_success_at = Timestamp::from_millisecond(now).ok();
                self.enqueued.push(run);
            }
            r.requeue_after
        }

        fn count(&self, kind: &str) -> usize {
            self.enqueued.iter().filter(|r| r.kind == kind).count()
        }
    }

    fn env(address: &str, backup_hours: u64, drill_days: u64) -> Schedulable {
        Schedulable {
            address: address.to_string(),
            backup_every: Duration::from_secs(backup_hours * 3600),
            drill_every: Duration::from_secs(drill_days * 86400),
        }
    }

    #[test]
    fn slots_cover_time_without_gaps_or_overlaps() {
        let every = Duration::from_secs(3600);
        for offset in [0, 1, 1_799_999, 3_599_999] {
            let mut now = 1_700_000_000_000;
            let (mut start, mut next) = slot_of(now, every, offset);
            for _ in 0..100 {
                assert!(start <= now && now < next, "{start} <= {now} < {next}");
                now = next;
                let (s, n) = slot_of(now, every, offset);
                assert_eq!(s, next, "the next slot starts where the last ended");
                (start, next) = (s, n);
            }
        }
    }

    #[test]
    fn a_simulated_week_backs_up_at_the_interval_and_drills_after_a_backup() {
        let envs = [env("billing/prod", 6, 7), env("portal/staging", 24, 30)];
        let mut cal = Calendar::new();
        let start = 1_764_547_200_000; // 2025-12-01T00:00Z
        let mut now = start;
        // Ticks every 10 minutes for a week, as a server that wakes often would.
        while now < start + 7 * 24 * HOUR {
            cal.pass(&envs, "c1", now);
            now += HOUR / 6;
        }
        let backups = |a: &str| {
            cal.enqueued
                .iter()
                .filter(|r| r.kind == "backup" && r.environment.as_deref() == Some(a))
                .count()
        };
        // A 6-hour interval over 7 days: 28 slots, give or take the partial slot at each end.
        assert!(
            (28..=29).contains(&backups("billing/prod")),
            "{}",
            backups("billing/prod")
        );
        assert!(
            (7..=8).contains(&backups("portal/staging")),
            "{}",
            backups("portal/staging")
        );
        // Drills every 7 and 30 days: one or two for prod in a week, at most one for staging.
        let drills = cal.count("drill");
        assert!((2..=4).contains(&drills), "{drills}");
        // Daily prune per environment.
        assert!(
            (14..=16).contains(&cal.count("prune")),
            "{}",
            cal.count("prune")
        );
        // The commit is checked once.
        assert_eq!(cal.count("check"), 1);
    }

    #[test]
    fn missed_slots_are_caught_up_once() {
        let envs = [env("billing/prod", 1, 7)];
        let mut cal = Calendar::new();
        let start = 1_764_547_200_000;
        cal.pass(&envs, "c1", start);
        let before = cal.count("backup");
        // The server was down for three days: 72 hourly slots went by.
        cal.pass(&envs, "c1", start + 72 * HOUR);
        assert_eq!(
            cal.count("backup"),
            before + 1,
            "one catch-up, not one per slot"
        );
        // And again in the same slot: nothing more.
        cal.pass(&envs, "c1", start + 72 * HOUR + 60_000);
        assert_eq!(cal.count("backup"), before + 1);
    }

    #[test]
    fn nothing_but_backups_before_a_first_backup_succeeded() {
        let envs = [env("billing/prod", 6, 7)];
        let states = HashMap::new();
        let r = reconcile(
            &envs,
            &states,
            None,
            1_764_547_200_000,
            Duration::from_secs(60),
        );
        let kinds: Vec<&str> = r.enqueue.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["backup"]);
    }

    #[test]
    fn the_next_look_is_at_the_next_slot_or_the_poll() {
        let envs = [env("billing/prod", 1, 7)];
        let mut cal = Calendar::new();
        let now = 1_764_547_200_000;
        let wait = cal.pass(&envs, "c1", now);
        let (_, next) = slot_of(
            now,
            Duration::from_secs(3600),
            offset_ms("billing/prod", Kind::Backup, Duration::from_secs(3600)),
        );
        let expected = Duration::from_millis(u64::try_from(next - now).expect("positive"));
        assert!(
            wait <= expected.max(Duration::from_secs(1)),
            "{wait:?} vs {expected:?}"
        );
        assert!(wait <= Duration::from_secs(3600));
    }

    #[test]
    fn environments_are_spread_over_the_interval() {
        let every = Duration::from_secs(24 * 3600);
        let offsets: std::collections::BTreeSet<i64> = (0..200)
            .map(|i| offset_ms(&format!("w{i}/prod"), Kind::Backup, every) / 3_600_000)
            .collect();
        // 200 environments land in most of the day's 24 hours, not all at midnight.
        assert!(offsets.len() >= 20, "{offsets:?}");
    }
}
