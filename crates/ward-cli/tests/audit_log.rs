//! `ward audit log` through the binary: `--by`, `--action`, `--subject` and `--since`
//! narrow both the table and `-o json`, and an entry made on a work tree with uncommitted
//! changes shows its commit as `<sha>-dirty`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(estate: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
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
        .env("WARD_ACTOR", actor)
        .env("NO_COLOR", "1")
        .output()
        .expect("run ward");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The example estate: `init` by alice, `check --record` by bob on the clean commit, then
/// by carol after an uncommitted edit.
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
    let (code, out, err) = ward(&dir, "bob", &["check", "--record"]);
    assert!(code == 0 || code == 1, "check --record: {out}{err}");
    std::fs::write(dir.join("NOTES.md"), "an uncommitted edit\n").expect("test setup");
    let (code, out, err) = ward(&dir, "carol", &["check", "--record"]);
    assert!(code == 0 || code == 1, "check --record: {out}{err}");
    dir
}

/// The `ACTOR` column of each table row.
fn actors(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
        .collect()
}

fn json_actors(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("audit log -o json parses");
    v.as_array()
        .expect("an array")
        .iter()
        .map(|e| e["actor"].as_str().expect("test setup").to_string())
        .collect()
}

#[test]
fn filters_narrow_the_table_and_json_and_a_dirty_estate_shows() {
    let tmp = tempfile::tempdir().expect("test setup");
    let dir = estate(&tmp);
    let log = |args: &[&str]| {
        let mut all = vec!["audit", "log"];
        all.extend_from_slice(args);
        let (code, out, err) = ward(&dir, "alice", &all);
        assert_eq!(code, 0, "audit log {args:?}: {out}{err}");
        out
    };

    let all = log(&[]);
    assert_eq!(actors(&all), ["alice", "bob", "carol"], "{all}");
    // bob's check was on the committed tree, carol's after an uncommitted edit.
    let bob = all
        .lines()
        .find(|l| l.contains(" bob "))
        .expect("test setup");
    let carol = all
        .lines()
        .find(|l| l.contains(" carol "))
        .expect("test setup");
    assert!(!bob.contains("-dirty"), "{all}");
    assert!(carol.trim_end().ends_with("-dirty"), "{all}");

    assert_eq!(actors(&log(&["--by", "bob"])), ["bob"]);
    assert_eq!(actors(&log(&["--action", "check"])), ["bob", "carol"]);
    assert_eq!(actors(&log(&["--action", "ini*"])), ["alice"]);
    // Exact unless it ends in `*`: a prefix alone matches nothing.
    assert!(actors(&log(&["--action", "ini"])).is_empty());
    assert_eq!(actors(&log(&["--subject", "esta"])), ["bob", "carol"]);
    assert_eq!(actors(&log(&["--since", "1h"])), ["alice", "bob", "carol"]);
    assert!(actors(&log(&["--since", "2999-01-01T00:00:00Z"])).is_empty());
    // Filters combine, and `--tail` counts what matched.
    assert_eq!(
        actors(&log(&["--action", "check", "--since", "7d", "-n", "1"])),
        ["carol"]
    );

    assert_eq!(
        json_actors(&log(&["-o", "json", "--action", "check", "--by", "carol"])),
        ["carol"]
    );
    assert_eq!(
        json_actors(&log(&["-o", "json", "--subject", "nothing-like-it"])).len(),
        0
    );

    let (code, _, err) = ward(&dir, "alice", &["audit", "log", "--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--since") && err.contains("24h"), "{err}");
}
