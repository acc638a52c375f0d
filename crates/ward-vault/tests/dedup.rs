//! Deduplication never vouches for bytes it has not checked: a damaged blob in the
//! repository is uploaded again, never recorded at its damaged size, and `verify` without a
//! key holds every blob to the size recorded by the backup that wrote it.

mod common;

use common::{World, files_under, progress, small};
use sha2::{Digest, Sha256};
use ward_vault::{RestoreRequest, VerifyDepth, restore, verify};

/// Turns a stored blob's bytes into damaged ones.
type Damage = fn(&[u8]) -> Vec<u8>;

/// The blob objects of the repository, relative, sorted.
fn blobs(w: &World) -> Vec<String> {
    files_under(&w.repo_dir)
        .into_iter()
        .filter(|o| o.contains("/blobs/"))
        .collect()
}

/// Attachments above the size read whole (1 MiB), so each blob is streamed into an object
/// of its own: the objects whose stored size a bucket listing shows. (Small blobs are in
/// packs; tests/packs.rs and failures.rs damage those.)
fn standalone_blobs() -> ward_vault::fixture::OdooFixture {
    ward_vault::fixture::OdooFixture {
        attachments: 6,
        min_blob_bytes: 1100 * 1024,
        max_blob_bytes: 1300 * 1024,
        ..small()
    }
}

