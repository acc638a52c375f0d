//! Pack files: a backup writes few, padded objects; garbage collection repacks packs
//! whose live part has shrunk, and what the kept snapshot references stays readable.

mod common;

use common::{World, assert_consistent, files_under, keep_last};
use ward_vault::fixture::OdooFixture;
use ward_vault::read_manifest;

fn pack_files(w: &World) -> Vec<(String, u64)> {
    files_under(&w.repo_dir)
        .into_iter()
        .filter(|f| f.contains("/packs/") && !f.ends_with(".index"))
        .map(|f| {
            let len = std::fs::metadata(w.repo_dir.join(&f)).expect("pack").len();
            (f, len)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_writes_few_padded_packs_and_gc_repacks_what_pruning_frees() {
    // 60 attachments of 150–350 kB (the fixture's content compresses): packs of many blobs.
    let w = World::new(OdooFixture {
        attachments: 60,
        partners: 50,
        min_blob_bytes: 150 * 1024,
        max_blob_bytes: 350 * 1024,
        ..OdooFixture::default()
    })
    .await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = w.backup(&repo, &key).await.expect("first");
    let objects = files_under(&w.repo_dir);
    let packs = pack_files(&w);
    // Every blob and chunk is in a pack: the objects are the packs and their indexes, the
    // snapshot's four parts, the data key and the tenant key.
    assert!(
        objects.iter().all(|o| !o.contains("/blobs/")),
        "{objects:?}"
    );
    assert!((1..=4).contains(&packs.len()), "{packs:?}");
    assert_eq!(
        objects.len(),
        2 * packs.len() + 4 + 1 + 2 + 1,
        "{objects:?}"
    );
    // Each pack's size is a Padmé length: only its top bits vary.
    for (pack, len) in &packs {
        let e = u64::from(63 - len.leading_zeros());
        let s = 64 - u64::from(e.leading_zeros());
        assert_eq!(
            len % (1u64 << (e - s)),
            0,
            "{pack}: {len} bytes is not padded"
        );
    }

    // Most attachments deleted: after pruning the first snapshot, each pack is mostly dead.
    let keep: Vec<&String> = w.fixture.store_fnames.iter().take(8).collect();
    let kept_list = keep
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(",");
    w.psql(
        "odoo",
        &format!("DELETE FROM ir_attachment WHERE store_fname NOT IN ({kept_list})"),
    );
    let second = w.backup(&repo, &key).await.expect("second");
    assert_eq!(second.blobs_uploaded, 0, "the kept blobs are reused");
    let pruned = w.prune(&repo, &keep_last(1), false).await.expect("prune");
    assert_eq!(pruned.removed, vec![first.snapshot.clone()]);
    let before: u64 = pack_files(&w).iter().map(|(_, l)| l).sum();
    let dry = w.gc_now(&repo, true).await.expect("dry run");
    assert!(dry.packs_repacked >= 1, "{dry:?}");
    assert_eq!(pack_files(&w).iter().map(|(_, l)| l).sum::<u64>(), before);

    let gc = w.gc_now(&repo, false).await.expect("gc");
    assert!(gc.packs_repacked >= 1, "{gc:?}");
    assert!(gc.packs_written >= 1, "{gc:?}");
    assert!(gc.packs_damaged.is_empty(), "{gc:?}");
    let after: u64 = pack_files(&w).iter().map(|(_, l)| l).sum();
    assert!(after * 2 < before, "{before} → {after} bytes of packs");
    // What the kept snapshot references is all still there, and only that.
    let kept = w.objects(&repo, &second.snapshot).await;
    for o in kept.shared() {
        assert!(w.stored_at_maybe(&repo, &o.object).await.is_some(), "{o:?}");
    }
    let gone = read_manifest(&repo, &first.snapshot, &w.trusted()).await;
    assert!(gone.is_err(), "the first snapshot is pruned");
    w.verify_read_data(&repo, &second.snapshot).await;
    let restored = w
        .restore(&repo, &second.snapshot, &w.restore_request("after_repack"))
        .await
        .expect("restore after repack");
    assert_consistent(&restored);
    assert_eq!(restored.blobs_restored, 8);

    // A second collection finds nothing more to do.
    let again = w.gc_now(&repo, false).await.expect("gc again");
    assert_eq!(
        (again.packs_repacked, again.packs_deleted),
        (0, 0),
        "{again:?}"
    );
}

/// What a bucket reader sees of a snapshot: its parts, packs and totals. No plaintext part
/// names one of its blobs or chunks or gives one's size: the list is in `objects.age`,
/// sealed under the tenant key's index key, and a rewritten list is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_reader_learns_neither_a_snapshots_objects_nor_their_sizes() {
    let w = World::new(common::small()).await;
    let (repo, _, s) = w.backed_up().await;
    let objects = w.objects(&repo, &s.snapshot).await;
    assert_eq!(objects.blobs.len() as u64, s.attachments);
    assert!(!objects.dump_chunks.is_empty());
    let dir = w.repo_dir.join(common::snapshot_folder(&s.snapshot));
    for part in ["manifest.json", "statement.json"] {
        let text = std::fs::read_to_string(dir.join(part)).expect(part);
        for o in objects.shared() {
            let name = o.object.rsplit('/').next().expect("name");
            assert!(!text.contains(name), "{part} names {}", o.object);
        }
        assert!(!text.contains("/blobs/"), "{part}: {text}");
    }
    let sealed = std::fs::read(dir.join("objects.age")).expect("objects.age");
    assert!(
        !sealed.windows(7).any(|w| w == b"/blobs/"),
        "objects.age is not encrypted"
    );

    // A rewritten list (here one byte longer) is refused by the manifest's signed record
    // of the part, before anything decrypts it.
    let mut forged = sealed.clone();
    forged.extend_from_slice(b" ");
    std::fs::write(dir.join("objects.age"), &forged).expect("rewrite");
    let manifest = read_manifest(&repo, &s.snapshot, &w.trusted())
        .await
        .expect("the manifest still verifies");
    let err = ward_vault::open_snapshot(&repo, &manifest, &w.identities())
        .await
        .expect_err("a rewritten object list opened");
    assert!(
        matches!(&err, ward_vault::VaultError::Corrupted { object, .. } if object.ends_with("objects.age")),
        "{err}"
    );
    std::fs::write(dir.join("objects.age"), &sealed).expect("put back");
    w.verify_read_data(&repo, &s.snapshot).await;
}
