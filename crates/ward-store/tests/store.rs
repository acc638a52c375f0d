//! The store against real databases, each case once on SQLite and once on PostgreSQL:
//! migrations, the run queue (slots, claims, leases, hand back), leader election and
//! fencing, API tokens, logins and sessions, and the estate commits cache.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::Fixture;
use ward_store::{
    ClaimedRun, CommitRecord, CommitStatus, LogLevel, NewRun, NewToken, Role, RunFilter,
    RunOutcome, RunState, SCHEMA_VERSION, Store, StoreError, TokenRejection, Trigger,
};

cases!(
    migrations_run_once_and_a_newer_schema_is_refused,
    enqueue_is_idempotent_per_slot,
    concurrent_claimers_never_share_a_run,
    an_expired_lease_is_requeued_and_its_old_owner_refused,
    runs_fail_after_too_many_interrupted_attempts,
    a_stopping_worker_hands_back_what_it_has_not_started,
    runs_are_listed_logged_and_counted,
    leadership_is_exclusive_and_a_deposed_leader_is_fenced,
    tokens_store_only_a_hash_and_refuse_expired_and_revoked,
    the_commit_cache_keeps_evaluations,
    results_latest_runs_and_cancelling_a_running_run,
    logins_are_taken_once_and_sessions_keep_only_a_hash,
);

async fn migrations_run_once_and_a_newer_schema_is_refused(fx: &Fixture) {
    // Two replicas opening at once: one migrates, the other finds nothing to do.
    let (a, b) = tokio::join!(Store::open(&fx.url), Store::open(&fx.url));
    let (a, b) = (a.expect("first open"), b.expect("second open"));
    assert_eq!(a.schema_version().await.expect("version"), SCHEMA_VERSION);
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM ward_schema").await,
        SCHEMA_VERSION
    );
    a.close().await;
    b.close().await;
    // Opening again changes nothing.
    fx.open().await.close().await;
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM ward_schema").await,
        SCHEMA_VERSION
    );

    // A newer ward migrated this database: refused, naming both versions.
    fx.raw(
        "INSERT INTO ward_schema (version, description, ward_version, applied_ms) \
         VALUES (999, 'from the future', '9.9.9', 0)",
    )
    .await;
    let err = Store::open(&fx.url).await.expect_err("must refuse");
    match &err {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => assert_eq!((*found, *supported), (999, SCHEMA_VERSION)),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("upgrade ward to at least 9.9.9"),
        "{message}"
    );
    assert!(message.contains("--store"), "{message}");
}

async fn enqueue_is_idempotent_per_slot(fx: &Fixture) {
    let store = fx.open().await;
    let mut lead = store
        .try_lead("scheduler", "replica-a")
        .await
        .expect("lead")
        .expect("wins");
    lead.check().await.expect("holds");
    let fence = lead.fence();
    let slot = "2026-11-26T02:00Z";
    let env = Some("st-marys/billing/prod");

    let first = store
        .enqueue_scheduled(&fence, NewRun::scheduled("backup", env, slot, "scheduler"))
        .await
        .expect("enqueue");
    assert!(first.created());
    let again = store
        .enqueue_scheduled(&fence, NewRun::scheduled("backup", env, slot, "scheduler"))
        .await
        .expect("enqueue again");
    assert!(!again.created());
    assert_eq!(again.run().id, first.run().id);
    // Also through the unfenced enqueue: the slot is the guard.
    let manual = store
        .enqueue(NewRun::manual("backup", env, "alice").slot(slot))
        .await
        .expect("enqueue");
    assert_eq!(manual.run().id, first.run().id);

    // Another environment, another kind, another slot: new runs.
    for new in [
        NewRun::scheduled("backup", Some("st-marys/billing/test"), slot, "scheduler"),
        NewRun::scheduled("drill", env, slot, "scheduler"),
        NewRun::scheduled("backup", env, "2026-11-27T02:00Z", "scheduler"),
        NewRun::scheduled("gc", None, slot, "scheduler"),
    ] {
        assert!(
            store
                .enqueue_scheduled(&fence, new)
                .await
                .expect("enqueue")
                .created()
        );
    }
    // An estate-wide slot is unique too.
    let gc = store
        .enqueue_scheduled(&fence, NewRun::scheduled("gc", None, slot, "scheduler"))
        .await
        .expect("enqueue");
    assert!(!gc.created());
    // Runs without a slot are always new.
    let m1 = store
        .enqueue(NewRun::manual("check", None, "bob"))
        .await
        .expect("enqueue");
    let m2 = store
        .enqueue(NewRun::manual("check", None, "bob"))
        .await
        .expect("enqueue");
    assert!(m1.created() && m2.created());
    assert_ne!(m1.run().id, m2.run().id);

    let run = first.run();
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.trigger, Trigger::Scheduled);
    assert_eq!(run.environment.as_deref(), env);
    assert_eq!(run.slot.as_deref(), Some(slot));
    assert_eq!(run.attempt, 0);

    let state = store
        .schedule_state(env, "backup")
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(state.last_slot.as_deref(), Some("2026-11-27T02:00Z"));
    assert_eq!(state.term, Some(fence.term()));
    assert!(state.last_enqueued_at.is_some());
    assert_eq!(
        store.schedule_states().await.expect("states").len(),
        4,
        "backup×2 environments, drill, gc"
    );
}

