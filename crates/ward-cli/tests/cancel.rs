//! Cancelling a backup in the middle, both ways a person would: Ctrl-C on `ward backup
//! run`, and `POST /api/v1/runs/{id}/cancel` on a backup `ward serve` is running. Either
//! way no snapshot is written, the reason is said, and the next backup succeeds.

mod server_support;
mod vault_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_support::{Server, get, post, token};
use vault_support::World;
use ward_vault::fixture::OdooFixture;

/// Big enough that a backup takes seconds, so the cancel lands in the middle of it.
fn big() -> OdooFixture {
    OdooFixture {
        partners: 100_000,
        attachments: 800,
        max_blob_bytes: 256 * 1024,
        ..OdooFixture::default()
    }
}

/// The snapshots `backup list` finds for billing/prod.
fn snapshots(w: &World) -> Vec<serde_json::Value> {
    let (code, out, err) = w.ward(&["backup", "list", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    vault_support::json(&out)
        .as_array()
        .cloned()
        .expect("backup list -o json is an array")
}

#[test]
fn ctrl_c_stops_a_backup_before_it_commits_and_the_next_one_succeeds() {
    let w = World::new(big());
    let url = w.cluster.url_for("odoo");
    let mut backup = w.command(&w.backup_args(&url));
    let mut child = backup
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward backup run");
    // Into the dump: the vault writes its first objects, then the interrupt.
    let objects = w.vault();
    let start = Instant::now();
    while vault_support::files_under(&objects).len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the backup wrote nothing"
        );
        assert!(child.try_wait().expect("wait").is_none(), "it ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stderr.contains("cancelled before the snapshot was committed"),
        "{stderr}"
    );
    assert!(
        snapshots(&w).is_empty(),
        "a cancelled backup left a snapshot"
    );
    // The ledger says so, and the next backup is a whole one.
    let (_, log, _) = w.ward(&["audit", "log", "-o", "json"]);
    assert!(
        log.contains("cancelled before the snapshot was committed"),
        "{log}"
    );
    let id = w.backed_up();
    let listed = snapshots(&w);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    let (code, out, err) = w.ward(&["backup", "verify", &id]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_running_backup_cancelled_through_the_api_writes_no_snapshot() {
    let w = World::new(big());
    w.schedulable();
    let ward = |args: &[&str]| w.ward(args);
    let dba = token(ward, "bob", "dba");
    let ops = token(ward, "alice", "platform-ops");
    let mut serve = w.command(&["serve", "--scheduler", "off", "--workers", "1"]);
    serve.env_remove("WARD_STORE");
    let mut server = Server::start(serve, &w.tmp.path().join("serve.log"));
    server.ready();

    let started = post(
        server.port,
        "/api/v1/backups",
        Some(&dba),
        &serde_json::json!({"environment": "billing/prod"}),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["run"]["id"].as_i64().expect("id");
    let run = |s: &Server| get(s.port, &format!("/api/v1/runs/{id}"), Some(&dba)).json();
    server.wait_for(Duration::from_secs(60), "the backup to run", |s| {
        run(s)["run"]["state"] == "running"
    });
    // A dba may start a backup but not cancel one: that is platform-ops'.
    let refused = post(
        server.port,
        &format!("/api/v1/runs/{id}/cancel"),
        Some(&dba),
        &serde_json::json!({}),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    let asked = post(
        server.port,
        &format!("/api/v1/runs/{id}/cancel"),
        Some(&ops),
        &serde_json::json!({}),
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    server.wait_for(Duration::from_secs(60), "the run to be cancelled", |s| {
        run(s)["run"]["state"] != "running"
    });
    let done = run(&server);
    assert_eq!(done["run"]["state"], "cancelled", "{done}");
    assert!(
        done["run"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("alice")),
        "the reason names who cancelled: {done}"
    );
    let again = post(
        server.port,
        &format!("/api/v1/runs/{id}/cancel"),
        Some(&ops),
        &serde_json::json!({}),
    );
    assert_eq!(again.status, 409, "a finished run: {}", again.body);
    let listed = get(
        server.port,
        "/api/v1/snapshots?environment=billing/prod",
        Some(&dba),
    )
    .json();
    assert_eq!(
        listed["snapshots"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    // The next backup through the same queue succeeds.
    let next = post(
        server.port,
        "/api/v1/backups",
        Some(&dba),
        &serde_json::json!({"environment": "billing/prod"}),
    );
    let next = next.json()["run"]["id"].as_i64().expect("id");
    server.wait_for(Duration::from_secs(180), "the next backup", |s| {
        let state =
            get(s.port, &format!("/api/v1/runs/{next}"), Some(&dba)).json()["run"]["state"].clone();
        assert_ne!(state, "failed", "{}", s.log_text());
        state == "succeeded"
    });
    assert_eq!(server.terminate(Duration::from_secs(60)), 0);
    let (code, out, err) = w.ward(&["audit", "verify", "--store"]);
    assert_eq!(code, 0, "{out}{err}");
}
