//! The served ledger against real databases, each case on SQLite and on PostgreSQL:
//! concurrent appends keep one chain, tampering is named, a file ledger is imported
//! without breaking its chain, exports verify as files, pinned keys, a lost ledger.

mod common;

use common::Fixture;
use ward_ledger::{Ledger, LedgerKey, NewEntry, Outcome};
use ward_store::StoreError;

cases!(
    concurrent_appends_keep_one_contiguous_chain,
    a_tampered_row_is_named_by_its_seq_and_appends_refused,
    an_imported_file_ledger_continues_its_chain,
    import_refuses_damage_and_foreign_ledgers,
    a_pinned_key_and_a_lost_ledger,
);

fn entry(i: u64) -> NewEntry {
    NewEntry::new(
        format!("user-{i}"),
        "backup",
        "st-marys/billing/prod",
        Outcome::Ok,
    )
    .estate_commit("9f2c1e0")
    .detail("i", i)
}

fn key() -> (tempfile::TempDir, LedgerKey) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = LedgerKey::load_or_create(dir.path()).expect("key");
    (dir, key)
}

async fn concurrent_appends_keep_one_contiguous_chain(fx: &Fixture) {
    let store = fx.open().await;
    let ledger = store.ledger().with_checkpoint_every(4);
    let (_dir, key) = key();
    let key = std::sync::Arc::new(key);
    let mut tasks = Vec::new();
    for t in 0..6u64 {
        let ledger = ledger.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..5 {
                let written = ledger
                    .append(&key, entry(t * 100 + i))
                    .await
                    .expect("append");
                seqs.push(written.seq);
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.expect("task"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..30).collect::<Vec<u64>>(), "seqs are contiguous");

    let v = ledger.verify(None).await.expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(
        (v.entries, v.checkpoints, v.last_checkpoint_seq),
        (30, 7, Some(27))
    );
    let head = ledger.head().await.expect("head").expect("a head");
    assert_eq!(head.seq, 29);
    assert_eq!(
        ledger.public_key().await.expect("key"),
        Some(key.public_key().to_hex())
    );
    let entries = ledger.entries(28, 10).await.expect("entries");
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [28, 29]);

    // The export is a file ledger that verifies on its own.
    let out = tempfile::tempdir().expect("tempdir");
    ledger
        .export()
        .await
        .expect("export")
        .write_to(out.path())
        .expect("write");
    let file = Ledger::open(out.path())
        .expect("open")
        .verify()
        .expect("verify");
    assert!(file.is_ok(), "{file:?}");
    assert_eq!(file.entries, 30);
}

async fn a_tampered_row_is_named_by_its_seq_and_appends_refused(fx: &Fixture) {
    let store = fx.open().await;
    let ledger = store.ledger().with_checkpoint_every(4);
    let (_dir, key) = key();
    for i in 0..10 {
        ledger.append(&key, entry(i)).await.expect("append");
    }
    // Rows: e0 e1 e2 e3+C3 e4 e5 …, so entry 5 is on line 7 of the export.
    let original = fx.ledger_line(5).await;
    let edited = String::from_utf8(original.clone())
        .expect("utf-8")
        .replace("user-5", "user-X")
        .into_bytes();
    fx.set_ledger_line(5, edited).await;

    let v = ledger.verify(None).await.expect("verify");
    let problem = v.problem.expect("a problem");
    assert_eq!((problem.line, problem.seq), (7, Some(5)), "{problem}");
    assert!(problem.message.contains("edited"), "{problem}");

    // Damage after the last checkpoint: the append's own check refuses.
    let last = fx.ledger_line(9).await;
    fx.set_ledger_line(5, original).await;
    fx.set_ledger_line(
        9,
        String::from_utf8(last.clone())
            .expect("utf-8")
            .replace("user-9", "user-Y")
            .into_bytes(),
    )
    .await;
    match ledger.append(&key, entry(10)).await {
        Err(StoreError::LedgerDamaged { problem }) => {
            assert_eq!(problem.seq, Some(9), "{problem}");
        }
        other => panic!("expected LedgerDamaged, got {other:?}"),
    }
    assert_eq!(
        fx.count("SELECT COUNT(*) FROM ledger_lines").await,
        10,
        "nothing was written"
    );
    // Repaired, it takes appends again.
    fx.set_ledger_line(9, last).await;
    ledger.append(&key, entry(10)).await.expect("append");
    assert!(ledger.verify(None).await.expect("verify").is_ok());

    // A row whose bytes hold a newline is not one line.
    let line = fx.ledger_line(2).await;
    let mut broken = line.clone();
    broken.insert(1, b'\n');
    fx.set_ledger_line(2, broken).await;
    let problem = ledger
        .verify(None)
        .await
        .expect("verify")
        .problem
        .expect("a problem");
    assert_eq!(problem.line, 3, "{problem}");
    assert!(problem.message.contains("newline"), "{problem}");
}

