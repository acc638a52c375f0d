//! An append verifies the end of the chain it extends (the last checkpoint, the entries
//! after it and the signed head) and refuses to sign over damage: every case leaves both
//! files byte for byte as they were, and `verify` still reports the damage afterwards.
//! The fixture is the one of `tamper.rs`, 10 entries with a checkpoint after every 4th:
//! 1 e0 · 2 e1 · 3 e2 · 4 e3 · 5 C3 · 6 e4 · 7 e5 · 8 e6 · 9 e7 · 10 C7 · 11 e8 · 12 e9.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{build, edit_line, entry, head_file, ledger_file, read_lines, write_lines};
use sha2::{Digest, Sha256};
use ward_ledger::{Ledger, LedgerError};

fn pending_head_file(dir: &Path) -> PathBuf {
    dir.join("ledger.head.tmp")
}

fn first_use_file(dir: &Path) -> PathBuf {
    dir.join("keys/ledger.first-use")
}

/// Both ledger files as they are, `None` for an absent one.
fn snapshot(dir: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    (
        fs::read(ledger_file(dir)).ok(),
        fs::read(head_file(dir)).ok(),
    )
}

/// The append is refused as damage, nothing changes, and verify still says what is wrong.
fn assert_refused(dir: &Path, ledger: &Ledger, words: &str) {
    let before = snapshot(dir);
    let err = ledger
        .append(entry(99))
        .expect_err("the append must be refused");
    match &err {
        LedgerError::Damaged { problem, .. } => {
            assert!(
                problem.message.contains(words),
                "expected {words:?} in: {err}"
            );
        }
        other => panic!("expected LedgerError::Damaged, got {other:?}"),
    }
    assert_eq!(snapshot(dir), before, "a refused append changed the ledger");
    let v = ledger.verify().expect("verify");
    let problem = v.problem.expect("verify must still report the damage");
    assert!(problem.message.contains(words), "verify says: {problem}");
}

#[test]
fn a_sound_ledger_accepts_appends_and_stays_sound() {
    let (dir, ledger) = build(10, 4);
    for i in 10..20 {
        ledger.append(entry(i)).expect("append");
    }
    let v = ledger.verify().expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries, 20);
    assert!(!pending_head_file(dir.path()).exists());
}

#[test]
fn a_truncated_tail_is_refused() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.truncate(11); // drop e9
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "missing from the end");

    // Cut back past the last checkpoint as well: C7, e8 and e9 are gone.
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.truncate(9);
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "truncated tail");
}

#[test]
fn a_head_pointing_past_the_end_is_refused() {
    // The ledger file is put back to an older copy while the head stays the newer one.
    let (dir, ledger) = build(10, 4);
    let older = fs::read(ledger_file(dir.path())).expect("read");
    ledger.append(entry(10)).expect("append");
    ledger.append(entry(11)).expect("append");
    fs::write(ledger_file(dir.path()), older).expect("write");
    assert_refused(dir.path(), &ledger, "missing from the end");
}

#[test]
fn an_entry_forged_without_the_key_is_refused() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    let prev = hex::encode(Sha256::digest(&lines[11]));
    let forged = format!(
        concat!(
            r#"{{"seq":10,"time":"2026-11-26T11:31:00.000Z","actor":"mallory","action":"x","#,
            r#""subject":"y","result":"ok","estate_commit":null,"details":{{}},"prev":"{}"}}"#
        ),
        prev
    );
    lines.push(forged.into_bytes());
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "not covered by the signed head");
}

#[test]
fn an_edited_tail_entry_is_refused() {
    let (dir, ledger) = build(10, 4);
    edit_line(dir.path(), 12, "\"bytes\":1009", "\"bytes\":9");
    assert_refused(dir.path(), &ledger, "signed head");

    // The entry the last checkpoint vouches for, just before it.
    let (dir, ledger) = build(10, 4);
    edit_line(
        dir.path(),
        9,
        "\"actor\":\"user-7\"",
        "\"actor\":\"mallory\"",
    );
    assert_refused(dir.path(), &ledger, "signed checkpoint on line 10");

    // An entry between the last checkpoint and the last entry.
    let (dir, ledger) = build(10, 4);
    edit_line(
        dir.path(),
        11,
        "\"actor\":\"user-8\"",
        "\"actor\":\"mallory\"",
    );
    assert_refused(dir.path(), &ledger, "this entry was edited");
}