async fn concurrent_claimers_never_share_a_run(fx: &Fixture) {
    let store = fx.open().await;
    let runs = 40;
    for i in 0..runs {
        store
            .enqueue(NewRun::manual(
                "backup",
                Some(&format!("t/a/e{i}")),
                "alice",
            ))
            .await
            .expect("enqueue");
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(claimed) = store
                .claim(&format!("worker-{w}"), Duration::from_secs(60))
                .await
                .expect("claim")
            {
                assert_eq!(claimed.lease.owner, format!("worker-{w}"));
                mine.push(claimed.run.id);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), runs, "every run claimed exactly once");
    assert_eq!(unique.len(), runs, "no run claimed twice");
    assert!(
        store
            .claim("late", Duration::from_secs(1))
            .await
            .expect("claim")
            .is_none()
    );
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!((stats.queued, stats.leased), (0, runs as u64));
}

async fn an_expired_lease_is_requeued_and_its_old_owner_refused(fx: &Fixture) {
    let store = fx.open().await;
    let id = store
        .enqueue(NewRun::manual("drill", Some("t/a/prod"), "alice"))
        .await
        .expect("enqueue")
        .run()
        .id;
    let first = store
        .claim("w1", Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("a run");
    assert_eq!((first.run.id, first.run.attempt), (id, 1));
    store.start(&first.lease).await.expect("start");
    store
        .append_log(&first.lease, LogLevel::Info, "restoring")
        .await
        .expect("log");
    // Not yet expired: nothing to requeue.
    assert!(store.requeue_expired(3).await.expect("requeue").is_empty());
    // The worker's last heartbeat gives it 1 ms more, then it hangs.
    let first_lease = store
        .heartbeat(&first.lease, Duration::from_millis(1))
        .await
        .expect("heartbeat");
    assert_eq!(first_lease.epoch, first.lease.epoch);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let requeued = store.requeue_expired(3).await.expect("requeue");
    assert_eq!(requeued.len(), 1);
    assert_eq!(
        (requeued[0].run_id, requeued[0].state, requeued[0].attempt),
        (id, RunState::Queued, 1)
    );
    let run = store.get_run(id).await.expect("get").expect("exists");
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.lease_owner, None);

    // The interrupted worker comes back: every write of its is refused.
    let lost = |r: Result<_, StoreError>| match r {
        Err(StoreError::LeaseLost { run_id, .. }) => assert_eq!(run_id, id),
        Err(other) => panic!("expected LeaseLost, got {other:?}"),
        Ok(_) => panic!("expected LeaseLost, got Ok"),
    };
    lost(
        store
            .finish(&first.lease, RunOutcome::Succeeded, None)
            .await
            .map(drop),
    );
    lost(
        store
            .heartbeat(&first.lease, Duration::from_secs(60))
            .await
            .map(drop),
    );

    // Claimed again (by another worker, or even the same one): attempt 2, new epoch.
    let second = store
        .claim("w1", Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("the run again");
    assert_eq!((second.run.id, second.run.attempt), (id, 2));
    assert!(second.lease.epoch > first.lease.epoch);
    lost(store.start(&first.lease).await.map(drop));
    lost(store.append_log(&first.lease, LogLevel::Warn, "late").await);
    let renewed = store
        .heartbeat(&second.lease, Duration::from_secs(120))
        .await
        .expect("heartbeat");
    assert!(renewed.expires_at > second.lease.expires_at);
    store.start(&second.lease).await.expect("start");
    let done = store
        .finish(&second.lease, RunOutcome::Succeeded, Some(7))
        .await
        .expect("finish");
    assert_eq!(done.state, RunState::Succeeded);
    assert_eq!(done.ledger_seq, Some(7));
    assert!(done.finished_at.is_some() && done.started_at.is_some());
    lost(
        store
            .finish(&second.lease, RunOutcome::Succeeded, None)
            .await
            .map(drop),
    );
    let state = store
        .schedule_state(Some("t/a/prod"), "drill")
        .await
        .expect("state")
        .expect("recorded");
    assert!(state.last_success_at.is_some());
    let logs = store.run_logs(id, None, 100).await.expect("logs");
    assert_eq!(logs.len(), 1, "the refused log line was not written");
}

async fn runs_fail_after_too_many_interrupted_attempts(fx: &Fixture) {
    let store = fx.open().await;
    let id = store
        .enqueue(NewRun::manual("backup", Some("t/a/prod"), "alice"))
        .await
        .expect("enqueue")
        .run()
        .id;
    for attempt in 1..=2 {
        let claimed = store
            .claim("w", Duration::from_millis(20))
            .await
            .expect("claim")
            .expect("the run");
        assert_eq!(claimed.run.attempt, attempt);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let requeued = store.requeue_expired(2).await.expect("requeue");
        let want = if attempt < 2 {
            RunState::Queued
        } else {
            RunState::Failed
        };
        assert_eq!(requeued.len(), 1);
        assert_eq!(requeued[0].state, want);
    }
    let run = store.get_run(id).await.expect("get").expect("exists");
    assert_eq!(run.state, RunState::Failed);
    let reason = run.reason.expect("a reason");
    assert!(
        reason.contains("lease expired") && reason.contains("2 times"),
        "{reason}"
    );
    assert!(
        store
            .claim("w", Duration::from_secs(1))
            .await
            .expect("claim")
            .is_none()
    );
}

async fn a_stopping_worker_hands_back_what_it_has_not_started(fx: &Fixture) {
    let store = fx.open().await;
    for i in 0..3 {
        store
            .enqueue(NewRun::manual("prune", Some(&format!("t/a/e{i}")), "alice"))
            .await
            .expect("enqueue");
    }
    let lease = Duration::from_secs(60);
    let a = store.claim("w1", lease).await.expect("claim").expect("run");
    let b = store.claim("w1", lease).await.expect("claim").expect("run");
    let c = store.claim("w2", lease).await.expect("claim").expect("run");
    store.start(&a.lease).await.expect("start");

    let handed = store.hand_back("w1").await.expect("hand back");
    assert_eq!(handed, vec![b.run.id]);
    let b_now = store.get_run(b.run.id).await.expect("get").expect("exists");
    assert_eq!((b_now.state, b_now.attempt), (RunState::Queued, 0));
    let a_now = store.get_run(a.run.id).await.expect("get").expect("exists");
    assert_eq!(a_now.state, RunState::Running);
    // The handed-back lease is void.
    assert!(matches!(
        store.start(&b.lease).await,
        Err(StoreError::LeaseLost { .. })
    ));
    // Handing back one run.
    let back = store.hand_back_run(&c.lease).await.expect("hand back one");
    assert_eq!(back.state, RunState::Queued);
    // Both are claimable again.
    let mut again = HashSet::new();
    while let Some(claimed) = store.claim("w3", lease).await.expect("claim") {
        again.insert(claimed.run.id);
    }
    assert_eq!(again, HashSet::from([b.run.id, c.run.id]));
}

async fn runs_are_listed_logged_and_counted(fx: &Fixture) {
    let store = fx.open().await;
    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    let later = store
        .enqueue(NewRun::manual("backup", Some("t/a/prod"), "alice").due(future))
        .await
        .expect("enqueue")
        .run()
        .clone();
    let now_run = store
        .enqueue(NewRun::manual("check", None, "bob").params(serde_json::json!({"strict": true})))
        .await
        .expect("enqueue")
        .run()
        .clone();
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!((stats.queued, stats.due), (2, 1));
    let oldest = stats.oldest_due.expect("a due run");
    assert_eq!(oldest, now_run.due_at);

    // Not due yet: the future run is not claimed.
    let claimed = store
        .claim("w", Duration::from_secs(60))
        .await
        .expect("claim")
        .expect("the due run");
    assert_eq!(claimed.run.id, now_run.id);
    assert_eq!(claimed.run.params, serde_json::json!({"strict": true}));
    assert!(
        store
            .claim("w", Duration::from_secs(60))
            .await
            .expect("claim")
            .is_none()
    );

    for (level, message) in [
        (LogLevel::Info, "one"),
        (LogLevel::Warn, "two"),
        (LogLevel::Error, "three"),
    ] {
        store
            .append_log(&claimed.lease, level, message)
            .await
            .expect("log");
    }
    let logs = store.run_logs(now_run.id, None, 10).await.expect("logs");
    let messages: Vec<_> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["one", "two", "three"]);
    assert_eq!(logs[1].level, LogLevel::Warn);
    let rest = store
        .run_logs(now_run.id, Some(logs[0].id), 10)
        .await
        .expect("logs");
    assert_eq!(rest.len(), 2);
    store
        .finish(
            &claimed.lease,
            RunOutcome::Failed {
                reason: "findings".into(),
            },
            None,
        )
        .await
        .expect("finish");

    let all = store.list_runs(&RunFilter::default()).await.expect("list");
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [now_run.id, later.id]
    );
    let failed = store
        .list_runs(&RunFilter {
            state: Some(RunState::Failed),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason.as_deref(), Some("findings"));
    let by_env = store
        .list_runs(&RunFilter {
            environment: Some("t/a/prod".into()),
            kind: Some("backup".into()),
            limit: Some(5),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(by_env.len(), 1);
    assert_eq!(by_env[0].id, later.id);
    let page = store
        .list_runs(&RunFilter {
            before_id: Some(now_run.id),
            ..RunFilter::default()
        })
        .await
        .expect("list");
    assert_eq!(page.len(), 1);

    // Cancel: only before it runs.
    let cancelled = store.cancel(later.id, "not needed").await.expect("cancel");
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert!(matches!(
        store.cancel(now_run.id, "too late").await,
        Err(StoreError::NotCancellable { .. })
    ));
    assert!(matches!(
        store.cancel(9999, "x").await,
        Err(StoreError::RunNotFound { id: 9999 })
    ));
    store.set_run_ledger_seq(now_run.id, 3).await.expect("seq");
    assert_eq!(
        store
            .get_run(now_run.id)
            .await
            .expect("get")
            .expect("exists")
            .ledger_seq,
        Some(3)
    );
    let stats = store.queue_stats().await.expect("stats");
    assert_eq!(stats, ward_store::QueueStats::default());
}

async fn leadership_is_exclusive_and_a_deposed_leader_is_fenced(fx: &Fixture) {
    // Two replicas, each with its own store handle.
    let a = fx.open().await;
    let b = fx.open().await;
    let new_run = |slot: &str| NewRun::scheduled("backup", Some("t/a/prod"), slot, "scheduler");

    let (first, stale_fence) = if fx.is_postgres() {
        let (la, lb) = tokio::join!(a.try_lead("scheduler", "a"), b.try_lead("scheduler", "b"));
        let (la, lb) = (la.expect("try a"), lb.expect("try b"));
        assert!(
            la.is_some() != lb.is_some(),
            "exactly one replica wins: {la:?} {lb:?}"
        );
        let (mut winner, loser_store) = match (la, lb) {
            (Some(l), None) => (l, b.clone()),
            (None, Some(l)) => (l, a.clone()),
            _ => unreachable!(),
        };
        assert_eq!(winner.term(), 1);
        winner.check().await.expect("still leads");
        // While it leads, the other cannot.
        assert!(
            loser_store
                .try_lead("scheduler", "c")
                .await
                .expect("try")
                .is_none()
        );
        let fence = winner.fence();
        a.enqueue_scheduled(&fence, new_run("s1"))
            .await
            .expect("the leader writes");

        // The leader's connection drops (network, server restart): the lock is gone.
        let killed = fx
            .cluster()
            .psql(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'ward-leader:scheduler'",
            )
            .expect("terminate");
        assert_eq!(killed, "1");
        let err = winner.check().await.expect_err("lost");
        assert!(matches!(err, StoreError::LeadershipLost { .. }), "{err}");
        assert!(!winner.is_held().await);

        // The other replica wins the next term.
        let mut next = loser_store
            .try_lead("scheduler", "b")
            .await
            .expect("try")
            .expect("wins now");
        assert_eq!(next.term(), 2);
        next.check().await.expect("leads");
        (next, fence)
    } else {
        let mut la = a
            .try_lead("scheduler", "a")
            .await
            .expect("try")
            .expect("SQLite: always wins");
        la.check().await.expect("leads");
        let fence = la.fence();
        a.enqueue_scheduled(&fence, new_run("s1"))
            .await
            .expect("the leader writes");
        // A second process on the same file takes over: the first is deposed.
        let mut lb = b
            .try_lead("scheduler", "b")
            .await
            .expect("try")
            .expect("wins");
        assert_eq!(lb.term(), la.term() + 1);
        assert!(matches!(
            la.check().await,
            Err(StoreError::LeadershipLost { .. })
        ));
        lb.check().await.expect("leads");
        (lb, fence)
    };

    // The deposed leader's late writes are refused, whichever store handle carries them.
    for store in [&a, &b] {
        match store.enqueue_scheduled(&stale_fence, new_run("s2")).await {
            Err(StoreError::Fenced { term, current, .. }) => {
                assert_eq!((term, current), (stale_fence.term(), Some(first.term())));
            }
            other => panic!("expected Fenced, got {other:?}"),
        }
        assert!(matches!(
            store
                .set_schedule_slot(&stale_fence, Some("t/a/prod"), "backup", "s2")
                .await,
            Err(StoreError::Fenced { .. })
        ));
    }
    assert_eq!(
        store_runs(&a).await,
        1,
        "only the write under the current term landed"
    );
    b.enqueue_scheduled(&first.fence(), new_run("s2"))
        .await
        .expect("the new leader writes");
    b.set_schedule_slot(&first.fence(), Some("t/a/prod"), "backup", "s3")
        .await
        .expect("the new leader writes");
    assert_eq!(
        b.leader_term("scheduler").await.expect("term"),
        Some((first.term(), "b".to_string()))
    );
    first.release().await.expect("release");
}

async fn store_runs(store: &Store) -> usize {
    store
        .list_runs(&RunFilter::default())
        .await
        .expect("list")
        .len()
}

async fn tokens_store_only_a_hash_and_refuse_expired_and_revoked(fx: &Fixture) {
    use sha2::{Digest, Sha256};
    let store = fx.open().await;
    let in_a_day = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let issued = store
        .create_token(&NewToken {
            subject: "ci-robot".into(),
            role: Role::PlatformOps,
            expires_at: in_a_day,
            created_by: "alice".into(),
            label: "deploy pipeline".into(),
        })
        .await
        .expect("create");
    let token = issued.token().to_string();
    assert!(
        token.starts_with(&format!("ward_{}_", issued.info.id)),
        "{token}"
    );
    assert!(
        !format!("{issued:?}").contains(&token),
        "Debug hides the token"
    );
    let secret_hex = token.rsplit('_').next().expect("secret").to_string();
    let secret = hex::decode(&secret_hex).expect("hex");
    assert_eq!(secret.len(), 32);

    let who = store.authenticate(&token).await.expect("authenticates");
    assert_eq!(
        (who.subject.as_str(), who.role, who.token_id.as_str()),
        ("ci-robot", Role::PlatformOps, issued.info.id.as_str())
    );

    // The database holds the hash, never the secret.
    store.close().await;
    let bytes = fx.token_bytes().await;
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(secret_hex.as_bytes()),
        "the secret (hex) is stored"
    );
    assert!(!contains(&secret), "the secret (bytes) is stored");
    assert!(!contains(token.as_bytes()), "the token is stored");
    assert_eq!(
        fx.token_hashes().await,
        vec![Sha256::digest(&secret).to_vec()]
    );
    let store = fx.open().await;

    let rejected = |r: Result<_, StoreError>| match r {
        Err(StoreError::TokenRejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    };
    // A wrong secret for a real id, an unknown id, garbage.
    let mut wrong = token.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        rejected(store.authenticate(&wrong).await),
        TokenRejection::Unknown
    );
    let unknown = format!("ward_0000000000000000_{secret_hex}");
    assert_eq!(
        rejected(store.authenticate(&unknown).await),
        TokenRejection::Unknown
    );
    assert_eq!(
        rejected(store.authenticate("Bearer nonsense").await),
        TokenRejection::Malformed
    );

    // Expired.
    let expired = store
        .create_token(&NewToken {
            subject: "bob".into(),
            role: Role::Dba,
            expires_at: jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1),
            created_by: "alice".into(),
            label: "old".into(),
        })
        .await
        .expect("create");
    assert_eq!(
        rejected(store.authenticate(expired.token()).await),
        TokenRejection::Expired
    );

    // Revoked.
    let revoked = store
        .revoke_token(&issued.info.id, "alice")
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_by.as_deref(), Some("alice"));
    assert_eq!(
        rejected(store.authenticate(&token).await),
        TokenRejection::Revoked
    );
    assert!(matches!(
        store.revoke_token("ffffffffffffffff", "alice").await,
        Err(StoreError::TokenNotFound { .. })
    ));

    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed.len(), 2);
    let listing = format!("{listed:?}");
    assert!(!listing.contains(&secret_hex));
    assert!(
        listed
            .iter()
            .any(|t| t.id == issued.info.id && t.revoked_at.is_some())
    );
    assert!(
        listed
            .iter()
            .any(|t| t.role == Role::Dba && t.label == "old")
    );
}

