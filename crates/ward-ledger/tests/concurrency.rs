//! Many threads appending at once, each through its own `Ledger` or a shared one: the
//! writers' lock must serialize them into one contiguous, verifiable chain.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;

use ward_ledger::{Ledger, NewEntry, Outcome};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 25;

fn appends(ledger: &Ledger, writer: u64) {
    for i in 0..PER_THREAD {
        let entry = NewEntry::new(
            format!("writer-{writer}"),
            "test",
            "concurrency",
            Outcome::Ok,
        )
        .detail("i", i);
        ledger.append(entry).expect("append");
    }
}

#[test]
fn threads_with_their_own_ledgers_and_a_shared_one_produce_one_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = Arc::new(
        Ledger::open(dir.path())
            .expect("open")
            .with_checkpoint_every(7),
    );
    let mut handles = Vec::new();
    for writer in 0..THREADS {
        let path = dir.path().to_path_buf();
        handles.push(thread::spawn(move || {
            let own = Ledger::open(&path).expect("open").with_checkpoint_every(7);
            appends(&own, writer);
        }));
    }
    for writer in THREADS..THREADS + 2 {
        let shared = Arc::clone(&shared);
        handles.push(thread::spawn(move || appends(&shared, writer)));
    }
    for handle in handles {
        handle.join().expect("writer thread");
    }

    let total = (THREADS + 2) * PER_THREAD;
    let v = shared.verify().expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries, total);
    assert_eq!(v.checkpoints, total / 7);

    let entries = shared.entries().expect("entries");
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());
    // Each writer's own entries keep their order.
    let mut seen: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &entries {
        seen.entry(&e.actor)
            .or_default()
            .push(e.details["i"].as_u64().expect("i"));
    }
    assert_eq!(seen.len() as u64, THREADS + 2);
    for (actor, is) in seen {
        assert_eq!(is, (0..PER_THREAD).collect::<Vec<_>>(), "{actor}");
    }
    assert!(common::read_lines(dir.path()).len() as u64 == total + total / 7);
}