async fn an_imported_file_ledger_continues_its_chain(fx: &Fixture) {
    let state = tempfile::tempdir().expect("tempdir");
    let file = Ledger::open(state.path())
        .expect("open")
        .with_checkpoint_every(4);
    for i in 0..10 {
        file.append(entry(i)).expect("append");
    }
    let key = LedgerKey::load(state.path()).expect("the state folder's key");
    let store = fx.open().await;
    let ledger = store.ledger().with_checkpoint_every(4);

    let report = ledger.import(&file, &key, None).await.expect("import");
    assert_eq!(
        (report.imported, report.already_present, report.last_seq),
        (10, 0, Some(9))
    );
    // Verbatim: the export is the file, byte for byte.
    let exported = ledger.export().await.expect("export");
    let file_bytes = std::fs::read(state.path().join("ledger.jsonl")).expect("read");
    assert_eq!(exported.ledger_jsonl, file_bytes);
    assert_eq!(
        exported.head,
        Some(std::fs::read(state.path().join("ledger.head")).expect("read"))
    );

    // The file grew before the server took over: importing again brings in only the rest.
    for i in 10..13 {
        file.append(entry(i)).expect("append");
    }
    let report = ledger.import(&file, &key, None).await.expect("import");
    assert_eq!(
        (report.imported, report.already_present, report.last_seq),
        (3, 10, Some(12))
    );

    // Appends continue the same chain, and verify covers the imported part.
    for i in 13..20 {
        let written = ledger.append(&key, entry(i)).await.expect("append");
        assert_eq!(written.seq, i);
    }
    let v = ledger.verify(None).await.expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!((v.entries, v.last_checkpoint_seq), (20, Some(19)));
    let pinned = file.public_key().expect("key").expect("a key");
    assert!(ledger.verify(Some(&pinned)).await.expect("verify").is_ok());

    // Exported again, the whole chain verifies as a file ledger, pinned key included,
    // and starts with the original file's bytes.
    let exported = ledger.export().await.expect("export");
    assert!(
        exported
            .ledger_jsonl
            .starts_with(&std::fs::read(state.path().join("ledger.jsonl")).expect("read"))
    );
    let out = tempfile::tempdir().expect("tempdir");
    exported.write_to(out.path()).expect("write");
    let v = Ledger::open(out.path())
        .expect("open")
        .verify_with_key(&pinned)
        .expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries, 20);

    // The store is no longer a prefix of the file: a further import is refused.
    assert!(matches!(
        ledger.import(&file, &key, None).await,
        Err(StoreError::ImportConflict(_))
    ));
}

async fn import_refuses_damage_and_foreign_ledgers(fx: &Fixture) {
    let store = fx.open().await;
    let ledger = store.ledger();

    // A damaged file ledger.
    let state = tempfile::tempdir().expect("tempdir");
    let file = Ledger::open(state.path()).expect("open");
    for i in 0..3 {
        file.append(entry(i)).expect("append");
    }
    let key = LedgerKey::load(state.path()).expect("key");
    let path = state.path().join("ledger.jsonl");
    let good = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, good.replace("user-1", "user-Z")).expect("write");
    match ledger.import(&file, &key, None).await {
        Err(StoreError::ImportDamaged { problem }) => assert_eq!(problem.seq, Some(1)),
        other => panic!("expected ImportDamaged, got {other:?}"),
    }
    std::fs::write(&path, &good).expect("write");

    // Signed with another key than the store will sign with.
    let (_other_dir, other_key) = key_pair();
    assert!(matches!(
        ledger.import(&file, &other_key, None).await,
        Err(StoreError::LedgerKeyMismatch { .. })
    ));
    assert_eq!(fx.count("SELECT COUNT(*) FROM ledger_lines").await, 0);

    // A store that already holds another ledger (same key, different entries).
    ledger.append(&key, entry(42)).await.expect("append");
    assert!(matches!(
        ledger.import(&file, &key, None).await,
        Err(StoreError::ImportConflict(_))
    ));
    assert_eq!(fx.count("SELECT COUNT(*) FROM ledger_lines").await, 1);
    // And appending with another key is refused.
    assert!(matches!(
        ledger.append(&other_key, entry(43)).await,
        Err(StoreError::LedgerKeyMismatch { .. })
    ));
}

fn key_pair() -> (tempfile::TempDir, LedgerKey) {
    key()
}

async fn a_pinned_key_and_a_lost_ledger(fx: &Fixture) {
    let store = fx.open().await;
    let ledger = store.ledger();
    let (_dir, key) = key();
    let (_other_dir, other) = key_pair();
    let pinned = key.public_key().to_hex();

    // Nothing yet: verifies empty, unless a key is pinned.
    assert!(ledger.verify(None).await.expect("verify").is_ok());
    let problem = ledger
        .verify(Some(&pinned))
        .await
        .expect("verify")
        .problem
        .expect("a problem");
    assert!(problem.message.contains("pinned key"), "{problem}");

    for i in 0..5 {
        ledger.append(&key, entry(i)).await.expect("append");
    }
    assert!(ledger.verify(Some(&pinned)).await.expect("verify").is_ok());
    let problem = ledger
        .verify(Some(&other.public_key().to_hex()))
        .await
        .expect("verify")
        .problem
        .expect("a problem");
    assert!(
        problem.message.contains("the key was replaced"),
        "{problem}"
    );
    let problem = ledger
        .verify(Some("not hex"))
        .await
        .expect("verify")
        .problem
        .expect("a problem");
    assert!(problem.message.contains("unusable"), "{problem}");

    // Someone replaces the recorded key with theirs: the chain no longer verifies, and
    // against the pinned key the replacement is named.
    fx.raw(&format!(
        "UPDATE ledger_key SET public_key = '{}'",
        other.public_key().to_hex()
    ))
    .await;
    assert!(!ledger.verify(None).await.expect("verify").is_ok());
    assert!(!ledger.verify(Some(&pinned)).await.expect("verify").is_ok());
    fx.raw(&format!("UPDATE ledger_key SET public_key = '{pinned}'"))
        .await;

    // Rows and head deleted: the recorded key says a ledger existed.
    fx.raw("DELETE FROM ledger_lines; DELETE FROM ledger_head;")
        .await;
    let problem = ledger
        .verify(None)
        .await
        .expect("verify")
        .problem
        .expect("a problem");
    assert!(problem.message.contains("lost"), "{problem}");
    assert!(matches!(
        ledger.append(&key, entry(5)).await,
        Err(StoreError::LedgerDamaged { .. })
    ));
}
