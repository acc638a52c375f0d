//! SIGKILL a backup process at random points, at least 20 times: no committed snapshot is
//! ever incomplete, the next backup succeeds, and prune + GC never delete a referenced blob.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{World, progress};
use ward_vault::fixture::{OdooFixture, Xorshift};
use ward_vault::{
    ListedSnapshot, Retention, SnapshotFilter, VerifyDepth, collect_garbage, list, prune, verify,
};

fn example_binary() -> std::path::PathBuf {
    // Integration tests live in target/<profile>/deps; cargo test builds examples beside it.
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("examples/vault-backup");
    if !bin.is_file() {
        // `cargo test --test crash` does not build examples; build it the same way.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "ward-vault", "--example", "vault-backup"])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the vault-backup example failed");
    }
    assert!(bin.is_file(), "{} missing", bin.display());
    bin
}

async fn check_every_committed_snapshot(w: &World, read_data: bool) -> usize {
    let repo = w.repo().await;
    let listed = list(&repo, &SnapshotFilter::default(), &w.trusted())
        .await
        .expect("list");
    let ids = w.identities();
    let mut verified = 0;
    for l in &listed {
        let m = match l {
            ListedSnapshot::Verified { manifest, .. } => manifest,
            // Killed between manifest.json and its statement: never used, never counted.
            ListedSnapshot::Unverified { unsigned: true, .. } => continue,
            ListedSnapshot::Unverified { .. } => {
                panic!("a snapshot that does not verify after a crash: {l:?}")
            }
        };
        verified += 1;
        let depth = if read_data {
            VerifyDepth::ReadData(&ids)
        } else {
            VerifyDepth::Metadata
        };
        let r = verify(&repo, &m.snapshot, &w.trusted(), depth, progress())
            .await
            .expect("verify");
        assert!(
            r.is_ok(),
            "snapshot {} incomplete: {:?}",
            m.snapshot,
            r.faults
        );
    }
    verified
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_never_leaves_an_incomplete_snapshot() {
    let w = World::new(OdooFixture {
        partners: 20_000,
        attachments: 300,
        max_blob_bytes: 96 * 1024,
        ..OdooFixture::default()
    })
    .await;
    let bin = example_binary();
    let recipients = w.recipients.to_strings().join(",");
    let command = || {
        let mut c = Command::new(&bin);
        c.env("WARD_VAULT_REPO", &w.repo_dir)
            .env("WARD_DB_URL", w.cluster.url_for("odoo"))
            .env("WARD_FILESTORE", &w.filestore)
            .env("WARD_TARGET", "st-marys/billing/prod")
            .env("WARD_RECIPIENTS", &recipients)
            .env(
                "WARD_KEY_CACHE",
                w.dir.path().join("state/keys/st-marys.key"),
            )
            .env("WARD_PG_BINDIR", w.cluster.bindir())
            .env("WARD_SIGNING_KEY", &w.signing_key)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    // One full run to learn how long a backup takes.
    let t = Instant::now();
    let out = command().output().expect("run example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full = t.elapsed();
    // Incremental runs are shorter: measure one, and aim the kills within it.
    let t = Instant::now();
    let out = command().output().expect("run example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut window = t.elapsed();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("crash test seed {seed}, full backup {full:?}");
    let mut rng = Xorshift::new(seed);
    let mut killed = 0;
    let mut round = 0u64;
    while killed < 22 && round < 80 {
        round += 1;
        // New attachments every round, so kills also land among blob uploads.
        let spec = OdooFixture {
            seed: 1000 + round,
            max_blob_bytes: 96 * 1024,
            ..OdooFixture::default()
        };
        let mut add_rng = Xorshift::new(1000 + round);
        ward_vault::fixture::add_attachments(&w.db, &w.filestore, 40, &spec, &mut add_rng)
            .await
            .expect("add");
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64 * 9 / 10 + 1));
        let started = Instant::now();
        let mut child = command().spawn().expect("spawn");
        std::thread::sleep(delay);
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        } else {
            window = started.elapsed();
        }
        let _ = child.wait();
        check_every_committed_snapshot(&w, false).await;
    }
    assert!(killed >= 20, "only {killed} runs were killed mid-way");

    // The next backup succeeds (the dead holder's lease is taken over).
    let out = command().output().expect("run example");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = check_every_committed_snapshot(&w, true).await;
    assert!(n >= 2);

    // Prune and GC (no grace) never delete a referenced blob.
    let repo = w.repo().await;
    prune(
        &repo,
        "st-marys",
        "billing",
        "prod",
        &w.trusted(),
        &Retention {
            keep_last: 2,
            ..Default::default()
        },
        false,
    )
    .await
    .expect("prune");
    let key = w.key(&repo).await;
    collect_garbage(
        &repo,
        "st-marys",
        &w.trusted(),
        Some(&key),
        Duration::ZERO,
        false,
    )
    .await
    .expect("gc");
    assert_eq!(check_every_committed_snapshot(&w, true).await, 2);
}
