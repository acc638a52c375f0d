//! `ward serve` doing the vault's work by itself: a scheduled backup of a real Odoo-shaped
//! database on a throwaway PostgreSQL, its run, logs, ledger entry and metrics in the API,
//! a clean stop on SIGTERM; and two replicas on a PostgreSQL store, the leader killed in the
//! middle of a backup, the other taking over.

mod server_support;
mod vault_support;

use std::time::{Duration, Instant};

use server_support::{Server, get, token};
use vault_support::World;
use ward_vault::fixture::OdooFixture;

fn runs(port: u16, token: &str, query: &str) -> Vec<serde_json::Value> {
    get(port, &format!("/api/v1/runs?{query}"), Some(token)).json()["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_scheduled_backup_happens_by_itself_and_shows_in_the_api_the_ledger_and_metrics() {
    let w = World::new(OdooFixture {
        attachments: 20,
        ..OdooFixture::default()
    });
    w.schedulable();
    let ward = |args: &[&str]| w.ward(args);
    let dba = token(ward, "bob", "dba");
    let security = token(ward, "carol", "security-reviewer");
    let mut serve = w.command(&[
        "serve",
        "--schedule-only",
        "billing/prod",
        "--workers",
        "1",
        "--poll-interval",
        "2s",
    ]);
    serve.env_remove("WARD_STORE");
    let mut server = Server::start(serve, &w.tmp.path().join("serve.log"));
    server.ready();

    server.wait_for(
        Duration::from_secs(180),
        "a scheduled backup to succeed",
        |s| {
            runs(s.port, &dba, "kind=backup&environment=billing/prod")
                .iter()
                .any(|r| r["state"] == "succeeded")
        },
    );
    let run = runs(
        server.port,
        &dba,
        "kind=backup&environment=billing/prod&state=succeeded",
    )
    .into_iter()
    .next()
    .expect("the run");
    assert_eq!(run["trigger"], "scheduled", "{run}");
    assert_eq!(run["requestedBy"], "ward-scheduler");
    let snapshot = run["result"]["snapshot"]["id"]
        .as_str()
        .expect("snapshot id")
        .to_string();
    let seq = run["ledgerSeq"].as_u64().expect("ledger seq");
    let logs = get(
        server.port,
        &format!("/api/v1/runs/{}/logs", run["id"]),
        Some(&dba),
    )
    .json();
    assert!(
        logs["lines"].as_array().is_some_and(|l| l.len() >= 2),
        "{logs}"
    );
    assert!(logs["commit"].is_string());

    // The snapshot is in the vault and verifies against the pinned keys.
    let listed = get(
        server.port,
        "/api/v1/snapshots?environment=billing/prod",
        Some(&dba),
    )
    .json();
    let found = listed["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .find(|s| s["id"] == snapshot.as_str())
        .cloned()
        .expect("the snapshot is listed");
    assert_eq!(found["verified"], true, "{found}");

    // The ledger has the backup under the scheduler's name, at the run's seq.
    let page = get(
        server.port,
        &format!("/api/v1/ledger?from={seq}&limit=1"),
        Some(&security),
    )
    .json();
    let entry = &page["entries"][0];
    assert_eq!(entry["action"], "backup.run", "{page}");
    assert_eq!(entry["actor"], "ward-scheduler");
    assert_eq!(entry["result"], "ok");

    // The backup's series, for the rendered backup-age alert.
    let metrics = get(server.port, "/metrics", None).body;
    assert!(
        metrics
            .contains("ward_backup_last_success_timestamp_seconds{environment=\"billing/prod\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("ward_backup_last_dump_bytes{environment=\"billing/prod\"}"));

    // A manual verify through the API goes through the same queue.
    let asked = server_support::post(
        server.port,
        "/api/v1/snapshots/verify",
        Some(&dba),
        &serde_json::json!({"snapshot": snapshot}),
    );
    assert_eq!(asked.status, 202, "{}", asked.body);
    let id = asked.json()["run"]["id"].as_i64().expect("id");
    server.wait_for(Duration::from_secs(60), "the verify run", |s| {
        get(s.port, &format!("/api/v1/runs/{id}"), Some(&dba)).json()["run"]["state"] == "succeeded"
    });

    assert_eq!(
        server.terminate(Duration::from_secs(60)),
        0,
        "{}",
        server.log_text()
    );
    let log = server.log_text();
    assert!(
        !log.contains(w.cluster.password()),
        "the database password leaked into the log"
    );
    let (code, out, err) = w.ward(&["audit", "verify", "--store"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Two replicas on one PostgreSQL store. The leader is killed (SIGKILL) while it runs a
/// backup; the other takes the lead within 30 s, the interrupted run is retried once its
/// lease expires and succeeds, no snapshot is half-written, no run is lost or run twice at
/// once, and the ledger verifies.
#[test]
fn a_killed_leader_mid_backup_is_taken_over_and_the_run_retried() {
    let w = World::new(OdooFixture {
        // Big enough that a backup takes seconds: the kill lands in the middle of it.
        partners: 100_000,
        attachments: 800,
        max_blob_bytes: 256 * 1024,
        ..OdooFixture::default()
    });
    w.schedulable();
    w.cluster
        .psql("CREATE DATABASE ward_store")
        .expect("store db");
    let store = w.cluster.url_for("ward_store");
    let ward = |args: &[&str]| {
        let mut c = w.command(args);
        c.env("WARD_STORE", &store);
        vault_support::run(&mut c)
    };
    let dba = token(ward, "bob", "dba");
    let replica = |name: &str| {
        let mut c = w.command(&[
            "serve",
            "--schedule-only",
            "billing/prod",
            "--workers",
            "1",
            "--poll-interval",
            "1s",
            "--lease",
            "4s",
            "--replica",
            name,
            "--cache-dir",
        ]);
        c.arg(w.tmp.path().join(format!("cache-{name}")));
        c.env("WARD_STORE", &store);
        Server::start(c, &w.tmp.path().join(format!("{name}.log")))
    };
    let mut a = replica("a");
    a.ready();
    // The first replica leads and starts the scheduled backup.
    a.wait_for(Duration::from_secs(60), "a running backup", |s| {
        runs(s.port, &dba, "kind=backup&state=running")
            .iter()
            .any(|r| r["worker"].as_str().is_some_and(|w| w.starts_with("a/")))
    });
    let b = replica("b");
    b.ready();
    let leader = get(b.port, "/api/v1/schedule", Some(&dba)).json();
    assert_eq!(leader["leaderName"], "a", "{leader}");
    let killed_at = Instant::now();
    a.kill();

    // b leads within 30 s.
    b.wait_for(Duration::from_secs(30), "b to lead", |s| {
        get(s.port, "/api/v1/schedule", Some(&dba)).json()["leader"] == true
    });
    assert!(killed_at.elapsed() < Duration::from_secs(30));
    // The interrupted run is retried (attempt 2) and succeeds.
    b.wait_for(Duration::from_secs(240), "the retried backup", |s| {
        runs(s.port, &dba, "kind=backup&environment=billing/prod")
            .iter()
            .any(|r| r["state"] == "succeeded" && r["attempt"].as_u64() >= Some(2))
    });
    let all = runs(
        b.port,
        &dba,
        "kind=backup&environment=billing/prod&limit=100",
    );
    assert_eq!(
        all.len(),
        1,
        "one scheduled slot, one run, never a second: {all:?}"
    );
    // Every snapshot in the vault is complete and verifies.
    let listed = get(
        b.port,
        "/api/v1/snapshots?environment=billing/prod",
        Some(&dba),
    )
    .json();
    let snapshots = listed["snapshots"].as_array().expect("snapshots");
    assert_eq!(snapshots.len(), 1, "{listed}");
    assert!(snapshots.iter().all(|s| s["verified"] == true), "{listed}");
    let (code, out, err) = ward(&["audit", "verify", "--store", &store]);
    assert_eq!(code, 0, "{out}{err}");
    drop(b);
}
