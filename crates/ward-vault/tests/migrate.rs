//! The one-time migration of snapshots written before signed statements: an unsigned
//! snapshot whose every byte matches its recorded checksums is signed and then restores;
//! a damaged one is named and stays unsigned; a dry run writes nothing.

mod common;

use common::{World, flip_byte, progress, small};
use sha2::{Digest, Sha256};
use ward_vault::{
    BackupSigningKey, ListedSnapshot, RestoreRequest, SnapshotFilter, SnapshotObjects, SnapshotRef,
    VaultError, list, restore, sign_existing,
};

fn snapshot_file(w: &World, s: &SnapshotRef, name: &str) -> std::path::PathBuf {
    w.repo_dir.join(format!(
        "tenants/{}/snapshots/{}/{}/{}/{name}",
        s.tenant, s.workload, s.environment, s.id
    ))
}

/// Makes `s` look as a snapshot written before statements: no `statement.json`, its
/// object list in the plaintext manifest (no `objects.age`), and its reused blobs without a
/// stored checksum, as those backups recorded them.
fn unsign(w: &World, s: &SnapshotRef, objects: &SnapshotObjects, reused: &[String]) {
    std::fs::remove_file(snapshot_file(w, s, "statement.json")).expect("unsign");
    std::fs::remove_file(snapshot_file(w, s, "objects.age")).expect("no object list");
    let path = snapshot_file(w, s, "manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest");
    let body = text.split_once('\n').expect("header").1;
    let mut value: serde_json::Value = serde_json::from_str(body).expect("json");
    let fields = value.as_object_mut().expect("manifest");
    fields.remove("objects");
    fields.remove("dump_stats");
    fields.insert("blobs".into(), serde_json::json!(objects.blobs));
    fields.insert("dump_chunks".into(), serde_json::json!(objects.dump_chunks));
    for blob in value["blobs"].as_array_mut().expect("blobs") {
        if reused.iter().any(|r| blob["object"] == *r) {
            blob.as_object_mut()
                .expect("blob")
                .remove("stored_checksum");
        }
    }
    let body = serde_json::to_string_pretty(&value).expect("json");
    let header = hex::encode(Sha256::digest(body.as_bytes()));
    std::fs::write(
        &path,
        format!("ward-vault-manifest/1 sha256:{header}\n{body}"),
    )
    .expect("write manifest");
}

/// Each snapshot and whether it verifies, sorted by id: snapshots taken within one second
/// list in an order only their verified start times fix.
async fn listed(w: &World, repo: &ward_vault::Repository) -> Vec<(SnapshotRef, bool)> {
    let listed = list(repo, &SnapshotFilter::default(), &w.trusted())
        .await
        .expect("list");
    sorted(
        listed
            .into_iter()
            .map(|l| {
                let verified = matches!(l, ListedSnapshot::Verified { .. });
                (l.snapshot().clone(), verified)
            })
            .collect(),
    )
}

fn sorted(mut v: Vec<(SnapshotRef, bool)>) -> Vec<(SnapshotRef, bool)> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_snapshots_that_verify_are_signed_once_and_damaged_ones_are_named() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let backup = || async {
        ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
            .await
            .expect("backup")
    };
    let damaged = backup().await;
    let intact = backup().await;
    let signed = backup().await;
    let damaged_objects = w.objects(&repo, &damaged.snapshot).await;
    let intact_objects = w.objects(&repo, &intact.snapshot).await;
    let reused: Vec<String> = intact_objects
        .blobs
        .iter()
        .map(|b| b.object.clone())
        .collect();
    assert!(!reused.is_empty());
    unsign(&w, &damaged.snapshot, &damaged_objects, &[]);
    unsign(&w, &intact.snapshot, &intact_objects, &reused);
    flip_byte(&snapshot_file(&w, &damaged.snapshot, "sealed.age"));
    assert_eq!(
        listed(&w, &repo).await,
        sorted(vec![
            (damaged.snapshot.clone(), false),
            (intact.snapshot.clone(), false),
            (signed.snapshot.clone(), true)
        ])
    );

    // A key the estate does not pin for the environment signs nothing.
    let stranger =
        BackupSigningKey::generate_file(&w.dir.path().join("stranger.ed25519")).expect("key");
    let err = sign_existing(
        &repo,
        "st-marys",
        "billing",
        "prod",
        &stranger,
        &w.trusted(),
        &w.identities(),
        false,
        progress(),
    )
    .await
    .expect_err("an unpinned key signed");
    assert!(
        matches!(err, VaultError::SigningKeyNotPinned { .. }),
        "{err}"
    );

    let run = |dry_run| {
        let (repo, w) = (&repo, &w);
        async move {
            sign_existing(
                repo,
                "st-marys",
                "billing",
                "prod",
                &w.signer(),
                &w.trusted(),
                &w.identities(),
                dry_run,
                progress(),
            )
            .await
            .expect("sign-existing")
        }
    };
    let dry = run(true).await;
    assert_eq!(dry.signed, vec![intact.snapshot.clone()], "{dry:?}");
    assert!(!snapshot_file(&w, &intact.snapshot, "statement.json").exists());

    let report = run(false).await;
    assert_eq!(report.signed, vec![intact.snapshot.clone()]);
    assert_eq!(report.already_signed, 1);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].snapshot, damaged.snapshot);
    assert!(
        report.refused[0].reason.contains("sealed.age"),
        "{:?}",
        report.refused
    );
    assert_eq!(
        listed(&w, &repo).await,
        sorted(vec![
            (damaged.snapshot.clone(), false),
            (intact.snapshot.clone(), true),
            (signed.snapshot.clone(), true)
        ])
    );
    // Signed with every blob's checksum in its index, it verifies and restores.
    w.verify_read_data(&repo, &intact.snapshot).await;
    let mut req = RestoreRequest::new(
        w.db.with_dbname("migrated"),
        w.dir.path().join("restored/migrated"),
    );
    req.pg_tools = ward_vault::PgTools::in_dir(w.cluster.bindir());
    let restored = restore(
        &repo,
        &intact.snapshot,
        &w.trusted(),
        &w.identities(),
        &req,
        progress(),
    )
    .await
    .expect("restore");
    assert!(restored.is_consistent(), "{restored:?}");

    // Once is enough: a second run signs nothing more.
    let again = run(false).await;
    assert!(again.signed.is_empty());
    assert_eq!(again.already_signed, 2);
}