#[test]
fn a_removed_middle_entry_is_refused() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.remove(10); // e8, between C7 and e9
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "1 entry was deleted");
}

#[test]
fn a_reordered_pair_is_refused() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.swap(10, 11); // e8 <-> e9
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "reordered");
}

#[test]
fn a_forged_or_removed_last_checkpoint_is_refused() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    let text = String::from_utf8(lines[9].clone()).expect("utf-8");
    let at = text.find("\"signature\":\"").expect("signature") + 13;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    lines[9] = bytes;
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "signature is invalid");

    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.remove(9); // C7
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "not the one the signed head names");
}

#[test]
fn an_edited_replaced_or_deleted_head_file_is_refused() {
    let (dir, ledger) = build(10, 4);
    let head = fs::read_to_string(head_file(dir.path())).expect("read");
    fs::write(
        head_file(dir.path()),
        head.replace("\"seq\":9,", "\"seq\":8,"),
    )
    .expect("write");
    assert_refused(dir.path(), &ledger, "ledger.head was tampered with");

    fs::write(head_file(dir.path()), b"{not json").expect("write");
    assert_refused(dir.path(), &ledger, "not a valid head");

    let (other, _) = build(10, 4);
    fs::copy(head_file(other.path()), head_file(dir.path())).expect("copy");
    assert_refused(dir.path(), &ledger, "signed by key");

    fs::remove_file(head_file(dir.path())).expect("remove");
    assert_refused(dir.path(), &ledger, "ledger.head is missing");
}

#[test]
fn an_emptied_ledger_with_its_head_is_refused() {
    let (dir, ledger) = build(3, 4);
    fs::write(ledger_file(dir.path()), b"").expect("write");
    assert_refused(dir.path(), &ledger, "emptied or deleted");
}

#[test]
fn a_torn_or_garbled_last_line_is_refused() {
    let (dir, ledger) = build(10, 4);
    let data = fs::read(ledger_file(dir.path())).expect("read");
    fs::write(ledger_file(dir.path()), &data[..data.len() - 5]).expect("write");
    assert_refused(dir.path(), &ledger, "incomplete");

    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.push(b"{\"seq\":".to_vec());
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "not valid JSON");
}

#[test]
fn a_ledger_deleted_with_its_head_while_the_keys_stay_is_refused_and_reported_lost() {
    let (dir, ledger) = build(10, 4);
    let key = ledger.public_key().expect("key").expect("present");
    assert!(
        first_use_file(dir.path()).is_file(),
        "the first signature is recorded"
    );
    fs::remove_file(ledger_file(dir.path())).expect("remove");
    fs::remove_file(head_file(dir.path())).expect("remove");
    assert_refused(dir.path(), &ledger, "the ledger was lost");
    assert!(!ledger_file(dir.path()).exists(), "no new chain is started");
    let v = ledger.verify_with_key(&key).expect("verify");
    let problem = v.problem.expect("lost, also with a pinned key");
    assert!(problem.message.contains("first signed at"), "{problem}");

    // An empty file in place of the ledger is the same loss.
    fs::write(ledger_file(dir.path()), b"").expect("write");
    assert_refused(dir.path(), &ledger, "the ledger was lost");
}

#[test]
fn a_pinned_key_with_no_ledger_at_all_is_reported() {
    let (dir, ledger) = build(3, 4);
    let key = ledger.public_key().expect("key").expect("present");
    // The whole state folder is gone, the first-use record with it.
    fs::remove_dir_all(dir.path()).expect("remove");
    let v = ledger.verify_with_key(&key).expect("verify");
    let problem = v.problem.expect("a pinned key expects a ledger");
    assert!(problem.message.contains("no ledger exists"), "{problem}");
    assert!(ledger.verify().expect("verify").is_ok(), "nothing to check");
}

