//! The chain without its file: `chain::next_entry` extends a file ledger's chain exactly as
//! `Ledger::append` would, `Verifier` fed the file's lines agrees with `Ledger::verify`
//! (problems included), and `LedgerKey` loads the key that signed it.

mod common;

use std::fs;

use common::{build, edit_line, entry, head_file, ledger_file, read_lines};
use ward_ledger::chain::{self, ParsedLine};
use ward_ledger::{Ledger, LedgerError, LedgerKey, PublicKey, Verification, Verifier};

fn walk(lines: &[Vec<u8>], head: Option<&[u8]>, public: &PublicKey) -> Verification {
    let mut verifier = Verifier::new(public, head);
    for line in lines {
        if !verifier.push(line) {
            break;
        }
    }
    verifier.finish()
}

#[test]
fn the_verifier_agrees_with_verify_on_sound_and_damaged_ledgers() {
    let (dir, ledger) = build(10, 4);
    let public =
        PublicKey::from_hex(&ledger.public_key().expect("key").expect("a key")).expect("parses");
    let head = fs::read(head_file(dir.path())).expect("head");
    let sound = walk(&read_lines(dir.path()), Some(&head), &public);
    assert!(sound.is_ok(), "{sound:?}");
    assert_eq!(sound, ledger.verify().expect("verify"));

    edit_line(dir.path(), 7, "user-5", "user-X");
    let damaged = walk(&read_lines(dir.path()), Some(&head), &public);
    assert_eq!(damaged, ledger.verify().expect("verify"));
    let problem = damaged.problem.expect("a problem");
    assert_eq!((problem.line, problem.seq), (7, Some(5)));

    // Without the head, the end cannot be checked.
    let (dir, _ledger) = build(3, 0);
    let found = walk(&read_lines(dir.path()), None, &public)
        .problem
        .expect("a problem");
    assert!(found.message.contains("ledger.head is missing"), "{found}");
}

#[test]
fn next_entry_extends_a_file_chain_as_append_would() {
    let (dir, ledger) = build(7, 4);
    let snapshot = ledger.snapshot(None).expect("snapshot");
    assert!(snapshot.verification.is_ok());
    let public = snapshot.public_key.expect("a public key");
    let key = LedgerKey::load(dir.path()).expect("key");
    assert_eq!(key.public_key(), public);

    // The window from the entry before the last checkpoint (seq 3, line 4) to the end.
    let mut window = Vec::new();
    for line in &snapshot.lines[3..] {
        window.extend_from_slice(line);
        window.push(b'\n');
    }
    let end = chain::check_end(&window, true, snapshot.head.as_deref(), &public).expect("sound");
    assert_eq!(end.seq, 6);
    assert_eq!(end.hash, chain::hash_line(&snapshot.lines[7]));

    let appended =
        chain::next_entry(&key, Some(&end), entry(7), chain::now(), 4).expect("next entry");
    assert_eq!(appended.entry.seq, 7);
    assert_eq!(appended.entry.prev, end.hash);
    let checkpoint = appended
        .checkpoint
        .clone()
        .expect("a checkpoint after seq 7");
    assert!(matches!(
        chain::parse_line(&checkpoint),
        Ok(ParsedLine::Checkpoint(cp)) if cp.seq == 7
    ));
    assert!(matches!(
        chain::parse_line(&appended.line),
        Ok(ParsedLine::Entry(e)) if e == appended.entry
    ));

    // Written into the files by hand, the file ledger verifies and goes on appending.
    let mut data = fs::read(ledger_file(dir.path())).expect("read");
    for line in [&appended.line, &checkpoint] {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    fs::write(ledger_file(dir.path()), data).expect("write");
    fs::write(head_file(dir.path()), &appended.head_bytes).expect("write");
    let v = ledger.verify().expect("verify");
    assert!(v.is_ok(), "{v:?}");
    assert_eq!((v.entries, v.last_checkpoint_seq), (8, Some(7)));
    assert_eq!(ledger.append(entry(8)).expect("append").seq, 8);
    assert!(ledger.verify().expect("verify").is_ok());

    // A damaged end is refused by check_end with the walk's words.
    let problem = chain::check_end(&window, true, None, &public).expect_err("no head");
    assert!(
        problem.message.contains("ledger.head is missing"),
        "{problem}"
    );
}

#[test]
fn ledger_keys_load_or_are_created_only_for_a_folder_without_a_ledger() {
    let fresh = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        LedgerKey::load(fresh.path()),
        Err(LedgerError::Key { .. })
    ));
    let key = LedgerKey::load_or_create(fresh.path()).expect("creates");
    let again = LedgerKey::load_or_create(fresh.path()).expect("loads");
    assert_eq!(key.public_key(), again.public_key());
    assert!(!format!("{key:?}").is_empty());
    // The file ledger then signs with the same key.
    let ledger = Ledger::open(fresh.path()).expect("open");
    ledger.append(entry(0)).expect("append");
    assert_eq!(
        ledger.public_key().expect("key"),
        Some(key.public_key().to_hex())
    );

    // A ledger whose key is gone does not get a new one.
    let (dir, _ledger) = build(2, 0);
    fs::remove_dir_all(dir.path().join("keys")).expect("remove keys");
    assert!(matches!(
        LedgerKey::load_or_create(dir.path()),
        Err(LedgerError::Key { .. })
    ));
    assert!(matches!(
        PublicKey::from_hex("nope"),
        Err(LedgerError::InvalidPublicKey(_))
    ));
}
