//! Damage and bad input: every flipped byte and removed blob is named by verify; bad
//! databases, missing tools, full disks and wrong keys give typed errors and leave no snapshot.

mod common;

use std::time::Duration;

use common::{
    World, assert_no_snapshots, files_under, flip_byte, keep_last, progress, small, snapshot_folder,
};
use ward_vault::fixture::OdooFixture;
use ward_vault::{
    DbConnection, Identities, PgTools, SecretString, VaultError, VerifyDepth, collect_garbage,
    restore, verify,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipping_any_stored_byte_is_named_by_verify() {
    let w = World::new(small()).await;
    let (repo, _, s) = w.backed_up().await;
    let snapshot_dir = snapshot_folder(&s.snapshot);
    let parts: Vec<String> = files_under(&w.repo_dir)
        .into_iter()
        .filter(|o| o.starts_with(&snapshot_dir))
        .collect();
    // The sealed part, the object list, the manifest and the statement; the chunks and
    // blobs are in packs.
    assert_eq!(parts.len(), 4, "{parts:?}");
    let objects = w.objects(&repo, &s.snapshot).await;
    let shared: Vec<String> = objects.shared().map(|o| o.object.clone()).collect();
    assert_eq!(
        objects.blobs.len() as u64,
        s.attachments,
        "every attachment is stored"
    );
    for object in parts.iter().chain(&shared) {
        let (path, _) = w.stored_at(&repo, object).await;
        let original = std::fs::read(&path).expect("read");
        w.flip_stored_byte(&repo, object).await;
        let report = w.read_data_report(&repo, &s.snapshot).await;
        let named: Vec<&str> = report.faults.iter().map(|f| f.object.as_str()).collect();
        assert_eq!(
            named,
            vec![object.as_str()],
            "flip in {object}: {:?}",
            report.faults
        );
        std::fs::write(&path, original).expect("restore byte");
    }
    w.verify_read_data(&repo, &s.snapshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_blob_is_named_without_a_key() {
    let w = World::new(small()).await;
    let (repo, key, s) = w.backed_up().await;
    let objects = w.objects(&repo, &s.snapshot).await;
    let blob = objects.blobs[0].object.clone();
    let (pack, _) = w.stored_at(&repo, &blob).await;
    let packed: Vec<String> = {
        let mut all = Vec::new();
        for o in objects.shared() {
            if w.stored_at_maybe(&repo, &o.object).await.as_deref() == Some(pack.as_path()) {
                all.push(o.object.clone());
            }
        }
        all
    };
    std::fs::remove_file(&pack).expect("rm");
    // With the tenant key (no identity), every object of the removed pack is named: its
    // index no longer places it anywhere.
    let report = verify(
        &repo,
        &s.snapshot,
        &w.trusted(),
        VerifyDepth::Located(&key),
        progress(),
    )
    .await
    .expect("verify");
    let named: Vec<&str> = report.faults.iter().map(|f| f.object.as_str()).collect();
    assert!(named.contains(&blob.as_str()), "{:?}", report.faults);
    assert_eq!(report.faults.len(), packed.len(), "{:?}", report.faults);
    assert!(
        report.faults.iter().all(|f| f.problem == "missing"),
        "{:?}",
        report.faults
    );
    // Without any key the packed objects cannot be located: counted, never called fine.
    let report = verify(
        &repo,
        &s.snapshot,
        &w.trusted(),
        VerifyDepth::Metadata,
        progress(),
    )
    .await
    .expect("verify");
    assert_eq!(report.objects_unlocated, objects.shared().count() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_data_key_is_named_and_restore_refuses_cleanly() {
    let w = World::new(small()).await;
    let (repo, _, s) = w.backed_up().await;
    let dir = w.repo_dir.join("tenants/st-marys/data-keys");
    let file = std::fs::read_dir(&dir)
        .expect("data keys")
        .next()
        .expect("one data key")
        .expect("entry")
        .path();
    std::fs::remove_file(&file).expect("rm");
    let report = verify(
        &repo,
        &s.snapshot,
        &w.trusted(),
        VerifyDepth::Metadata,
        progress(),
    )
    .await
    .expect("verify");
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert!(report.faults[0].object.contains("/data-keys/"));
    assert!(report.faults[0].problem.contains("data key"));
    let err = w
        .restore(&repo, &s.snapshot, &w.restore_request("no_data_key"))
        .await
        .expect_err("nothing decrypts without the data key");
    assert!(
        matches!(&err, VaultError::Corrupted { object, .. } if object.contains("/data-keys/")),
        "{err}"
    );
    assert!(err.to_string().contains("data key is missing"), "{err}");
    assert!(!w.database_exists("no_data_key"));
}

async fn assert_fails_cleanly(
    w: &World,
    target: ward_vault::BackupTarget,
    opts: ward_vault::BackupOptions,
) -> VaultError {
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let err = w
        .backup_with(&repo, &key, &target, &opts)
        .await
        .expect_err("must fail");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        !err.to_string().contains(w.cluster.password()),
        "secret in: {err}"
    );
    assert!(
        !format!("{err:?}").contains(w.cluster.password()),
        "secret in debug: {err:?}"
    );
    assert_no_snapshots(&repo).await;
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_databases_and_tools_fail_clearly_and_leave_no_snapshot() {
    let w = World::new(small()).await;

    let mut unreachable = w.target();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    unreachable.db.port = closed_port;
    let err = assert_fails_cleanly(&w, unreachable, w.options()).await;
    assert!(
        matches!(err, VaultError::DatabaseUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("cannot reach the database"),
        "{err}"
    );

    let mut wrong_password = w.target();
    wrong_password.db.password = Some(SecretString::new("not-the-password"));
    let err = assert_fails_cleanly(&w, wrong_password, w.options()).await;
    assert!(matches!(err, VaultError::DatabaseAuth { .. }), "{err}");
    assert!(!err.to_string().contains("not-the-password"));

    let mut no_pg_dump = w.options();
    no_pg_dump.pg_tools = PgTools::in_dir(w.dir.path().join("no-such-bin"));
    let err = assert_fails_cleanly(&w, w.target(), no_pg_dump).await;
    assert!(
        matches!(err, VaultError::ToolMissing { ref program, .. } if program == "pg_dump"),
        "{err}"
    );

    // A pg_dump that starts but dies half-way leaves nothing either.
    let fake_bin = w.dir.path().join("fake-bin");
    std::fs::create_dir_all(&fake_bin).expect("dir");
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then exec {0}/pg_dump --version; fi\n{0}/pg_dump \"$@\" | head -c 2000\necho 'pg_dump: error: connection lost' >&2\nexit 1\n",
        w.cluster.bindir().display()
    );
    std::fs::write(fake_bin.join("pg_dump"), script).expect("script");
    std::fs::set_permissions(
        fake_bin.join("pg_dump"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let mut dying = w.options();
    dying.pg_tools = PgTools::in_dir(&fake_bin);
    let err = assert_fails_cleanly(&w, w.target(), dying).await;
    assert!(
        matches!(err, VaultError::ToolFailed { ref program, .. } if program == "pg_dump"),
        "{err}"
    );
    assert!(err.to_string().contains("connection lost"), "{err}");

    let _ = DbConnection::from_url("not a url").expect_err("bad url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_restore_key_is_clear_and_touches_nothing() {
    let w = World::new(small()).await;
    let (repo, _, s) = w.backed_up().await;
    let stranger = Identities::from_file(&w.other_identity).expect("id");
    let req = w.restore_request("never_created");
    let err = restore(
        &repo,
        &s.snapshot,
        &w.trusted(),
        &stranger,
        &req,
        progress(),
    )
    .await
    .expect_err("wrong key");
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("not one of the recipients"),
        "{err}"
    );
    assert!(!w.database_exists("never_created"));
    assert!(!req.filestore.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_fails_clearly_and_leaves_no_snapshot() {
    let w = World::new(OdooFixture {
        attachments: 40,
        min_blob_bytes: 20_000,
        max_blob_bytes: 60_000,
        ..small()
    })
    .await;
    let mount = w.dir.path().join("tiny");
    std::fs::create_dir_all(&mount).expect("dir");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs"])
        .arg(&mount)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "this test simulates a full disk with a small tmpfs and needs root to mount it"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mount.clone());
    let config = ward_vault::RepositoryConfig {
        store: ward_vault::StoreLocation::Local(mount.join("repo")),
        object_lock: None,
    };
    let repo = ward_vault::Repository::open(&config).await.expect("open");
    let key = w.key(&repo).await;
    let err = w.backup(&repo, &key).await.expect_err("disk full");
    assert_eq!(err.exit_code(), 3, "{err}");
    let text = err.to_string();
    assert!(
        text.to_lowercase().contains("space") || text.contains("full"),
        "{text}"
    );
    assert_no_snapshots(&repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_prevents_concurrent_backups_of_one_environment() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let (target, options) = (w.target(), w.options());
    let (a, b) = tokio::join!(
        ward_vault::backup(&repo, &target, &key, &options, progress()),
        ward_vault::backup(&repo, &target, &key, &options, progress()),
    );
    let results = [&a, &b];
    let held = results
        .iter()
        .filter(|r| matches!(r, Err(VaultError::LeaseHeld { .. })))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!((held, ok), (1, 1), "{a:?} / {b:?}");
    // The lease is released afterwards, and another environment is never blocked.
    w.backup(&repo, &key).await.expect("after release");
    let mut staging = w.target();
    staging.environment = "staging".into();
    w.backup_with(&repo, &key, &staging, &w.options())
        .await
        .expect("other env");

    // A lease left by a dead process on this host does not block.
    let lease = w.repo_dir.join("tenants/st-marys/leases/billing/prod.json");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot");
    let far = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(5))
        .expect("t");
    let record = serde_json::json!({
        "token": "dead", "host": host.trim(), "boot_id": boot.trim(), "pid": 999_999_999u32,
        "purpose": "backup", "acquired": jiff::Timestamp::now(), "expires": far,
    });
    std::fs::write(&lease, record.to_string()).expect("write lease");
    w.backup(&repo, &key).await.expect("stale lease taken over");
    // A live lease from another host blocks until it expires.
    let record = serde_json::json!({
        "token": "alive", "host": "other-host", "boot_id": "x", "pid": 1,
        "purpose": "backup", "acquired": jiff::Timestamp::now(), "expires": far,
    });
    std::fs::write(&lease, record.to_string()).expect("write lease");
    let err = w.backup(&repo, &key).await.expect_err("held");
    assert!(matches!(err, VaultError::LeaseHeld { .. }), "{err}");
    assert!(err.to_string().contains("other-host"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_and_gc_keep_referenced_and_fresh_blobs() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = w.backup(&repo, &key).await.expect("1");
    // An attachment deleted from Odoo: its blob is referenced only by the first snapshot.
    let gone = w.fixture.store_fnames[0].clone();
    w.psql(
        "odoo",
        &format!("DELETE FROM ir_attachment WHERE store_fname = '{gone}'"),
    );
    let second = w.backup(&repo, &key).await.expect("2");
    let third = w.backup(&repo, &key).await.expect("3");
    let mut pruned_chunks = std::collections::HashSet::new();
    for s in [&first.snapshot, &second.snapshot] {
        let m = w.objects(&repo, s).await;
        pruned_chunks.extend(m.dump_chunks.into_iter().map(|c| c.object));
    }

    let retention = keep_last(1);
    let dry = w.prune(&repo, &retention, true).await.expect("dry run");
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(w.listed(&repo).await.len(), 3, "dry run deletes nothing");
    let done = w.prune(&repo, &retention, false).await.expect("prune");
    assert_eq!(done.removed.len(), 2);
    assert!(done.removed.contains(&first.snapshot));
    let remaining = w.listed(&repo).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].snapshot(), &third.snapshot);

    // What the pruned snapshots alone referenced: the deleted attachment's blob, and the
    // dump chunks no later dump shares (at least the header chunk, which carries the time).
    let kept_manifest = w.objects(&repo, &third.snapshot).await;
    let gone_blob = {
        let name = key.blob_name(gone.rsplit('/').next().expect("sha1"));
        format!("tenants/st-marys/blobs/{}/{name}", &name[..2])
    };
    let kept_objects: std::collections::HashSet<&str> =
        kept_manifest.shared().map(|o| o.object.as_str()).collect();
    assert!(!kept_objects.contains(gone_blob.as_str()));
    // Within the grace period nothing is collected, not even the orphaned blob.
    let blobs_before = w.blob_objects().len();
    let gc = collect_garbage(
        &repo,
        "st-marys",
        &w.trusted(),
        Some(&w.key(&repo).await),
        Duration::from_secs(3600),
        false,
    )
    .await
    .expect("gc");
    assert!(gc.deleted.is_empty() && gc.kept_fresh >= 1, "{gc:?}");
    // Without the tenant key the sealed object lists do not open: what is live is not
    // known, so nothing shared is collected, past the grace period too.
    let keyless = common::collect_garbage_now(&repo, "st-marys", &w.trusted(), None, false)
        .await
        .expect("gc without the key");
    assert!(keyless.blobs_unchecked, "{keyless:?}");
    assert!(keyless.deleted.is_empty(), "{keyless:?}");
    assert_eq!(w.blob_objects().len(), blobs_before);
    // Past it, only what no kept snapshot references goes: packs of the pruned snapshots'
    // own chunks, whole. (The deleted attachment's blob shares a pack with live blobs; it
    // goes when that pack is repacked, see tests/packs.rs.)
    let gc = w.gc_now(&repo, false).await.expect("gc");
    // (How many packs go depends on where the chunker cut the three dumps: the second
    // run's pack holds its header chunk, dead now, and chunks the third may reuse.)
    assert!(!gc.packs_unchecked, "{gc:?}");
    for o in &kept_objects {
        assert!(
            w.stored_at_maybe(&repo, o).await.is_some(),
            "{o} lost by {gc:?}"
        );
    }
    assert!(gc.deleted.iter().all(|o| o.contains("/packs/")), "{gc:?}");
    assert!(
        pruned_chunks
            .iter()
            .any(|c| !kept_objects.contains(c.as_str()))
    );
    assert_eq!(
        w.blob_objects().len(),
        blobs_before + gc.packs_written as usize - gc.packs_deleted as usize
    );
    w.verify_read_data(&repo, &third.snapshot).await;

    // A corrupted manifest stops GC before it deletes anything.
    let manifest = w
        .repo_dir
        .join(snapshot_folder(&third.snapshot))
        .join("manifest.json");
    flip_byte(&manifest);
    let err = w.gc_now(&repo, false).await.expect_err("unsafe");
    assert!(matches!(err, VaultError::GcUnsafe { .. }), "{err}");
}

/// A progress that gives a cancel as soon as the filestore phase starts: the backup is in
/// the middle of its dump and its uploads.
struct CancelMidway(ward_vault::Cancel);

impl ward_vault::Progress for CancelMidway {
    fn start(&self, phase: ward_vault::Phase, _total: Option<u64>) {
        if phase == ward_vault::Phase::Filestore {
            self.0.cancel();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_backup_commits_nothing_and_the_next_one_succeeds() {
    let w = World::new(OdooFixture {
        attachments: 200,
        ..small()
    })
    .await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;

    // Cancelled before it starts.
    let options = w.options();
    options.cancel.cancel();
    let err = ward_vault::backup(&repo, &w.target(), &key, &options, progress())
        .await
        .expect_err("cancelled");
    assert!(matches!(err, VaultError::Cancelled), "{err}");
    assert_no_snapshots(&repo).await;

    // Cancelled in the middle of the dump and the uploads.
    let mut options = w.options();
    options.cancel = ward_vault::Cancel::new();
    let progress: std::sync::Arc<dyn ward_vault::Progress> =
        std::sync::Arc::new(CancelMidway(options.cancel.clone()));
    let err = ward_vault::backup(&repo, &w.target(), &key, &options, progress)
        .await
        .expect_err("cancelled");
    assert!(matches!(err, VaultError::Cancelled), "{err}");
    assert!(err.to_string().contains("no snapshot was written"), "{err}");
    assert_no_snapshots(&repo).await;

    // What it wrote is harmless: the next backup commits and restores.
    let summary = w.backup(&repo, &key).await.expect("the next backup");
    w.verify_read_data(&repo, &summary.snapshot).await;
}
