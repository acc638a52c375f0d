//! The attacks of issue 13 §1, by someone who can write the bucket and knows the public
//! recipients, each reproduced with real tools (pg_dump, pg_restore, the `age` and `zstd`
//! command lines) and each refused: a forged snapshot, a swapped dump carrying
//! `COPY … TO PROGRAM`, a blob moved between tenants, a replaced tenant key, and a flood of
//! forged manifests before a prune.

mod common;

use std::path::PathBuf;

use common::forgery::{encrypt_to_recipients, forge_snapshots, manifest_bytes, sh};
use common::{World, keep_last, progress, small, snapshot_folder};
use ward_vault::{
    BackupTarget, DrillRequest, ListedSnapshot, OdooZipRequest, PgTools, RepositoryKey, VaultError,
};

/// The attacker backs up a database of their own under the victim's name, with the
/// victim's recipients, into a bucket of their own, and copies it into the victim's:
/// signed with a key of their own, or not signed at all. Every reader refuses both, by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_snapshot_is_refused_by_every_reader() {
    let w = World::new(small()).await;
    let (repo, _, real) = w.backed_up().await;
    let forged = forge_snapshots(&w).await;
    let (signed, unsigned) = (forged.signed, forged.unsigned);

    // list needs no key and says which verify.
    let listed = w.listed(&repo).await;
    assert_eq!(listed.len(), 3);
    for l in &listed {
        match l {
            ListedSnapshot::Verified { manifest, .. } => {
                assert_eq!(manifest.snapshot, real.snapshot)
            }
            ListedSnapshot::Unverified {
                snapshot,
                unsigned: is_unsigned,
                reason,
                ..
            } => {
                if *snapshot == signed {
                    assert!(reason.contains("not a key pinned"), "{reason}");
                } else {
                    assert_eq!(*snapshot, unsigned);
                    assert!(is_unsigned, "{reason}");
                }
            }
        }
    }

    let ids = w.identities();
    for forged in [&signed, &unsigned] {
        let name = format!("forged_{}", &forged.id[forged.id.len() - 8..]);
        let err = w
            .restore(&repo, forged, &w.restore_request(&name))
            .await
            .expect_err("a forged snapshot restored");
        let text = err.to_string();
        assert!(
            matches!(
                err.cause(),
                VaultError::Unverified { .. } | VaultError::Unsigned { .. }
            ),
            "{err}"
        );
        assert!(text.contains(&forged.to_string()), "{text}");
        assert!(!w.database_exists(&name), "{name} was created");

        let report = w.read_data_report(&repo, forged).await;
        assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
        assert!(report.faults[0].object.ends_with("/statement.json"));

        let drill = DrillRequest {
            server: w.db.with_dbname("postgres"),
            scratch_dir: w.dir.path().join("drills"),
            jobs: 1,
            pg_tools: PgTools::in_dir(w.cluster.bindir()),
            rto: None,
            rpo: None,
            keep: false,
        };
        let err = ward_vault::drill(&repo, forged, &w.trusted(), &ids, &drill, progress())
            .await
            .expect_err("a forged snapshot drilled");
        assert!(
            matches!(
                err,
                VaultError::Unverified { .. } | VaultError::Unsigned { .. }
            ),
            "{err}"
        );

        let zip = w.dir.path().join(format!("{name}.zip"));
        let err = ward_vault::export_odoo_zip(
            &repo,
            forged,
            &w.trusted(),
            &ids,
            &OdooZipRequest {
                path: zip.clone(),
                replace: false,
                pg_tools: PgTools::in_dir(w.cluster.bindir()),
                blob_concurrency: 4,
            },
            progress(),
        )
        .await
        .expect_err("a forged snapshot exported");
        assert!(
            matches!(
                err,
                VaultError::Unverified { .. } | VaultError::Unsigned { .. }
            ),
            "{err}"
        );
        assert!(!zip.exists());
    }
    // The real one still restores.
    w.restore(&repo, &real.snapshot, &w.restore_request("real"))
        .await
        .expect("the real snapshot restores");
}

