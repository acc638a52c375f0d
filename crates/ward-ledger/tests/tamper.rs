//! Each way of tampering with the ledger that verify promises to catch, proven on a real
//! ledger of 10 entries with a checkpoint after every 4th. Its lines are:
//! 1 e0 · 2 e1 · 3 e2 · 4 e3 · 5 C3 · 6 e4 · 7 e5 · 8 e6 · 9 e7 · 10 C7 · 11 e8 · 12 e9.

mod common;

use std::fs;

use common::{build, edit_line, entry, head_file, ledger_file, read_lines, write_lines};
use sha2::{Digest, Sha256};
use ward_ledger::{GENESIS, Ledger, LedgerError, Problem, Verification};

fn problem(v: &Verification) -> &Problem {
    v.problem.as_ref().expect("verify must report a problem")
}

fn assert_problem(v: &Verification, line: u64, seq: Option<u64>, words: &str) {
    let p = problem(v);
    assert_eq!((p.line, p.seq), (line, seq), "{p}");
    assert!(p.message.contains(words), "expected {words:?} in: {p}");
}

#[test]
fn an_absent_ledger_verifies_with_zero_entries_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let ledger = Ledger::open(&state).expect("open");
    let v = ledger.verify().expect("verify");
    assert_eq!(
        v,
        Verification {
            entries: 0,
            checkpoints: 0,
            last_checkpoint_seq: None,
            problem: None
        }
    );
    assert!(ledger.entries().expect("entries").is_empty());
    assert_eq!(ledger.head().expect("head"), None);
    assert_eq!(ledger.public_key().expect("key"), None);
    assert!(
        !state.exists(),
        "open/verify/entries must not create the folder"
    );
}

#[test]
fn an_empty_ledger_file_verifies_with_zero_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(ledger_file(dir.path()), b"").expect("write");
    let v = Ledger::open(dir.path())
        .expect("open")
        .verify()
        .expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.entries, 0);
}

#[test]
fn open_refuses_a_file_as_state_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    fs::write(&file, b"x").expect("write");
    assert!(matches!(Ledger::open(&file), Err(LedgerError::Io { .. })));
}

#[test]
fn a_fresh_ledger_verifies_and_chains_exact_line_bytes() {
    let (dir, ledger) = build(10, 4);
    let v = ledger.verify().expect("verify");
    assert_eq!(
        v,
        Verification {
            entries: 10,
            checkpoints: 2,
            last_checkpoint_seq: Some(7),
            problem: None
        }
    );

    let lines = read_lines(dir.path());
    assert_eq!(lines.len(), 12);
    let kinds: String = lines
        .iter()
        .map(|l| {
            if l.starts_with(b"{\"checkpoint\":") {
                'C'
            } else {
                'e'
            }
        })
        .collect();
    assert_eq!(kinds, "eeeeCeeeeCee");

    let entries = ledger.entries().expect("entries");
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(entries[0].prev, GENESIS);
    let entry_lines: Vec<&Vec<u8>> = lines
        .iter()
        .filter(|l| l.starts_with(b"{\"seq\":"))
        .collect();
    for (i, e) in entries.iter().enumerate().skip(1) {
        assert_eq!(
            e.prev,
            hex::encode(Sha256::digest(entry_lines[i - 1])),
            "entry {i}"
        );
    }
    assert_eq!(entries[3].actor, "user-3");
    assert_eq!(entries[3].details["i"], serde_json::json!(3));

    let head = ledger.head().expect("head").expect("present");
    assert_eq!(head.seq, 9);
    assert_eq!(head.hash, hex::encode(Sha256::digest(entry_lines[9])));
    assert_eq!(head.checkpoint, hex::encode(Sha256::digest(&lines[9])));
    assert_eq!(Some(head.key), ledger.public_key().expect("key"));
}

#[test]
fn append_returns_the_entry_as_written() {
    let (_dir, ledger) = build(2, 4);
    let written = ledger.append(entry(2)).expect("append");
    assert_eq!(written.seq, 2);
    assert_eq!(ledger.entries().expect("entries").last(), Some(&written));
    assert!(written.time.ends_with('Z'));
}