async fn backed_up(
    w: &World,
    repo: &ward_vault::Repository,
    key: &ward_vault::RepositoryKey,
) -> ward_vault::BackupSummary {
    ward_vault::backup(repo, &w.target(), key, &w.options(), progress())
        .await
        .expect("backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_blob_is_uploaded_again_not_reused() {
    let w = World::new(standalone_blobs()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = backed_up(&w, &repo, &key).await;
    let first_manifest = w.objects(&repo, &first.snapshot).await;
    // The filestore's blobs only: the dump's chunks share the folder.
    let objects: Vec<String> = blobs(&w)
        .into_iter()
        .filter(|o| !first_manifest.dump_chunks.iter().any(|c| c.object == *o))
        .collect();
    assert!(objects.len() >= 4, "{objects:?}");
    // Three kinds of damage a size shows: truncated to half, emptied, grown.
    let damage: [(&str, Damage); 3] = [
        ("truncated", |b| b[..b.len() / 2].to_vec()),
        ("emptied", |_| Vec::new()),
        ("grown", |b| [b, b"trailing junk"].concat()),
    ];
    for ((what, damage), object) in damage.iter().zip(&objects) {
        let path = w.repo_dir.join(object);
        let bytes = std::fs::read(&path).expect("blob");
        std::fs::write(&path, damage(&bytes)).expect("damage");
        eprintln!("{what}: {object}");
    }

    let second = backed_up(&w, &repo, &key).await;
    assert_eq!(
        second.blobs_uploaded, 3,
        "the damaged blobs are uploaded again"
    );
    let second_manifest = w.objects(&repo, &second.snapshot).await;
    // The new snapshot records what is stored now, whole: the damaged blobs as written
    // again (with their checksum), none at its damaged size.
    assert_eq!(second_manifest.blobs.len(), first_manifest.blobs.len());
    for b in &second_manifest.blobs {
        let stored = std::fs::metadata(w.repo_dir.join(&b.object))
            .expect("blob")
            .len();
        assert_eq!(b.stored_size, stored, "{}", b.object);
        // Every blob of the signed index carries its stored checksum; a rewritten one the
        // checksum of its new bytes.
        let before = first_manifest
            .blobs
            .iter()
            .find(|f| f.object == b.object)
            .expect("same blobs");
        let rewritten = objects[..3].contains(&b.object);
        assert!(b.stored_checksum.is_some(), "{}", b.object);
        assert_eq!(
            b.stored_checksum != before.stored_checksum,
            rewritten,
            "{}",
            b.object
        );
    }
    // Both snapshots verify reading every byte, and the new one restores.
    for s in [&first.snapshot, &second.snapshot] {
        w.verify_read_data(&repo, s).await;
        let report = verify(&repo, s, &w.trusted(), VerifyDepth::Metadata, progress())
            .await
            .expect("verify");
        assert!(report.is_ok(), "{:?}", report.faults);
    }
    let request = RestoreRequest {
        pg_tools: w.options().pg_tools,
        ..RestoreRequest::new(
            w.db.with_dbname("restored"),
            w.dir.path().join("restored/filestore/restored"),
        )
    };
    let summary = restore(
        &repo,
        &second.snapshot,
        &w.trusted(),
        &w.identities(),
        &request,
        progress(),
    )
    .await
    .expect("restore");
    assert!(summary.is_consistent());
    assert_eq!(summary.blobs_restored, w.fixture.store_fnames.len() as u64);
}

/// A blob no committed snapshot names (left by a killed backup, then damaged) vouches for
/// nothing: it is uploaded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreferenced_blob_is_never_reused() {
    let w = World::new(standalone_blobs()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let sha1 = w.fixture.store_fnames[0]
        .split_once('/')
        .map(|(_, s)| s.to_string())
        .expect("store_fname");
    let name = key.blob_name(&sha1);
    let orphan = w
        .repo_dir
        .join(format!("tenants/st-marys/blobs/{}/{name}", &name[..2]));
    std::fs::create_dir_all(orphan.parent().expect("parent")).expect("mkdir");
    std::fs::write(&orphan, b"half an age file").expect("orphan");
    let s = backed_up(&w, &repo, &key).await;
    assert_eq!(s.blobs_uploaded, s.attachments, "nothing was reused");
    w.verify_read_data(&repo, &s.snapshot).await;
}

/// A manifest rewritten to record a damaged size (as versions before signing could reuse
/// damaged bytes) no longer verifies; verify with the tenant key (no identity) still names
/// the blob, by the size recorded when it was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_holds_blobs_to_the_size_they_were_written_with() {
    let w = World::new(standalone_blobs()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = backed_up(&w, &repo, &key).await;
    let second = backed_up(&w, &repo, &key).await;
    let object = blobs(&w).into_iter().next().expect("a blob");
    let path = w.repo_dir.join(&object);
    let bytes = std::fs::read(&path).expect("blob");
    let damaged = bytes.len() / 3;
    std::fs::write(&path, &bytes[..damaged]).expect("truncate");

    // Rewrite the second manifest as the old reuse wrote it: the damaged size recorded.
    let manifest_path = w.repo_dir.join(format!(
        "tenants/{}/snapshots/{}/{}/{}/manifest.json",
        second.snapshot.tenant,
        second.snapshot.workload,
        second.snapshot.environment,
        second.snapshot.id
    ));
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let (_, body) = text.split_once('\n').expect("header");
    let mut json: serde_json::Value = serde_json::from_str(body).expect("json");
    let total = json["blob_stats"]["stored_bytes"]
        .as_u64()
        .expect("stored bytes");
    json["blob_stats"]["stored_bytes"] = (total - (bytes.len() - damaged) as u64).into();
    let body = serde_json::to_vec_pretty(&json).expect("json");
    let mut rewritten = format!(
        "ward-vault-manifest/1 sha256:{}\n",
        hex::encode(Sha256::digest(&body))
    )
    .into_bytes();
    rewritten.extend_from_slice(&body);
    std::fs::write(&manifest_path, rewritten).expect("rewrite");

    // Such a manifest no longer verifies: the statement signed other bytes. It is named.
    let report = verify(
        &repo,
        &second.snapshot,
        &w.trusted(),
        VerifyDepth::Metadata,
        progress(),
    )
    .await
    .expect("verify");
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert!(
        report.faults[0].object.ends_with("/manifest.json"),
        "{:?}",
        report.faults
    );
    // And it vouches for nothing: the first snapshot still holds the blob to the size its
    // writer recorded.
    let why = format!("recorded when snapshot {} wrote it", first.snapshot);
    let report = verify(
        &repo,
        &first.snapshot,
        &w.trusted(),
        VerifyDepth::Located(&key),
        progress(),
    )
    .await
    .expect("verify");
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert_eq!(report.faults[0].object, object);
    assert!(
        report.faults[0].problem.contains(&why),
        "{:?}",
        report.faults
    );
    // Without any key the object list does not open: the blobs are counted, not checked.
    let report = verify(
        &repo,
        &first.snapshot,
        &w.trusted(),
        VerifyDepth::Metadata,
        progress(),
    )
    .await
    .expect("verify");
    assert!(report.is_ok(), "{:?}", report.faults);
    assert!(report.objects_unlocated > 0, "{report:?}");
}