/// The attacker swaps the dump's chunks for a dump whose restore runs a shell command
/// (`COPY … TO PROGRAM`, from a materialized view pg_restore refreshes), encrypted to the
/// victim's recipients with `pg_dump | zstd | age -r`: every chunk object of the snapshot
/// holds it. Restored as it is, it runs the command; through Ward it never reaches
/// pg_restore, and the spool is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_dump_with_copy_to_program_never_reaches_pg_restore() {
    let w = World::new(small()).await;
    let (repo, _, real) = w.backed_up().await;

    // In /tmp: the server may run as another user, who cannot write the test's folder.
    let marker = PathBuf::from(format!(
        "/tmp/ward-pwned-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    ));
    let _ = std::fs::remove_file(&marker);
    w.cluster.psql("CREATE DATABASE evil").expect("db");
    w.psql(
        "evil",
        &format!(
            "CREATE FUNCTION pwn() RETURNS int LANGUAGE plpgsql AS $$ BEGIN \
             EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {}; cat > /dev/null'''; RETURN 1; END $$; \
             CREATE MATERIALIZED VIEW pwned AS SELECT pwn() AS x;",
            marker.display()
        ),
    );
    assert!(marker.exists(), "the payload runs");
    std::fs::remove_file(&marker).expect("reset");
    let bin = w.cluster.bindir();
    let plain = w.dir.path().join("evil.dump");
    sh(&format!(
        "{}/pg_dump --format=custom --compress=0 --file={} '{}'",
        bin.display(),
        plain.display(),
        w.cluster.url_for("evil")
    ));
    // The control: restored as it is, the dump runs the attacker's command.
    w.cluster.psql("CREATE DATABASE control").expect("db");
    sh(&format!(
        "{}/pg_restore --dbname='{}' {}",
        bin.display(),
        w.cluster.url_for("control"),
        plain.display()
    ));
    assert!(marker.exists(), "pg_restore ran the payload");
    std::fs::remove_file(&marker).expect("reset");

    // Encrypted exactly as Ward's chunks are, with the public recipients, over each of the
    // real ones: whichever chunk comes first carries the whole payload.
    let evil_age = w.dir.path().join("evil.age");
    encrypt_to_recipients(&w, &plain, &evil_age);
    let objects = w.objects(&repo, &real.snapshot).await;
    assert!(!objects.dump_chunks.is_empty());
    let key = w.key(&repo).await;
    for chunk in &objects.dump_chunks {
        if ward_vault::fixture::locate_packed(&repo, "st-marys", &key, &chunk.object)
            .await
            .expect("index")
            .is_some()
        {
            w.unpack(&repo, "st-marys", &key, &chunk.object).await;
        }
        let planted = w.repo_dir.join(&chunk.object);
        std::fs::create_dir_all(planted.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&evil_age, planted).expect("swap a chunk");
    }

    let spool = w.dir.path().join("spool");
    std::fs::create_dir_all(&spool).expect("spool");
    for jobs in [1, 2] {
        let mut req = w.restore_request("victim");
        req.spool_dir = Some(spool.clone());
        req.jobs = jobs;
        let err = w
            .restore(&repo, &real.snapshot, &req)
            .await
            .expect_err("the swapped dump restored");
        match err.cause() {
            VaultError::Corrupted { object, reason } => {
                assert!(
                    objects.dump_chunks.iter().any(|c| c.object == *object),
                    "{err}"
                );
                assert!(reason.contains("signed index"), "{err}");
            }
            other => panic!("{other}"),
        }
        assert!(!marker.exists(), "the attacker's command ran (jobs {jobs})");
        assert_eq!(
            std::fs::read_dir(&spool).expect("spool").count(),
            0,
            "the spool was left behind"
        );
        assert!(!w.database_exists("victim"));
    }
}

/// The attacker copies another tenant's blob object over one of the victim's: the restore
/// refuses it before anything is written into the filestore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_moved_from_another_tenant_is_refused() {
    let w = World::new(small()).await;
    let (repo, _, real) = w.backed_up().await;
    let other_key = ward_vault::tenant_key(
        &repo,
        "other",
        &w.recipients,
        &w.dir.path().join("state/keys/other.key"),
        None,
        None,
    )
    .await
    .expect("key");
    let other = BackupTarget {
        tenant: "other".into(),
        ..w.target()
    };
    w.backup_with(&repo, &other_key, &other, &w.options())
        .await
        .expect("other tenant's backup");
    // Their blob's stored bytes, planted under the path of one of our attachments' blobs
    // (not one of our dump's chunks), once our pack holding it is deleted.
    let their_manifest = ward_vault::list(
        &repo,
        &ward_vault::SnapshotFilter {
            tenant: Some("other".into()),
            ..Default::default()
        },
        &w.trusted(),
    )
    .await
    .expect("their snapshots")
    .into_iter()
    .find_map(|l| l.verified().cloned())
    .expect("their snapshot");
    let theirs = w.objects(&repo, &their_manifest.snapshot).await.blobs[0]
        .object
        .clone();
    let mut their_bytes = None;
    let ours = w.objects(&repo, &real.snapshot).await.blobs[0]
        .object
        .clone();
    if let Some((pack, range)) =
        ward_vault::fixture::locate_packed(&repo, "other", &other_key, &theirs)
            .await
            .expect("their index")
    {
        let bytes = std::fs::read(w.repo_dir.join(pack)).expect("their pack");
        their_bytes = Some(
            bytes[usize::try_from(range.start).expect("s")..usize::try_from(range.end).expect("e")]
                .to_vec(),
        );
    }
    let their_bytes = their_bytes.expect("their blob is packed");
    let our_key = w.key(&repo).await;
    w.unpack(&repo, "st-marys", &our_key, &ours).await;
    let planted = w.repo_dir.join(&ours);
    std::fs::create_dir_all(planted.parent().expect("parent")).expect("mkdir");
    std::fs::write(&planted, their_bytes).expect("move");

    let req = w.restore_request("victim");
    let err = w
        .restore(&repo, &real.snapshot, &req)
        .await
        .expect_err("a moved blob restored");
    // Refused: the pack the attacker deleted held dump chunks too, so the restore stops
    // at the first of those; verify names the planted blob itself.
    assert!(
        matches!(err.cause(), VaultError::Corrupted { object, .. } if object.starts_with("tenants/st-marys/blobs/")),
        "{err}"
    );
    assert!(!w.database_exists("victim"));
    let report = w.read_data_report(&repo, &real.snapshot).await;
    let planted_fault = report
        .faults
        .iter()
        .find(|f| f.object == ours)
        .unwrap_or_else(|| panic!("{:?}", report.faults));
    assert!(
        ["signed", "checksum", "differs"]
            .iter()
            .any(|w| planted_fault.problem.contains(w)),
        "{planted_fault:?}"
    );
    assert!(!req.filestore.exists(), "the filestore folder was left");
}