#[test]
fn the_default_checkpoint_interval_is_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path()).expect("open");
    for i in 0..65 {
        ledger.append(entry(i)).expect("append");
    }
    let v = ledger.verify().expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(
        (v.entries, v.checkpoints, v.last_checkpoint_seq),
        (65, 1, Some(63))
    );
    assert!(read_lines(dir.path())[64].starts_with(b"{\"checkpoint\":{\"seq\":63,"));
}

#[test]
fn an_edited_field_is_reported_at_the_edited_entry() {
    let (dir, ledger) = build(10, 4);
    edit_line(
        dir.path(),
        3,
        "\"actor\":\"user-2\"",
        "\"actor\":\"mallory\"",
    );
    let v = ledger.verify().expect("verify");
    assert_problem(&v, 3, Some(2), "this entry was edited");
    assert_eq!(v.entries, 3, "counts stop at the problem");
}

#[test]
fn an_edited_entry_just_before_a_checkpoint_is_caught_by_the_checkpoint() {
    let (dir, ledger) = build(10, 4);
    edit_line(dir.path(), 4, "\"result\":\"ok\"", "\"result\":\"failed\"");
    assert_problem(
        &ledger.verify().expect("verify"),
        4,
        Some(3),
        "signed checkpoint on line 5",
    );
}

#[test]
fn an_edited_last_entry_is_caught_by_the_head() {
    let (dir, ledger) = build(10, 4);
    edit_line(dir.path(), 12, "\"bytes\":1009", "\"bytes\":9");
    assert_problem(
        &ledger.verify().expect("verify"),
        12,
        Some(9),
        "signed head",
    );
}

#[test]
fn an_edited_prev_after_a_checkpoint_blames_that_entry() {
    let (dir, ledger) = build(10, 4);
    let lines = read_lines(dir.path());
    let e3 = hex::encode(Sha256::digest(&lines[3]));
    edit_line(dir.path(), 6, &e3, GENESIS);
    assert_problem(
        &ledger.verify().expect("verify"),
        6,
        Some(4),
        "signed checkpoint vouches",
    );
}

#[test]
fn a_rewritten_chain_is_caught_by_the_next_checkpoint() {
    // The attacker edits e5 and recomputes every later `prev` (no key needed for that).
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines[6] = String::from_utf8(lines[6].clone())
        .expect("utf-8")
        .replace("user-5", "mallory")
        .into_bytes();
    let mut prev = hex::encode(Sha256::digest(&lines[6]));
    for line in [7, 8] {
        let text = String::from_utf8(lines[line].clone()).expect("utf-8");
        let (keep, _) = text.rsplit_once("\"prev\":").expect("has prev");
        lines[line] = format!("{keep}\"prev\":\"{prev}\"}}").into_bytes();
        prev = hex::encode(Sha256::digest(&lines[line]));
    }
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        9,
        Some(7),
        "were rewritten",
    );
}

#[test]
fn a_deleted_line_is_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.remove(6); // e5
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        7,
        Some(6),
        "1 entry was deleted",
    );
}

#[test]
fn reordered_lines_are_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.swap(5, 6); // e4 <-> e5
    write_lines(dir.path(), &lines);
    assert_problem(&ledger.verify().expect("verify"), 6, Some(5), "reordered");
}

#[test]
fn a_duplicated_line_is_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    let e1 = lines[1].clone();
    lines.insert(2, e1);
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        3,
        Some(1),
        "reordered or duplicated",
    );
}

#[test]
fn entries_removed_after_the_last_checkpoint_are_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.truncate(10); // drop e8 and e9; C7 is now the last line and still valid
    write_lines(dir.path(), &lines);
    let v = ledger.verify().expect("verify");
    assert_problem(
        &v,
        11,
        Some(8),
        "entries seq 8..=9 are missing from the end",
    );
    assert_eq!(v.entries, 8);
}

#[test]
fn entries_and_checkpoint_removed_from_the_end_are_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.truncate(9);
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        10,
        Some(8),
        "truncated tail",
    );
}

