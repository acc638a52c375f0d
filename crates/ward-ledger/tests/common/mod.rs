//! Helpers shared by the integration tests: build a small ledger, then read and rewrite
//! its files line by line the way an attacker with write access would.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use ward_ledger::{Ledger, NewEntry, Outcome};

pub fn ledger_file(dir: &Path) -> PathBuf {
    dir.join("ledger.jsonl")
}

pub fn head_file(dir: &Path) -> PathBuf {
    dir.join("ledger.head")
}

pub fn entry(i: u64) -> NewEntry {
    NewEntry::new(
        format!("user-{i}"),
        "backup",
        "st-marys/billing/prod",
        Outcome::Ok,
    )
    .estate_commit("9f2c1e0")
    .detail("bytes", 1000 + i)
    .detail("i", i)
}

/// `n` entries with a checkpoint after every `every`-th.
pub fn build(n: u64, every: u64) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path())
        .expect("open")
        .with_checkpoint_every(every);
    for i in 0..n {
        ledger.append(entry(i)).expect("append");
    }
    (dir, ledger)
}

pub fn read_lines(dir: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(ledger_file(dir)).expect("read ledger");
    let body = data.strip_suffix(b"\n").expect("ends with a newline");
    body.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

pub fn write_lines(dir: &Path, lines: &[Vec<u8>]) {
    let mut data = Vec::new();
    for line in lines {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    fs::write(ledger_file(dir), data).expect("write ledger");
}

/// Replaces the first occurrence of `from` in a (1-based) line.
pub fn edit_line(dir: &Path, line: usize, from: &str, to: &str) {
    let mut lines = read_lines(dir);
    let text = String::from_utf8(lines[line - 1].clone()).expect("utf-8");
    assert!(text.contains(from), "line {line} has no {from:?}: {text}");
    lines[line - 1] = text.replacen(from, to, 1).into_bytes();
    write_lines(dir, &lines);
}