/// The attacker replaces `key.json`/`key.age` with a key of their own, encrypted to the
/// victim's recipients with `zstd | age -r`. The next backup, a new machine's first backup
/// and a restore all refuse it; the cached key is never replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_tenant_key_is_refused_and_never_cached() {
    let w = World::new(small()).await;
    let (repo, key, real) = w.backed_up().await;

    let theirs = RepositoryKey::generate().expect("key");
    let hex_file = w.dir.path().join("their.key");
    theirs.save(&hex_file).expect("save");
    let raw = w.dir.path().join("their.raw");
    let hex_text = std::fs::read_to_string(&hex_file).expect("read");
    std::fs::write(&raw, hex::decode(hex_text.trim()).expect("hex")).expect("raw");
    let tenant = w.repo_dir.join("tenants/st-marys");
    encrypt_to_recipients(&w, &raw, &tenant.join("key.age"));
    std::fs::write(
        tenant.join("key.json"),
        serde_json::to_vec(&serde_json::json!({
            "key_id": theirs.id(),
            "recipients": w.recipients.to_strings(),
            "created": "2026-12-01T00:00:00Z",
        }))
        .expect("json"),
    )
    .expect("key.json");

    let cache = w.dir.path().join("state/keys/st-marys.key");
    let cached_before = std::fs::read(&cache).expect("cache");
    let changed = |e: &VaultError| matches!(e.cause(), VaultError::TenantKeyChanged { .. });
    // The next backup, with the key cached.
    let err = ward_vault::tenant_key(&repo, "st-marys", &w.recipients, &cache, None, None)
        .await
        .expect_err("a changed key was taken");
    assert!(changed(&err), "{err}");
    assert_eq!(std::fs::read(&cache).expect("cache"), cached_before);
    // A new machine with a DBA identity: held to the key the signed chain names.
    let pinned = ward_vault::pinned_tenant_key_id(&repo, "st-marys", &w.trusted())
        .await
        .expect("pinned");
    assert_eq!(pinned.as_deref(), Some(key.id().as_str()));
    let fresh = w.dir.path().join("new-machine/st-marys.key");
    let err = ward_vault::tenant_key(
        &repo,
        "st-marys",
        &w.recipients,
        &fresh,
        Some(&w.identities()),
        pinned.as_deref(),
    )
    .await
    .expect_err("a changed key was unlocked");
    assert!(changed(&err), "{err}");
    assert!(!fresh.exists(), "the attacker's key was cached");
    // A backup handed the attacker's key refuses to run.
    let err = w
        .backup(&repo, &theirs)
        .await
        .expect_err("a backup with the attacker's key");
    assert!(changed(&err), "{err}");
    // A restore cannot check blob names against a key that is not the signed one.
    let err = w
        .restore(&repo, &real.snapshot, &w.restore_request("victim"))
        .await
        .expect_err("restored under the attacker's key");
    assert!(changed(&err), "{err}");
}