#[test]
fn an_emptied_log_with_a_head_is_reported() {
    let (dir, ledger) = build(3, 4);
    fs::write(ledger_file(dir.path()), b"").expect("write");
    assert_problem(
        &ledger.verify().expect("verify"),
        1,
        Some(0),
        "emptied or deleted",
    );
}

#[test]
fn a_torn_last_line_is_reported() {
    let (dir, ledger) = build(10, 4);
    let data = fs::read(ledger_file(dir.path())).expect("read");
    fs::write(ledger_file(dir.path()), &data[..data.len() - 40]).expect("write");
    assert_problem(&ledger.verify().expect("verify"), 12, None, "incomplete");
    assert!(matches!(
        ledger.entries(),
        Err(LedgerError::Corrupt { line: Some(12), .. })
    ));
}

#[test]
fn append_refuses_to_build_on_a_torn_line_and_leaves_it_untouched() {
    let (dir, ledger) = build(3, 4);
    let data = fs::read(ledger_file(dir.path())).expect("read");
    let torn = &data[..data.len() - 5];
    fs::write(ledger_file(dir.path()), torn).expect("write");
    let err = ledger.append(entry(3)).expect_err("must refuse");
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err}");
    assert_eq!(fs::read(ledger_file(dir.path())).expect("read"), torn);
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_forged() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    let text = String::from_utf8(lines[4].clone()).expect("utf-8");
    let at = text.find("\"signature\":\"").expect("signature") + 13;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    lines[4] = bytes;
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        5,
        Some(3),
        "signature is invalid",
    );
}

#[test]
fn a_checkpoint_whose_head_was_edited_is_forged() {
    let (dir, ledger) = build(10, 4);
    let lines = read_lines(dir.path());
    let e2 = hex::encode(Sha256::digest(&lines[2]));
    let e3 = hex::encode(Sha256::digest(&lines[3]));
    edit_line(
        dir.path(),
        5,
        &format!("\"head\":\"{e3}\""),
        &format!("\"head\":\"{e2}\""),
    );
    assert_problem(
        &ledger.verify().expect("verify"),
        5,
        Some(3),
        "forged or edited checkpoint",
    );
}

#[test]
fn a_checkpoint_signed_by_another_key_is_forged() {
    let (dir, ledger) = build(10, 4);
    let (other, _) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines[4] = read_lines(other.path())[4].clone();
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        5,
        Some(3),
        "signed by key",
    );
}

#[test]
fn a_moved_checkpoint_is_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    let c3 = lines.remove(4);
    lines.insert(6, c3); // now after e5
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        7,
        Some(3),
        "checkpoint was moved",
    );
}

#[test]
fn a_removed_checkpoint_is_reported() {
    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.remove(4); // C3
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        9,
        Some(7),
        "does not chain",
    );

    let (dir, ledger) = build(10, 4);
    let mut lines = read_lines(dir.path());
    lines.remove(9); // C7, the last one
    write_lines(dir.path(), &lines);
    assert_problem(
        &ledger.verify().expect("verify"),
        12,
        None,
        "not the one the signed head names",
    );
}

#[test]
fn a_tampered_head_file_is_reported() {
    let (dir, ledger) = build(10, 4);
    let head = fs::read_to_string(head_file(dir.path())).expect("read");
    fs::write(
        head_file(dir.path()),
        head.replace("\"seq\":9,", "\"seq\":8,"),
    )
    .expect("write");
    assert_problem(
        &ledger.verify().expect("verify"),
        0,
        None,
        "ledger.head was tampered with",
    );

    fs::write(head_file(dir.path()), b"{not json").expect("write");
    assert_problem(
        &ledger.verify().expect("verify"),
        0,
        None,
        "not a valid head",
    );

    fs::remove_file(head_file(dir.path())).expect("remove");
    assert_problem(
        &ledger.verify().expect("verify"),
        0,
        None,
        "ledger.head is missing",
    );
}

#[test]
fn an_older_head_restored_alone_exposes_the_later_entries() {
    let (dir, ledger) = build(6, 4);
    let old_head = fs::read(head_file(dir.path())).expect("read");
    for i in 6..10 {
        ledger.append(entry(i)).expect("append");
    }
    fs::write(head_file(dir.path()), old_head).expect("write");
    // Lines: e0..e3, C3, e4, e5, e6 (line 8) ...
    assert_problem(
        &ledger.verify().expect("verify"),
        8,
        Some(6),
        "not covered by the signed head",
    );
}

