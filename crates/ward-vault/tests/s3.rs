//! The S3 path against a real S3-compatible server (moto, started here), with Object Lock.

mod common;

use common::{
    MotoServer, World, assert_consistent, collect_garbage_now, keep_last, snapshot_folder,
};
use ward_vault::fixture::OdooFixture;
use ward_vault::{LockMode, ObjectLock, Repository, TrustedKeys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backup_verify_restore_with_object_lock() {
    let moto = MotoServer::start();
    moto.create_bucket("vault", true);
    let w = World::new(OdooFixture {
        attachments: 20,
        ..OdooFixture::default()
    })
    .await;
    let lock = ObjectLock {
        mode: LockMode::Governance,
        days: 30,
    };
    let repo = Repository::open(&moto.repository_config("vault", Some(lock)))
        .await
        .expect("open s3");
    let key = w.key(&repo).await;
    let s = w.backup(&repo, &key).await.expect("backup to s3");
    let again = w.backup(&repo, &key).await.expect("second");
    assert_eq!(again.blobs_uploaded, 0, "nothing new to upload");

    assert_eq!(w.listed(&repo).await.len(), 2);
    for snap in [&s.snapshot, &again.snapshot] {
        w.verify_read_data(&repo, snap).await;
    }
    let restored = w
        .restore(&repo, &s.snapshot, &w.restore_request("from_s3"))
        .await
        .expect("restore");
    assert_consistent(&restored);
    assert_eq!(
        restored.blobs_restored as usize,
        w.fixture.store_fnames.len()
    );

    // Every object carries the retention: deleting the stored version is refused.
    let manifest_key = format!("ward/vault/{}/manifest.json", snapshot_folder(&s.snapshot));
    let (status, head, _) = moto.request("HEAD", &format!("/vault/{manifest_key}"), &[], b"");
    assert_eq!(status, 200, "{head}");
    let lower = head.to_lowercase();
    assert!(
        lower.contains("x-amz-object-lock-mode: governance"),
        "{head}"
    );
    assert!(
        lower.contains("x-amz-object-lock-retain-until-date"),
        "{head}"
    );
    let version = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .starts_with("x-amz-version-id:")
                .then(|| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        })
        .flatten()
        .expect("versioned object");
    let (status, _, body) = moto.request(
        "DELETE",
        &format!("/vault/{manifest_key}?versionId={version}"),
        &[],
        b"",
    );
    assert!(
        status == 403 || status == 400,
        "locked version deleted? {status} {body}"
    );

    // Prune leaves locked snapshots alone.
    let report = w.prune(&repo, &keep_last(1), false).await.expect("prune");
    assert!(report.removed.is_empty(), "{report:?}");
    assert!(
        report
            .decisions
            .iter()
            .any(|d| d.reasons.iter().any(|r| r.starts_with("locked until")))
    );
    assert_eq!(w.listed(&repo).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_without_lock_prunes_and_flags_unreachable_store() {
    let moto = MotoServer::start();
    moto.create_bucket("plain", false);
    let w = World::new(OdooFixture {
        attachments: 8,
        ..OdooFixture::default()
    })
    .await;
    let repo = Repository::open(&moto.repository_config("plain", None))
        .await
        .expect("open s3");
    let key = w.key(&repo).await;
    w.backup(&repo, &key).await.expect("1");
    w.backup(&repo, &key).await.expect("2");
    let report = w.prune(&repo, &keep_last(1), false).await.expect("prune");
    assert_eq!(report.removed.len(), 1);

    // A bucket that does not exist: a storage error, exit code 3, no credentials in it.
    let err = Repository::open(&moto.repository_config("no-such-bucket", None))
        .await
        .expect_err("missing bucket");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(!err.to_string().contains("testing"), "{err}");
}

/// On S3 a killed backup's dump is a multipart upload never completed: not an object, so
/// only the uploads listing shows it. Garbage collection aborts those older than the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_aborts_the_incomplete_uploads_killed_backups_leave() {
    use object_store::{ObjectStoreExt, PutPayload};
    let moto = MotoServer::start();
    moto.create_bucket("vault", false);
    let repo = Repository::open(&moto.repository_config("vault", None))
        .await
        .expect("open s3");
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("vault")
        .with_region("us-east-1")
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .expect("raw s3");
    // What a SIGKILL mid-dump leaves: an upload with a part and no completion, in two
    // snapshots; and another tenant's, which is not this collection's business.
    let dumps = [
        "ward/vault/tenants/st-marys/snapshots/billing/prod/20261201T000000Z-deadbeef/dump.age",
        "ward/vault/tenants/st-marys/snapshots/billing/prod/20261201T000100Z-feedbeef/dump.age",
        "ward/vault/tenants/other/snapshots/billing/prod/20261201T000000Z-deadbeef/dump.age",
    ];
    for key in dumps {
        let mut upload = raw
            .put_multipart(&object_store::path::Path::from(key))
            .await
            .expect("start upload");
        upload
            .put_part(PutPayload::from(vec![7u8; 64 * 1024]))
            .await
            .expect("part");
        drop(upload); // neither completed nor aborted, as after SIGKILL
    }
    let pending = |report: &ward_vault::GcReport| {
        report
            .deleted
            .iter()
            .filter(|d| d.contains("(incomplete upload"))
            .cloned()
            .collect::<Vec<_>>()
    };
    // (moto reports every upload as initiated in 2010, so the grace period, which the local
    // staging test covers, cannot be shown here.)
    let dry = collect_garbage_now(&repo, "st-marys", &TrustedKeys::new(), None, true)
        .await
        .expect("gc");
    assert_eq!(pending(&dry).len(), 2, "{dry:?}");
    let done = collect_garbage_now(&repo, "st-marys", &TrustedKeys::new(), None, false)
        .await
        .expect("gc");
    let aborted = pending(&done);
    assert_eq!(aborted.len(), 2, "{done:?}");
    assert!(
        aborted
            .iter()
            .all(|a| a.starts_with("tenants/st-marys/snapshots/")),
        "{aborted:?}"
    );
    let again = collect_garbage_now(&repo, "st-marys", &TrustedKeys::new(), None, false)
        .await
        .expect("gc");
    assert!(
        pending(&again).is_empty(),
        "the uploads are gone: {again:?}"
    );
    // The other tenant's upload is still there for its own collection.
    let other = collect_garbage_now(&repo, "other", &TrustedKeys::new(), None, true)
        .await
        .expect("gc");
    assert_eq!(pending(&other).len(), 1, "{other:?}");
}