/// Before a prune the attacker floods the environment with newer forged snapshots (no
/// statement, or a real snapshot's statement replayed): keep-last still keeps the real ones,
/// nothing forged is deleted or counted, and garbage collection deletes no real blob. A
/// real manifest rewritten to list no blobs stops garbage collection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_manifest_flood_before_a_prune_removes_nothing_real() {
    let w = World::new(small()).await;
    let (repo, key, first) = w.backed_up().await;
    let second = w.backup(&repo, &key).await.expect("backup");
    let second_dir = w.repo_dir.join(snapshot_folder(&second.snapshot));
    let text = std::fs::read_to_string(second_dir.join("manifest.json")).expect("manifest");
    let (_, body) = text.split_once('\n').expect("header");
    for i in 0..5 {
        let id = format!("2099010{i}T000000Z-deadbeef");
        let mut json: serde_json::Value = serde_json::from_str(body).expect("json");
        json["snapshot"]["id"] = id.clone().into();
        json["started"] = format!("2099-01-0{}T00:00:00Z", i + 1).into();
        let dir = w
            .repo_dir
            .join(format!("tenants/st-marys/snapshots/billing/prod/{id}"));
        for part in ["dump", "sealed"] {
            let object = format!("tenants/st-marys/snapshots/billing/prod/{id}/{part}.age");
            json[part]["object"] = object.into();
        }
        json["blobs"] = serde_json::json!([]);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("manifest.json"), manifest_bytes(&json)).expect("forge");
        if i % 2 == 1 {
            // The real newest statement, replayed.
            std::fs::copy(
                second_dir.join("statement.json"),
                dir.join("statement.json"),
            )
            .expect("replay");
        }
    }
    let blobs_before = w.blob_objects();

    let pruned = w.prune(&repo, &keep_last(2), false).await.expect("prune");
    assert!(pruned.removed.is_empty(), "{:?}", pruned.removed);
    for d in &pruned.decisions {
        if [&first.snapshot, &second.snapshot].contains(&&d.snapshot) {
            assert_eq!(d.reasons, ["last"], "{d:?}");
        } else {
            assert!(d.keep && d.reasons[0].starts_with("unverified"), "{d:?}");
        }
    }
    let gc = w.gc_now(&repo, false).await.expect("gc");
    assert_eq!(gc.unverified.len(), 5, "{:?}", gc.unverified);
    assert!(
        gc.deleted
            .iter()
            .all(|d| !d.contains("/blobs/") && !d.contains("/packs/")),
        "{:?}",
        gc.deleted
    );
    assert_eq!(blobs_before, w.blob_objects());
    w.verify_read_data(&repo, &first.snapshot).await;
    w.verify_read_data(&repo, &second.snapshot).await;

    // A real manifest whose blob list is rewritten to nothing: its statement is genuine,
    // so its blobs are unknown, and garbage collection stops rather than guess.
    let mut json: serde_json::Value = serde_json::from_str(body).expect("json");
    json["blobs"] = serde_json::json!([]);
    std::fs::write(second_dir.join("manifest.json"), manifest_bytes(&json)).expect("rewrite");
    let err = w
        .gc_now(&repo, false)
        .await
        .expect_err("gc ran over a damaged signed snapshot");
    assert!(matches!(err, VaultError::GcUnsafe { .. }), "{err}");
    assert_eq!(blobs_before, w.blob_objects());
    w.verify_read_data(&repo, &first.snapshot).await;
}