async fn the_commit_cache_keeps_evaluations(fx: &Fixture) {
    let store = fx.open().await;
    let t = |s: i64| jiff::Timestamp::from_second(1_800_000_000 + s).expect("time");
    assert!(store.latest_good_commit().await.expect("latest").is_none());
    let records = [
        CommitRecord {
            commit: "aaa".into(),
            status: CommitStatus::Ok,
            evaluated_at: t(0),
            document: r#"{"findings": []}"#.into(),
        },
        CommitRecord {
            commit: "bbb".into(),
            status: CommitStatus::Ok,
            evaluated_at: t(10),
            document: r#"{"findings": [{"control": "backup-age"}]}"#.into(),
        },
        CommitRecord {
            commit: "ccc".into(),
            status: CommitStatus::Failed {
                error: "platform.yaml:3:1: unknown key".into(),
            },
            evaluated_at: t(20),
            document: "null".into(),
        },
    ];
    for record in &records {
        store.record_commit(record).await.expect("record");
    }
    assert_eq!(
        store.commit("bbb").await.expect("get").as_ref(),
        Some(&records[1])
    );
    assert_eq!(store.commit("zzz").await.expect("get"), None);
    assert_eq!(
        store.latest_good_commit().await.expect("latest").as_ref(),
        Some(&records[1])
    );
    let recent = store.recent_commits(2).await.expect("recent");
    assert_eq!(
        recent.iter().map(|r| r.commit.as_str()).collect::<Vec<_>>(),
        ["ccc", "bbb"]
    );
    assert_eq!(recent[0].status, records[2].status);
    assert!(
        recent.iter().all(|r| r.document.is_empty()),
        "a listing reads no documents"
    );

    // Re-evaluating replaces.
    let mut again = records[0].clone();
    again.evaluated_at = t(30);
    again.document = r#"{"findings": [], "v": 2}"#.into();
    store.record_commit(&again).await.expect("record");
    assert_eq!(
        store.latest_good_commit().await.expect("latest"),
        Some(again)
    );
}

