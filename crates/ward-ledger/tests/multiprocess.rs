//! Several processes appending to one ledger at once. The test re-runs its own test binary,
//! filtered to itself, as child writers (selected by an environment variable), while the
//! parent also appends from threads of its own.

use std::env;
use std::path::Path;
use std::process::Command;
use std::thread;

use ward_ledger::{Ledger, NewEntry, Outcome};

const CHILD_DIR: &str = "WARD_LEDGER_TEST_CHILD_DIR";
const CHILD_NAME: &str = "WARD_LEDGER_TEST_CHILD_NAME";
const TEST_NAME: &str = "processes_and_threads_append_without_corruption";
const CHILDREN: u64 = 3;
const PARENT_THREADS: u64 = 2;
const PER_WRITER: u64 = 30;
const EVERY: u64 = 5;

fn write_many(dir: &Path, name: &str) -> Result<(), String> {
    let ledger = Ledger::open(dir)
        .map_err(|e| e.to_string())?
        .with_checkpoint_every(EVERY);
    for i in 0..PER_WRITER {
        let entry = NewEntry::new(name, "test", "multiprocess", Outcome::Ok).detail("i", i);
        ledger.append(entry).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn parent() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let exe = env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for n in 0..CHILDREN {
        let child = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_NAME, format!("process-{n}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn child: {e}"))?;
        children.push(child);
    }
    let threads: Vec<_> = (0..PARENT_THREADS)
        .map(|n| {
            let path = dir.path().to_path_buf();
            thread::spawn(move || write_many(&path, &format!("thread-{n}")))
        })
        .collect();
    for child in children {
        let status = child.wait_with_output().map_err(|e| e.to_string())?.status;
        if !status.success() {
            return Err(format!("a child writer failed: {status}"));
        }
    }
    for t in threads {
        t.join()
            .map_err(|_| "a writer thread panicked".to_string())??;
    }

    let total = (CHILDREN + PARENT_THREADS) * PER_WRITER;
    let ledger = Ledger::open(dir.path()).map_err(|e| e.to_string())?;
    let v = ledger.verify().map_err(|e| e.to_string())?;
    if !v.is_ok() || v.entries != total || v.checkpoints != total / EVERY {
        return Err(format!("verification: {v:?}"));
    }
    let entries = ledger.entries().map_err(|e| e.to_string())?;
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    if seqs != (0..total).collect::<Vec<_>>() {
        return Err(format!("seqs are not 0..{total}: {seqs:?}"));
    }
    for n in 0..CHILDREN {
        let name = format!("process-{n}");
        let mine: Vec<u64> = entries
            .iter()
            .filter(|e| e.actor == name)
            .filter_map(|e| e.details.get("i").and_then(|i| i.as_u64()))
            .collect();
        if mine != (0..PER_WRITER).collect::<Vec<_>>() {
            return Err(format!("{name} wrote {mine:?}"));
        }
    }
    println!(
        "multiprocess: {CHILDREN} processes and {PARENT_THREADS} threads wrote {total} entries; verify ok"
    );
    Ok(())
}

#[test]
fn processes_and_threads_append_without_corruption() {
    if let (Some(dir), Ok(name)) = (env::var_os(CHILD_DIR), env::var(CHILD_NAME)) {
        write_many(Path::new(&dir), &name).expect("child writer");
        return;
    }
    parent().expect("concurrent appends keep the ledger intact");
}
