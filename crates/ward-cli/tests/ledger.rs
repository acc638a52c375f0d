//! End-to-end tests of the ledger through the `ward` binary: a command that appends refuses
//! (exit 3, naming `ward audit verify`) to sign over a tampered or lost ledger, a replaced
//! key says so, and credentials in URLs never reach the output.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(estate: &Path, args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("--estate")
        .arg(estate)
        .args(args)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env_remove("WARD_PUSHGATEWAY")
        .env_remove("PGPASSWORD")
        .env("WARD_ACTOR", "alice")
        .env("NO_COLOR", "1")
        .output()
        .expect("run ward");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The example estate, initialised (one ledger entry) and checked with `--record` twice.
fn estate(tmp: &tempfile::TempDir) -> PathBuf {
    let dir = tmp.path().join("care");
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("init")
        .arg(&dir)
        .args(["--example", "healthcare", "--actor", "alice"])
        .env_remove("WARD_STATE")
        .output()
        .expect("run ward init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..2 {
        let (code, out, err) = record(&dir);
        assert!(code == 0 || code == 1, "check --record: {out}{err}");
    }
    dir
}

/// `ward check --record`: a command that appends to the ledger.
fn record(estate: &Path) -> (i32, String, String) {
    ward(estate, &["check", "--record"])
}

fn ledger_files(estate: &Path) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let state = estate.join(".ward");
    (
        std::fs::read(state.join("ledger.jsonl")).ok(),
        std::fs::read(state.join("ledger.head")).ok(),
    )
}

fn lines(estate: &Path) -> Vec<String> {
    std::fs::read_to_string(estate.join(".ward/ledger.jsonl"))
        .expect("read ledger")
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(estate: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(estate.join(".ward/ledger.jsonl"), text).expect("write ledger");
}

/// The append is refused with exit 3 and a pointer to `ward audit verify`, in text and
/// JSON; nothing is written, and `audit verify` still fails.
fn assert_append_refused(estate: &Path, words: &str) {
    let before = ledger_files(estate);
    let (code, _, err) = record(estate);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("ward audit verify"), "{err}");
    assert!(err.contains(words), "expected {words:?} in: {err}");
    let (code, out, err) = ward(estate, &["check", "--record", "-o", "json"]);
    assert_eq!(code, 3, "{out}{err}");
    // The check's own report comes first; the failure is the last JSON document.
    let failure = serde_json::Deserializer::from_str(&out)
        .into_iter::<serde_json::Value>()
        .filter_map(Result::ok)
        .last()
        .expect("a JSON failure");
    assert_eq!(failure["error"], "operational", "{out}");
    assert!(
        failure["hint"]
            .as_str()
            .is_some_and(|h| h.contains("ward audit verify")),
        "{failure}"
    );
    assert_eq!(ledger_files(estate), before, "the refused append wrote");
    let (code, _, err) = ward(estate, &["audit", "verify"]);
    assert_eq!(code, 1, "verify must still report the damage: {err}");
}

#[test]
fn a_command_that_appends_refuses_a_tampered_ledger_with_exit_3() {
    // A truncated tail.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let mut all = lines(&dir);
    all.pop();
    write_lines(&dir, &all);
    assert_append_refused(&dir, "missing from the end");

    // An entry forged without the key: a copy of the last line with the next seq.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let mut all = lines(&dir);
    let forged = all[2].replace("\"seq\":2,", "\"seq\":3,");
    all.push(forged);
    write_lines(&dir, &all);
    assert_append_refused(&dir, "refusing to append");

    // The last entry edited.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let mut all = lines(&dir);
    all[2] = all[2].replace("\"actor\":\"alice\"", "\"actor\":\"mallory\"");
    write_lines(&dir, &all);
    assert_append_refused(&dir, "signed head");

    // The head file edited.
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let head = dir.join(".ward/ledger.head");
    let text = std::fs::read_to_string(&head).expect("read head");
    std::fs::write(&head, text.replace("\"seq\":2,", "\"seq\":1,")).expect("write head");
    assert_append_refused(&dir, "ledger.head was tampered with");
}

#[test]
fn a_ledger_deleted_while_its_key_stays_is_reported_lost() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let (_, key, _) = ward(&dir, &["audit", "head", "-o", "json"]);
    let key: serde_json::Value = serde_json::from_str(&key).expect("head json");
    let key = key["key"].as_str().expect("key").to_string();
    std::fs::remove_file(dir.join(".ward/ledger.jsonl")).expect("remove");
    std::fs::remove_file(dir.join(".ward/ledger.head")).expect("remove");

    for extra in [vec![], vec!["--public-key", key.as_str()]] {
        let mut args = vec!["audit", "verify"];
        args.extend(extra);
        let (code, out, err) = ward(&dir, &args);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("the ledger was lost"), "{err}");
        assert!(!out.contains("intact"), "{out}");
    }
    assert_append_refused(&dir, "the ledger was lost");
    assert!(!dir.join(".ward/ledger.jsonl").exists(), "no new chain");
}

#[test]
fn a_replaced_key_file_says_so_and_what_to_do() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let other = tempfile::tempdir().expect("tmp");
    let other = estate(&other);
    std::fs::copy(
        other.join(".ward/keys/ledger.pub"),
        dir.join(".ward/keys/ledger.pub"),
    )
    .expect("copy");
    let (code, _, err) = record(&dir);
    assert_eq!(code, 3, "{err}");
    assert!(!err.contains("writable"), "a misleading hint: {err}");
    assert!(err.contains("replaced"), "{err}");
    assert!(err.contains("ward audit verify"), "{err}");

    // Both halves replaced by another ledger's pair: the signatures name the other key.
    std::fs::copy(
        other.join(".ward/keys/ledger.ed25519"),
        dir.join(".ward/keys/ledger.ed25519"),
    )
    .expect("copy");
    let before = ledger_files(&dir);
    let (code, _, err) = record(&dir);
    assert_eq!(code, 3, "{err}");
    assert!(!err.contains("writable"), "a misleading hint: {err}");
    assert!(err.contains("key files were replaced"), "{err}");
    assert!(err.contains("ward audit verify"), "{err}");
    assert_eq!(ledger_files(&dir), before);
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn credentials_in_a_pushgateway_url_are_never_printed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let url = format!("http://user:s3cret@127.0.0.1:{}/", closed_port());
    for output in ["text", "json"] {
        // The drill fails (no database), and its result is still pushed, and refused.
        let (code, out, err) = ward(
            &dir,
            &["drill", "billing/prod", "--pushgateway", &url, "-o", output],
        );
        assert_ne!(code, 0, "{out}{err}");
        let all = format!("{out}{err}");
        assert!(
            all.contains("Pushgateway at http://***@127.0.0.1:"),
            "the push was tried and names its URL: {all}"
        );
        assert!(!all.contains("s3cret"), "{output}: {all}");
        assert!(!all.contains("user:"), "{output}: {all}");
    }
}

#[test]
fn credentials_in_any_reported_url_are_masked() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = estate(&tmp);
    let port = closed_port();
    for url in [
        format!("postgres://drill:s3cret@127.0.0.1:{port}/postgres"),
        format!("postgres://drill@127.0.0.1:{port}/postgres?password=s3cret"),
    ] {
        for output in ["text", "json"] {
            let (code, out, err) = ward(
                &dir,
                &["drill", "billing/prod", "--db-url", &url, "-o", output],
            );
            assert_ne!(code, 0, "{out}{err}");
            let all = format!("{out}{err}");
            assert!(!all.contains("s3cret"), "{url} {output}: {all}");
        }
    }
}