/// A manual backup of `env`, enqueued, claimed by worker `w` and started.
async fn running_backup(store: &Store, env: &str, lease: Duration) -> ClaimedRun {
    store
        .enqueue(NewRun::manual("backup", Some(env), "alice"))
        .await
        .expect("enqueue");
    let c = store
        .claim("w", lease)
        .await
        .expect("claim")
        .expect("a run");
    store.start(&c.lease).await.expect("start");
    c
}

async fn results_latest_runs_and_cancelling_a_running_run(fx: &Fixture) {
    let store = fx.open().await;
    let lease = Duration::from_secs(60);
    // Two backups of one environment and one of another, each run to an end.
    let mut finished = Vec::new();
    for (env, ok) in [("a/prod", true), ("a/prod", false), ("b/prod", true)] {
        let c = running_backup(&store, env, lease).await;
        store
            .set_run_result(&c.lease, &serde_json::json!({"dump_bytes": 42}))
            .await
            .expect("result");
        let outcome = if ok {
            RunOutcome::Succeeded
        } else {
            RunOutcome::Failed {
                reason: "no".into(),
            }
        };
        finished.push(store.finish(&c.lease, outcome, None).await.expect("finish"));
        // A finished run's lease writes nothing more.
        assert!(matches!(
            store.set_run_result(&c.lease, &serde_json::json!({})).await,
            Err(StoreError::LeaseLost { .. })
        ));
    }
    assert_eq!(
        store
            .get_run(finished[0].id)
            .await
            .expect("get")
            .expect("run")
            .result,
        Some(serde_json::json!({"dump_bytes": 42}))
    );
    let succeeded = store
        .latest_runs("backup", Some(RunState::Succeeded))
        .await
        .expect("latest");
    assert_eq!(
        succeeded.iter().map(|r| r.id).collect::<Vec<_>>(),
        [finished[0].id, finished[2].id],
        "the newest succeeded run of each environment"
    );
    let ended = store.latest_runs("backup", None).await.expect("latest");
    assert_eq!(
        ended.iter().map(|r| r.id).collect::<Vec<_>>(),
        [finished[1].id, finished[2].id],
        "the newest finished run of each environment, failed or not"
    );

    // A running run asked to stop: it keeps running until its worker finishes it as
    // cancelled, which does not count as a success or a failure of the schedule.
    let c = running_backup(&store, "c/prod", lease).await;
    let asked = store
        .cancel(c.run.id, "cancelled by alice")
        .await
        .expect("cancel");
    assert_eq!(asked.state, RunState::Running);
    assert_eq!(
        asked.cancel_requested.as_deref(),
        Some("cancelled by alice")
    );
    let done = store
        .finish(
            &c.lease,
            RunOutcome::Cancelled {
                reason: "cancelled by alice".into(),
            },
            None,
        )
        .await
        .expect("finish");
    assert_eq!(done.state, RunState::Cancelled);
    let state = store
        .schedule_state(Some("c/prod"), "backup")
        .await
        .expect("state");
    assert!(state.is_none_or(|s| s.last_success_at.is_none() && s.last_failure_at.is_none()));
}