#[test]
fn a_head_from_another_ledger_is_reported() {
    let (dir, ledger) = build(10, 4);
    let (other, _) = build(10, 4);
    fs::copy(head_file(other.path()), head_file(dir.path())).expect("copy");
    assert_problem(&ledger.verify().expect("verify"), 0, None, "signed by key");
}

#[test]
fn entries_appended_without_the_key_are_reported() {
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
    assert_problem(
        &ledger.verify().expect("verify"),
        13,
        Some(10),
        "not covered by the signed head",
    );
}

#[test]
fn a_missing_public_key_is_a_problem_and_a_pinned_key_still_verifies() {
    let (dir, ledger) = build(5, 4);
    let key = ledger.public_key().expect("key").expect("present");
    fs::remove_file(dir.path().join("keys/ledger.pub")).expect("remove");
    assert_problem(
        &ledger.verify().expect("verify"),
        0,
        None,
        "ledger.pub is missing",
    );
    let v = ledger.verify_with_key(&key).expect("verify");
    assert!(v.is_ok(), "{v:?}");
}

#[test]
fn a_replaced_key_pair_is_caught_by_a_pinned_key() {
    let (_dir, ledger) = build(5, 4);
    let pinned = ledger.public_key().expect("key").expect("present");
    // Another ledger stands for a folder rewritten and re-signed with a new key pair.
    let (_other_dir, other) = build(5, 4);
    assert!(other.verify().expect("verify").is_ok());
    assert_problem(
        &other.verify_with_key(&pinned).expect("verify"),
        0,
        None,
        "key pair was replaced",
    );
    assert_problem(
        &other.verify_with_key("zz").expect("verify"),
        0,
        None,
        "pinned key is unusable",
    );
}

#[test]
fn garbage_lines_are_reported_without_panicking() {
    let cases: [(&[u8], &str); 5] = [
        (b"\xff\xfe\xfd", "not valid UTF-8"),
        (b"{\"seq\":", "not valid JSON"),
        (b"", "empty line"),
        (b"42", "not a JSON object"),
        (b"{\"checkpoint\":{}}", "not a valid checkpoint"),
    ];
    for (garbage, words) in cases {
        let (dir, ledger) = build(3, 4);
        let mut lines = read_lines(dir.path());
        lines.insert(1, garbage.to_vec());
        write_lines(dir.path(), &lines);
        assert_problem(&ledger.verify().expect("verify"), 2, None, words);
        assert!(matches!(
            ledger.entries(),
            Err(LedgerError::Corrupt { line: Some(2), .. })
        ));
        // With no checkpoint after it, append has to read past the garbage, and refuses.
        assert!(matches!(
            ledger.append(entry(3)),
            Err(LedgerError::Damaged { .. })
        ));
    }
}

#[test]
fn an_entry_with_an_unknown_outcome_is_reported_with_its_seq() {
    let (dir, ledger) = build(3, 4);
    edit_line(dir.path(), 2, "\"result\":\"ok\"", "\"result\":\"maybe\"");
    assert_problem(
        &ledger.verify().expect("verify"),
        2,
        Some(1),
        "not a valid entry",
    );
}

#[test]
fn every_single_byte_change_is_detected() {
    let (dir, ledger) = build(6, 2);
    assert!(ledger.verify().expect("verify").is_ok());
    for file in [ledger_file(dir.path()), head_file(dir.path())] {
        let original = fs::read(&file).expect("read");
        // A prime stride samples every kind of byte without one verify per byte.
        for at in (0..original.len()).step_by(7) {
            let mut changed = original.clone();
            changed[at] ^= 0x01;
            fs::write(&file, &changed).expect("write");
            let v = ledger.verify().expect("verify");
            assert!(
                !v.is_ok(),
                "flipping byte {at} of {} went unnoticed",
                file.display()
            );
        }
        fs::write(&file, &original).expect("restore");
    }
    assert!(ledger.verify().expect("verify").is_ok());
}
