//! The attacks of issue 13 §1, by someone who can write the bucket and knows the public
//! recipients, each reproduced with real tools (pg_dump, pg_restore, the `age` and `zstd`
//! command lines) and each refused: a forged snapshot, a swapped dump carrying
//! `COPY … TO PROGRAM`, a blob moved between tenants, a replaced tenant key, and a flood of
//! forged manifests before a prune.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{World, files_under, progress, small};
use ward_vault::fixture::{self, OdooFixture};
use ward_vault::{
    BackupOptions, BackupSigningKey, BackupTarget, DbConnection, DrillRequest, ListedSnapshot,
    OdooZipRequest, PgTools, Repository, RepositoryConfig, RepositoryKey, RestoreRequest,
    Retention, SnapshotFilter, SnapshotRef, StoreLocation, TrustedKeys, VaultError, VerifyDepth,
};

fn local(dir: &Path) -> RepositoryConfig {
    RepositoryConfig {
        store: StoreLocation::Local(dir.to_path_buf()),
        object_lock: None,
    }
}

fn snapshot_dir(root: &Path, s: &SnapshotRef) -> PathBuf {
    root.join(format!(
        "tenants/{}/snapshots/{}/{}/{}",
        s.tenant, s.workload, s.environment, s.id
    ))
}

/// Copies every file under `from` to the same place under `to`.
fn copy_tree(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(&rel), dest).expect("copy");
    }
}

fn database_exists(w: &World, name: &str) -> bool {
    w.cluster
        .psql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        ))
        .expect("psql")
        .trim()
        == "1"
}