async fn logins_are_taken_once_and_sessions_keep_only_a_hash(fx: &Fixture) {
    use ward_store::{NewLogin, NewSession, SessionRejection, csrf_token};
    let store = fx.open().await;
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10);
    let login = |state: &str, expires_at| NewLogin {
        state: state.to_string(),
        nonce: "nonce-0123456789".into(),
        pkce_verifier: "verifier-0123456789abcdef0123456789abcdef0123".into(),
        next: "/api/v1/estate".into(),
        expires_at,
    };
    store
        .begin_login(&login("state-aaaaaaaaaaaaaaaa", soon))
        .await
        .expect("begin");
    assert!(matches!(
        store.begin_login(&login("short", soon)).await,
        Err(StoreError::InvalidInput(_))
    ));
    // The callback takes it once: a replayed callback finds nothing.
    let taken = store
        .take_login("state-aaaaaaaaaaaaaaaa")
        .await
        .expect("take")
        .expect("the login is there");
    assert_eq!(taken.next, "/api/v1/estate");
    assert_eq!(taken.nonce, "nonce-0123456789");
    assert!(
        !format!("{taken:?}").contains("verifier-"),
        "Debug hides the verifier"
    );
    assert!(
        store
            .take_login("state-aaaaaaaaaaaaaaaa")
            .await
            .expect("take")
            .is_none()
    );
    assert!(
        store
            .take_login("state-unknown-xxxxxxx")
            .await
            .expect("take")
            .is_none()
    );
    // An expired login is not finished.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    store
        .begin_login(&login("state-bbbbbbbbbbbbbbbb", past))
        .await
        .expect("begin");
    assert!(
        store
            .take_login("state-bbbbbbbbbbbbbbbb")
            .await
            .expect("take")
            .is_none()
    );
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM login_requests").await,
        0,
        "taken and expired logins are gone"
    );

    let in_an_hour = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let new = NewSession {
        subject: "bob".into(),
        issuer: "http://127.0.0.1:1/".into(),
        issuer_subject: "bob-sub".into(),
        email: Some("bob@care.example".into()),
        groups: vec!["care-dba".into(), "everyone".into()],
        expires_at: in_an_hour,
    };
    let issued = store.create_session(&new).await.expect("session");
    let cookie = issued.cookie().to_string();
    assert!(
        cookie.starts_with(&format!("wards_{}_", issued.info.id)),
        "{cookie}"
    );
    assert!(
        !format!("{issued:?}").contains(&cookie),
        "Debug hides the cookie"
    );
    let seen = store.session(&cookie).await.expect("the session is open");
    assert_eq!(seen, issued.info);
    assert_eq!(
        seen.groups,
        vec!["care-dba".to_string(), "everyone".to_string()]
    );
    let csrf = csrf_token(&cookie).expect("csrf");
    assert_ne!(csrf, cookie);

    let rejected = |r: Result<_, StoreError>| match r {
        Err(StoreError::SessionRejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    };
    let mut wrong = cookie.clone();
    let last = wrong.pop().expect("char");
    wrong.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        rejected(store.session(&wrong).await),
        SessionRejection::Unknown
    );
    assert_eq!(
        rejected(store.session("ward_0123456789abcdef_00").await),
        SessionRejection::Malformed
    );
    let expired = store
        .create_session(&NewSession {
            expires_at: past,
            ..new.clone()
        })
        .await
        .expect("session");
    assert_eq!(
        rejected(store.session(expired.cookie()).await),
        SessionRejection::Expired
    );
    // A logout ends it for good.
    assert!(store.end_session(&issued.info.id).await.expect("end"));
    assert!(!store.end_session(&issued.info.id).await.expect("end twice"));
    assert_eq!(
        rejected(store.session(&cookie).await),
        SessionRejection::Ended
    );

    // The database holds the hash, never the secret.
    store.close().await;
    let secret_hex = cookie.rsplit('_').next().expect("secret").to_string();
    let hashes = fx.count("SELECT COUNT(*) FROM sessions").await;
    assert_eq!(hashes, 2);
    let bytes = fx.table_bytes("sessions").await;
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(secret_hex.as_bytes()),
        "the session secret is stored"
    );
    assert!(!contains(cookie.as_bytes()), "the cookie is stored");
    assert!(!contains(csrf.as_bytes()), "the csrf token is stored");
}