#[test]
fn a_ledger_written_before_first_use_records_gets_one_on_its_next_append() {
    let (dir, ledger) = build(5, 4);
    fs::remove_file(first_use_file(dir.path())).expect("remove");
    ledger.append(entry(5)).expect("append");
    let record = fs::read_to_string(first_use_file(dir.path())).expect("recorded");
    assert!(record.contains("\"seq\":5"), "{record}");
    // A later append keeps the first one.
    ledger.append(entry(6)).expect("append");
    assert_eq!(
        fs::read_to_string(first_use_file(dir.path())).expect("read"),
        record
    );
}

#[test]
fn an_append_interrupted_before_its_head_was_replaced_is_completed() {
    // The crash left e10 written and its signed head pending in ledger.head.tmp.
    let (dir, ledger) = build(10, 4);
    let old_head = fs::read(head_file(dir.path())).expect("read");
    ledger.append(entry(10)).expect("append");
    fs::rename(head_file(dir.path()), pending_head_file(dir.path())).expect("rename");
    fs::write(head_file(dir.path()), old_head).expect("write");
    assert!(
        !ledger.verify().expect("verify").is_ok(),
        "e10 is not covered yet"
    );

    ledger
        .append(entry(11))
        .expect("the pending head vouches for e10");
    let v = ledger.verify().expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries, 12);
    assert!(!pending_head_file(dir.path()).exists());
}

#[test]
fn an_append_interrupted_before_its_entry_was_written_is_ignored() {
    // The crash left a pending head for an e10 that never reached the file.
    let (dir, ledger) = build(10, 4);
    let before = fs::read(ledger_file(dir.path())).expect("read");
    let old_head = fs::read(head_file(dir.path())).expect("read");
    ledger.append(entry(10)).expect("append");
    fs::rename(head_file(dir.path()), pending_head_file(dir.path())).expect("rename");
    fs::write(head_file(dir.path()), old_head).expect("write");
    fs::write(ledger_file(dir.path()), before).expect("write");
    assert!(ledger.verify().expect("verify").is_ok());

    let written = ledger.append(entry(10)).expect("append");
    assert_eq!(written.seq, 10);
    assert!(ledger.verify().expect("verify").is_ok());
}

#[test]
fn a_pending_head_does_not_vouch_for_a_forged_entry() {
    let (dir, ledger) = build(10, 4);
    let before = fs::read(ledger_file(dir.path())).expect("read");
    let old_head = fs::read(head_file(dir.path())).expect("read");
    ledger.append(entry(10)).expect("append");
    fs::rename(head_file(dir.path()), pending_head_file(dir.path())).expect("rename");
    fs::write(head_file(dir.path()), old_head).expect("write");
    // Put back the old file and forge a different e10 after it.
    fs::write(ledger_file(dir.path()), before).expect("write");
    let mut lines = read_lines(dir.path());
    let prev = hex::encode(Sha256::digest(&lines[11]));
    lines.push(
        format!(
            concat!(
                r#"{{"seq":10,"time":"2026-11-26T11:31:00.000Z","actor":"mallory","action":"x","#,
                r#""subject":"y","result":"ok","estate_commit":null,"details":{{}},"prev":"{}"}}"#
            ),
            prev
        )
        .into_bytes(),
    );
    write_lines(dir.path(), &lines);
    assert_refused(dir.path(), &ledger, "not covered by the signed head");
}

#[test]
fn a_ledger_whose_keys_were_deleted_is_not_given_new_ones() {
    let (dir, ledger) = build(5, 4);
    fs::remove_dir_all(dir.path().join("keys")).expect("remove");
    let before = snapshot(dir.path());
    let err = ledger.append(entry(5)).expect_err("must refuse");
    assert!(matches!(err, LedgerError::Key { .. }), "{err}");
    assert_eq!(snapshot(dir.path()), before);
    assert!(
        !dir.path().join("keys/ledger.ed25519").exists(),
        "no second key is made for an existing ledger"
    );
}

#[test]
fn appends_without_checkpoints_still_check_the_whole_chain() {
    let (dir, ledger) = build(5, 0);
    edit_line(
        dir.path(),
        2,
        "\"actor\":\"user-1\"",
        "\"actor\":\"mallory\"",
    );
    assert_refused(dir.path(), &ledger, "this entry was edited");
}