/// Runs a shell pipeline of real tools, asserting it succeeds.
fn sh(script: &str) {
    let out = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `age -r R1 -r R2 …` with the victim's public recipients.
fn age_recipients(w: &World) -> String {
    w.recipients
        .to_strings()
        .iter()
        .map(|r| format!("-r {r}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn restore_request(w: &World, name: &str) -> RestoreRequest {
    let mut req = RestoreRequest::new(
        w.db.with_dbname(name),
        w.dir.path().join(format!("restored/filestore/{name}")),
    );
    req.pg_tools = PgTools::in_dir(w.cluster.bindir());
    req
}

/// The attacker backs up a database of their own under the victim's name, with the
/// victim's recipients, into a bucket of their own, and copies it into the victim's:
/// signed with a key of their own, or not signed at all. Every reader refuses both, by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_snapshot_is_refused_by_every_reader() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let real = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("real backup");

    w.cluster.psql("CREATE DATABASE evil").expect("db");
    let evil_db = DbConnection::from_url(&w.cluster.url_for("evil")).expect("url");
    let evil_files = w.dir.path().join("evil/filestore");
    std::fs::create_dir_all(&evil_files).expect("mkdir");
    fixture::build(
        &evil_db,
        &evil_files,
        &OdooFixture {
            attachments: 3,
            partners: 5,
            ..OdooFixture::default()
        },
    )
    .await
    .expect("evil fixture");
    let evil_root = w.dir.path().join("evil/repo");
    let evil_repo = Repository::open(&local(&evil_root)).await.expect("repo");
    let evil_signer =
        BackupSigningKey::generate_file(&w.dir.path().join("evil/signing.ed25519")).expect("key");
    let mut evil_trust = TrustedKeys::new();
    evil_trust.pin("st-marys", "billing", "prod", [evil_signer.public()]);
    let evil_key = ward_vault::tenant_key(
        &evil_repo,
        "st-marys",
        &w.recipients,
        &w.dir.path().join("evil/st-marys.key"),
        None,
        None,
    )
    .await
    .expect("evil tenant key");
    let target = BackupTarget {
        db: evil_db,
        filestore: evil_files,
        ..w.target()
    };
    let mut options = BackupOptions::new(w.recipients.clone(), evil_signer, evil_trust);
    options.pg_tools = PgTools::in_dir(w.cluster.bindir());
    let signed = ward_vault::backup(&evil_repo, &target, &evil_key, &options, progress())
        .await
        .expect("forged backup")
        .snapshot;
    let unsigned = ward_vault::backup(&evil_repo, &target, &evil_key, &options, progress())
        .await
        .expect("forged backup")
        .snapshot;
    std::fs::remove_file(snapshot_dir(&evil_root, &unsigned).join("statement.json"))
        .expect("unsign");
    // Into the victim's bucket, snapshots and blobs (never over the real ones).
    for s in [&signed, &unsigned] {
        let rel = format!("tenants/st-marys/snapshots/billing/prod/{}", s.id);
        copy_tree(&evil_root.join(&rel), &w.repo_dir.join(&rel));
    }
    copy_tree(
        &evil_root.join("tenants/st-marys/blobs"),
        &w.repo_dir.join("tenants/st-marys/blobs"),
    );

    // list needs no key and says which verify.
    let listed = ward_vault::list(&repo, &SnapshotFilter::default(), &w.trusted())
        .await
        .expect("list");
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
        let err = ward_vault::restore(
            &repo,
            forged,
            &w.trusted(),
            &ids,
            &restore_request(&w, &name),
            progress(),
        )
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
        assert!(!database_exists(&w, &name), "{name} was created");

        let report = ward_vault::verify(
            &repo,
            forged,
            &w.trusted(),
            VerifyDepth::ReadData(&ids),
            progress(),
        )
        .await
        .expect("verify runs");
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
    ward_vault::restore(
        &repo,
        &real.snapshot,
        &w.trusted(),
        &ids,
        &restore_request(&w, "real"),
        progress(),
    )
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
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let real = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");

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
    sh(&format!(
        "zstd -q -c {} | age {} > {}",
        plain.display(),
        age_recipients(&w),
        evil_age.display()
    ));
    let manifest = ward_vault::read_manifest(&repo, &real.snapshot, &w.trusted())
        .await
        .expect("manifest");
    assert!(!manifest.dump_chunks.is_empty());
    for chunk in &manifest.dump_chunks {
        std::fs::copy(&evil_age, w.repo_dir.join(&chunk.object)).expect("swap a chunk");
    }

    let spool = w.dir.path().join("spool");
    std::fs::create_dir_all(&spool).expect("spool");
    for jobs in [1, 2] {
        let mut req = restore_request(&w, "victim");
        req.spool_dir = Some(spool.clone());
        req.jobs = jobs;
        let err = ward_vault::restore(
            &repo,
            &real.snapshot,
            &w.trusted(),
            &w.identities(),
            &req,
            progress(),
        )
        .await
        .expect_err("the swapped dump restored");
        match err.cause() {
            VaultError::Corrupted { object, reason } => {
                assert!(
                    manifest.dump_chunks.iter().any(|c| c.object == *object),
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
        assert!(!database_exists(&w, "victim"));
    }
}

/// The attacker copies another tenant's blob object over one of the victim's: the restore
/// refuses it before anything is written into the filestore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_moved_from_another_tenant_is_refused() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let real = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");
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
    ward_vault::backup(&repo, &other, &other_key, &w.options(), progress())
        .await
        .expect("other tenant's backup");
    let files = files_under(&w.repo_dir);
    let theirs = files
        .iter()
        .find(|f| f.starts_with("tenants/other/blobs/"))
        .expect("their blob");
    let ours = files
        .iter()
        .find(|f| f.starts_with("tenants/st-marys/blobs/"))
        .expect("our blob");
    std::fs::copy(w.repo_dir.join(theirs), w.repo_dir.join(ours)).expect("move");

    let req = restore_request(&w, "victim");
    let err = ward_vault::restore(
        &repo,
        &real.snapshot,
        &w.trusted(),
        &w.identities(),
        &req,
        progress(),
    )
    .await
    .expect_err("a moved blob restored");
    match err.cause() {
        VaultError::Corrupted { object, reason } => {
            assert_eq!(object, ours, "{err}");
            assert!(reason.contains("signed blob index"), "{err}");
        }
        other => panic!("{other}"),
    }
    assert!(!database_exists(&w, "victim"));
    assert!(!req.filestore.exists(), "the filestore folder was left");
}

/// The attacker replaces `key.json`/`key.age` with a key of their own, encrypted to the
/// victim's recipients with `zstd | age -r`. The next backup, a new machine's first backup
/// and a restore all refuse it; the cached key is never replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_tenant_key_is_refused_and_never_cached() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let real = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");

    let theirs = RepositoryKey::generate().expect("key");
    let hex_file = w.dir.path().join("their.key");
    theirs.save(&hex_file).expect("save");
    let raw = w.dir.path().join("their.raw");
    let hex_text = std::fs::read_to_string(&hex_file).expect("read");
    std::fs::write(&raw, hex::decode(hex_text.trim()).expect("hex")).expect("raw");
    let tenant = w.repo_dir.join("tenants/st-marys");
    sh(&format!(
        "zstd -q -c {} | age {} > {}",
        raw.display(),
        age_recipients(&w),
        tenant.join("key.age").display()
    ));
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
    let err = ward_vault::backup(&repo, &w.target(), &theirs, &w.options(), progress())
        .await
        .expect_err("a backup with the attacker's key");
    assert!(changed(&err), "{err}");
    // A restore cannot check blob names against a key that is not the signed one.
    let err = ward_vault::restore(
        &repo,
        &real.snapshot,
        &w.trusted(),
        &w.identities(),
        &restore_request(&w, "victim"),
        progress(),
    )
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
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");
    let second = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");
    let second_dir = snapshot_dir(&w.repo_dir, &second.snapshot);
    let text = std::fs::read_to_string(second_dir.join("manifest.json")).expect("manifest");
    let (_, body) = text.split_once('\n').expect("header");
    let forge = |json: &serde_json::Value| {
        use sha2::Digest;
        let body = serde_json::to_vec_pretty(json).expect("json");
        let mut out = format!(
            "ward-vault-manifest/1 sha256:{}\n",
            hex::encode(sha2::Sha256::digest(&body))
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    };
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
        std::fs::write(dir.join("manifest.json"), forge(&json)).expect("forge");
        if i % 2 == 1 {
            // The real newest statement, replayed.
            std::fs::copy(
                second_dir.join("statement.json"),
                dir.join("statement.json"),
            )
            .expect("replay");
        }
    }
    let blobs_before: Vec<String> = files_under(&w.repo_dir)
        .into_iter()
        .filter(|f| f.contains("/blobs/"))
        .collect();

    let retention = Retention {
        keep_last: 2,
        ..Retention::default()
    };
    let pruned = ward_vault::prune(
        &repo,
        "st-marys",
        "billing",
        "prod",
        &w.trusted(),
        &retention,
        false,
    )
    .await
    .expect("prune");
    assert!(pruned.removed.is_empty(), "{:?}", pruned.removed);
    for d in &pruned.decisions {
        if [&first.snapshot, &second.snapshot].contains(&&d.snapshot) {
            assert_eq!(d.reasons, ["last"], "{d:?}");
        } else {
            assert!(d.keep && d.reasons[0].starts_with("unverified"), "{d:?}");
        }
    }
    let gc = ward_vault::collect_garbage(&repo, "st-marys", &w.trusted(), Duration::ZERO, false)
        .await
        .expect("gc");
    assert_eq!(gc.unverified.len(), 5, "{:?}", gc.unverified);
    assert!(
        gc.deleted.iter().all(|d| !d.contains("/blobs/")),
        "{:?}",
        gc.deleted
    );
    let blobs_after: Vec<String> = files_under(&w.repo_dir)
        .into_iter()
        .filter(|f| f.contains("/blobs/"))
        .collect();
    assert_eq!(blobs_before, blobs_after);
    w.verify_read_data(&repo, &first.snapshot).await;
    w.verify_read_data(&repo, &second.snapshot).await;

    // A real manifest whose blob list is rewritten to nothing: its statement is genuine,
    // so its blobs are unknown, and garbage collection stops rather than guess.
    let mut json: serde_json::Value = serde_json::from_str(body).expect("json");
    json["blobs"] = serde_json::json!([]);
    std::fs::write(second_dir.join("manifest.json"), forge(&json)).expect("rewrite");
    let err = ward_vault::collect_garbage(&repo, "st-marys", &w.trusted(), Duration::ZERO, false)
        .await
        .expect_err("gc ran over a damaged signed snapshot");
    assert!(matches!(err, VaultError::GcUnsafe { .. }), "{err}");
    let blobs_after: Vec<String> = files_under(&w.repo_dir)
        .into_iter()
        .filter(|f| f.contains("/blobs/"))
        .collect();
    assert_eq!(blobs_before, blobs_after);
    w.verify_read_data(&repo, &first.snapshot).await;
}
