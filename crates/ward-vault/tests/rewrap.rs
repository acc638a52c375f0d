//! `rewrap` on real backups: after a DBA leaves, the old identity opens nothing that was
//! rewritten, the new one restores every snapshot, signatures still verify, and object
//! lock's superseded key versions are named.

mod common;

use std::collections::BTreeMap;

use common::{MotoServer, World, assert_consistent, small};
use ward_vault::fixture::OdooFixture;
use ward_vault::{
    Identities, ListedSnapshot, LockMode, ObjectLock, Recipients, Repository, RewrapRecipients,
    VaultError,
};

/// Everything to `recipients`, as the CLI does for a tenant with one environment.
fn to(recipients: &Recipients) -> RewrapRecipients {
    RewrapRecipients {
        tenant_key: recipients.clone(),
        environments: BTreeMap::from([("billing/prod".to_string(), recipients.clone())]),
        unclaimed: recipients.clone(),
    }
}

/// Restores `snapshot` into a new database `name` with `ids`.
async fn restore_as(
    w: &World,
    repo: &Repository,
    snapshot: &ward_vault::SnapshotRef,
    ids: &Identities,
    name: &str,
) -> Result<ward_vault::RestoreSummary, VaultError> {
    let request = w.restore_request(name);
    ward_vault::restore(
        repo,
        snapshot,
        &w.trusted(),
        ids,
        &request,
        common::progress(),
    )
    .await
}

fn data_key_files(w: &World) -> Vec<(String, Vec<u8>)> {
    let dir = w.repo_dir.join("tenants/st-marys/data-keys");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("data-keys folder")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rewrap_only_the_new_recipients_restore() {
    let w = World::new(small()).await;
    let (repo, key, first) = w.backed_up().await;
    let state = w.dir.path().join("state");
    let breakglass = Identities::from_file(&state.join("breakglass.age")).expect("bg");
    let new_dba = state.join("new-dba.age");
    let new_recipient = ward_vault::generate_identity_file(&new_dba).expect("identity");
    let new = Recipients::parse(&[new_recipient, breakglass.recipients()[0].clone()])
        .expect("recipients");

    // One data key per run, each a small age file; a dry run writes nothing.
    let before = data_key_files(&w);
    assert_eq!(before.len(), 1, "{before:?}");
    let dry = ward_vault::rewrap(
        &repo,
        "st-marys",
        &w.identities(),
        &to(&new),
        &w.trusted(),
        true,
    )
    .await
    .expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(dry.data_keys_rewrapped, 1);
    assert_eq!(data_key_files(&w), before);

    // The leaving DBA's own identity opens the keys today; afterwards it opens nothing.
    let report = ward_vault::rewrap(
        &repo,
        "st-marys",
        &w.identities(),
        &to(&new),
        &w.trusted(),
        false,
    )
    .await
    .expect("rewrap");
    assert_eq!(report.data_keys_rewrapped, 1);
    assert!(report.data_keys_not_opened.is_empty(), "{report:?}");
    assert!(report.still_readable.is_empty(), "{report:?}");
    assert_eq!(report.tenant_key_id, key.id());
    assert_ne!(data_key_files(&w), before, "the key file was rewritten");

    let err = w
        .restore(&repo, &first.snapshot, &w.restore_request("old_dba"))
        .await
        .expect_err("the old identity must not restore");
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    assert!(!w.database_exists("old_dba"));
    let old = w.identities();
    assert!(matches!(
        ward_vault::unlock_tenant_key(&repo, "st-marys", &old).await,
        Err(VaultError::WrongKey { .. })
    ));

    // The new DBA restores it; the statements it was signed with still verify.
    let new_ids = Identities::from_file(&new_dba).expect("new identity");
    let restored = restore_as(&w, &repo, &first.snapshot, &new_ids, "new_dba")
        .await
        .expect("the new identity restores");
    assert_consistent(&restored);
    assert!(
        w.listed(&repo)
            .await
            .iter()
            .all(|l| matches!(l, ListedSnapshot::Verified { .. }))
    );

    // Backups go on to the new recipients, reusing the blobs the first run sealed.
    let mut options = w.options();
    options.recipients = new.clone();
    let second = w
        .backup_with(&repo, &key, &w.target(), &options)
        .await
        .expect("second backup");
    assert_eq!(second.blobs_uploaded, 0, "{second:?}");
    let again = restore_as(&w, &repo, &second.snapshot, &new_ids, "second")
        .await
        .expect("restore the second snapshot");
    assert_consistent(&again);
    assert!(matches!(
        w.restore(&repo, &second.snapshot, &w.restore_request("old_second"))
            .await,
        Err(VaultError::WrongKey { .. })
    ));

    // Someone who was never a recipient cannot rewrap anything.
    let stranger = Identities::from_file(&w.other_identity).expect("stranger");
    let err = ward_vault::rewrap(&repo, "st-marys", &stranger, &to(&new), &w.trusted(), false)
        .await
        .expect_err("a stranger's identity opens no key");
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    // A run sealed to recipients the rewrapping identity is not among is named, not
    // skipped in silence; break-glass, a recipient of every run, then finishes the job.
    let bg_only = Recipients::parse(&[breakglass.recipients()[0].clone()]).expect("bg");
    let mut bg_options = w.options();
    bg_options.recipients = bg_only;
    w.backup_with(&repo, &key, &w.target(), &bg_options)
        .await
        .expect("third backup");
    let report = ward_vault::rewrap(&repo, "st-marys", &new_ids, &to(&new), &w.trusted(), false)
        .await
        .expect("rewrap by the new DBA");
    assert_eq!(report.data_keys_rewrapped, 2);
    assert_eq!(report.data_keys_not_opened.len(), 1, "{report:?}");
    let report = ward_vault::rewrap(
        &repo,
        "st-marys",
        &breakglass,
        &to(&new),
        &w.trusted(),
        false,
    )
    .await
    .expect("rewrap by break-glass");
    assert_eq!(report.data_keys_rewrapped, 3);
    assert!(report.data_keys_not_opened.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_object_lock_the_superseded_keys_are_named() {
    let moto = MotoServer::start();
    moto.create_bucket("locked", true);
    let w = World::new(OdooFixture {
        attachments: 5,
        ..OdooFixture::default()
    })
    .await;
    let lock = ObjectLock {
        mode: LockMode::Compliance,
        days: 30,
    };
    let repo = Repository::open(&moto.repository_config("locked", Some(lock)))
        .await
        .expect("open s3");
    let key = w.key(&repo).await;
    let s = w.backup(&repo, &key).await.expect("backup");
    let state = w.dir.path().join("state");
    let new_dba = state.join("new-dba.age");
    let new = Recipients::parse(&[ward_vault::generate_identity_file(&new_dba).expect("id")])
        .expect("recipients");
    let report = ward_vault::rewrap(
        &repo,
        "st-marys",
        &w.identities(),
        &to(&new),
        &w.trusted(),
        false,
    )
    .await
    .expect("rewrap");
    assert_eq!(report.data_keys_rewrapped, 1);
    let named = report
        .still_readable
        .iter()
        .find(|r| r.snapshot == s.snapshot)
        .expect("the locked snapshot is named");
    assert!(named.until.is_some_and(|u| u > jiff::Timestamp::now()));
    assert!(named.reason.contains("compliance"), "{}", named.reason);

    // The bucket indeed keeps both versions of the data key (the old one is locked).
    let (status, _, body) = moto.request(
        "GET",
        "/locked?versions&prefix=ward/vault/tenants/st-marys/data-keys/",
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("<Version>").count(), 2, "{body}");

    // The new identity restores from the locked bucket.
    let new_ids = Identities::from_file(&new_dba).expect("new identity");
    let restored = restore_as(&w, &repo, &s.snapshot, &new_ids, "after_rewrap")
        .await
        .expect("restore");
    assert_consistent(&restored);
}
