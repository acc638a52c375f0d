//! End-to-end tests of the `ward` binary: the README's main job, exit codes, global flags,
//! and error output for people and for scripts.

use std::path::Path;
use std::process::{Command, Output};

fn ward(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ward"));
    c.args(args)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env_remove("WARD_ACTOR")
        .env("NO_COLOR", "1");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run ward");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn init(dir: &Path) {
    let (code, out, err) = run(&mut ward(&[
        "init",
        dir.to_str().expect("utf8"),
        "--example",
        "healthcare",
        "--actor",
        "alice",
    ]));
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn main_job_init_validate_classify_explain_audit() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    let d = dir.to_str().expect("utf8");
    init(&dir);
    assert!(dir.join(".git").is_dir(), "init makes a Git repository");

    let (code, out, _) = run(&mut ward(&["--estate", d, "validate"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("estate valid: 7 files, 3 teams, 4 workloads, 5 environments"),
        "{out}"
    );
    assert!(!out.contains("-dirty"), "a fresh init is committed: {out}");

    let (code, out, _) = run(&mut ward(&["--estate", d, "classify", "-o", "wide"]));
    assert_eq!(code, 0);
    let billing = out
        .lines()
        .find(|l| l.starts_with("billing/prod"))
        .expect("billing row");
    assert!(
        billing.contains(" 1 ")
            && billing.contains("dedicated")
            && billing.contains("recovery-eu2"),
        "{billing}"
    );
    let sandbox = out
        .lines()
        .find(|l| l.starts_with("training-sandbox/sandbox"))
        .expect("sandbox row");
    assert!(
        sandbox.contains(" 3 ") && sandbox.contains("multi-tenant"),
        "{sandbox}"
    );

    let (code, out, _) = run(&mut ward(&["--estate", d, "classify", "--output", "json"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["environments"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["commit"].as_str().map(str::len), Some(40));
    // The RPO (15m) is met by WAL archiving; snapshots and base backups keep their own
    // cadence (the platform tightens snapshots to 12h).
    let posture = &v["environments"][0]["classification"]["posture"];
    assert_eq!(posture["archiveTimeout"], "5m");
    assert_eq!(posture["baseBackupInterval"], "1d");
    assert_eq!(posture["backupInterval"], "12h");

    let (code, out, _) = run(&mut ward(&["--estate", d, "explain", "billing/prod"]));
    assert_eq!(code, 0);
    for needle in [
        "[T1-uptime] tier 1 because uptime objective 99.95% ≥ 99.9%",
        "[H-phi-production]",
        "[P-rpo]",
        "recovery-eu2",
        "RPO 15m: continuous WAL archiving, a segment archived at the latest every 5m",
        "logical snapshots        every 12h, from billing-prod-db-ro",
    ] {
        assert!(out.contains(needle), "explain lacks {needle}:\n{out}");
    }

    let (code, out, _) = run(&mut ward(&["--estate", d, "audit", "log", "-o", "json"]));
    assert_eq!(code, 0);
    let log: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(log[0]["action"], "init");
    assert_eq!(log[0]["actor"], "alice");
    assert_eq!(log[0]["estate_commit"], v["commit"]);

    let (code, out, _) = run(&mut ward(&["--estate", d, "audit", "verify"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ledger intact: 1 entries"), "{out}");
}

#[test]
fn estate_errors_show_file_line_caret_and_hint_with_exit_2() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    init(&dir);
    let f = dir.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&f).expect("read");
    std::fs::write(
        &f,
        text.replace("      replicas: 3", "      replica: 3")
            .replace("rpo: 15m", "rpo: soon"),
    )
    .expect("write");
    let line = std::fs::read_to_string(&f)
        .expect("read")
        .lines()
        .position(|l| l == "      replica: 3")
        .expect("edited")
        + 1;
    let (code, out, err) = run(&mut ward(&[
        "--estate",
        dir.to_str().expect("utf8"),
        "validate",
    ]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "workloads/billing.yaml:{line}:7: unknown field `spec.environments[0].replica`"
        )),
        "{err}"
    );
    assert!(
        err.contains("replica: 3"),
        "the offending line is shown: {err}"
    );
    assert!(
        err.contains('^') || err.contains('─'),
        "a caret marks the place: {err}"
    );
    assert!(err.contains("did you mean `replicas`?"), "{err}");
    assert!(
        err.contains("workloads/billing.yaml:15:10: `spec.classification.rpo` is not a duration"),
        "{err}"
    );
    assert!(err.contains("the estate has 2 problem(s)"), "{err}");

    let (code, out, _) = run(&mut ward(&[
        "--estate",
        dir.to_str().expect("utf8"),
        "validate",
        "-o",
        "json",
    ]));
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["diagnostics"][0]["file"], "workloads/billing.yaml");
    assert_eq!(v["diagnostics"][0]["line"], 15);
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    init(&dir);
    let d = dir.to_str().expect("utf8");
    let (code, _, err) = run(&mut ward(&["--estate", d, "explain", "billing/production"]));
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `billing/prod`?"), "{err}");
    let (code, _, _) = run(&mut ward(&["--estate", d, "classify", "--no-such-flag"]));
    assert_eq!(code, 2);
    let (code, _, err) = run(&mut ward(&["--estate", "/nonexistent/estate", "validate"]));
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = run(&mut ward(&["init", d]));
    assert_eq!(code, 2, "init never overwrites");
    assert!(err.contains("exists and is not empty"), "{err}");
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["validate", "--help"],
        vec!["classify", "--help"],
        vec!["explain", "--help"],
        vec!["audit", "log", "--help"],
        vec!["audit", "verify", "--help"],
    ] {
        let (code, out, _) = run(&mut ward(&args));
        assert_eq!(code, 0, "{args:?}");
        assert!(
            out.contains("Example"),
            "{args:?} help has no example:\n{out}"
        );
        for flag in ["--estate", "--state", "--actor", "--output"] {
            assert!(out.contains(flag), "{args:?} help lacks {flag}");
        }
    }
}

#[test]
fn state_and_actor_come_from_flags_then_environment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    let state = tmp.path().join("elsewhere");
    let (code, _, err) = run(ward(&["init", dir.to_str().expect("utf8")])
        .env("WARD_STATE", &state)
        .env("WARD_ACTOR", "bob"));
    assert_eq!(code, 0, "{err}");
    assert!(
        state.join("ledger.jsonl").is_file(),
        "WARD_STATE is honoured"
    );
    assert!(!dir.join(".ward").exists());
    let (_, out, _) = run(&mut ward(&[
        "--estate",
        dir.to_str().expect("utf8"),
        "--state",
        state.to_str().expect("utf8"),
        "audit",
        "log",
        "-o",
        "json",
    ]));
    let log: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(log[0]["actor"], "bob");

    let dir2 = tmp.path().join("care2");
    let (code, _, _) = run(
        ward(&["init", dir2.to_str().expect("utf8"), "--actor", "carol"]).env("WARD_ACTOR", "bob"),
    );
    assert_eq!(code, 0);
    let (_, out, _) = run(ward(&["audit", "log", "-o", "json"]).env("WARD_ESTATE", &dir2));
    let log: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(log[0]["actor"], "carol", "--actor wins over WARD_ACTOR");
}

#[test]
fn audit_verify_names_a_tampered_entry() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    init(&dir);
    let ledger = dir.join(".ward/ledger.jsonl");
    let text = std::fs::read_to_string(&ledger).expect("read");
    std::fs::write(
        &ledger,
        text.replace("\"actor\":\"alice\"", "\"actor\":\"mallory\""),
    )
    .expect("write");
    let (code, _, err) = run(&mut ward(&[
        "--estate",
        dir.to_str().expect("utf8"),
        "audit",
        "verify",
    ]));
    assert_eq!(code, 1);
    assert!(
        err.contains("ledger TAMPERED: first bad entry at line 1"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_stops_ward_quietly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    init(&dir);
    // Enough environments that the JSON outgrows the pipe's buffer, so ward is still
    // writing when the reader goes away.
    let sandbox =
        std::fs::read_to_string(dir.join("workloads/training-sandbox.yaml")).expect("read");
    for i in 0..150 {
        let copy = sandbox
            .replace("name: training-sandbox", &format!("name: sandbox-{i}"))
            .replace("training.st-marys", &format!("sandbox-{i}.st-marys"));
        std::fs::write(dir.join(format!("workloads/sandbox-{i}.yaml")), copy).expect("write");
    }
    let bin = env!("CARGO_BIN_EXE_ward");
    // `head -c 1` reads one byte and closes the pipe while ward is still writing.
    let script = format!(
        "'{bin}' --estate '{}' classify -o json | head -c 1 >/dev/null; '{bin}' controls | head -n 1 >/dev/null",
        dir.display()
    );
    for _ in 0..3 {
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", &script])
            .output()
            .expect("bash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{:?} {err}",
            out.status
        );
    }
}

/// `ward init` pins a backup signing key per example environment, its private half in the
/// state folder (0600); `ward backup keygen` never overwrites one and prints the line to pin.
#[test]
fn init_pins_signing_keys_and_keygen_prints_the_line_to_pin() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    let d = dir.to_str().expect("utf8");
    init(&dir);
    let key = dir.join(".ward/keys/backup/billing/prod.ed25519");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let billing = std::fs::read_to_string(dir.join("workloads/billing.yaml")).expect("read");
    assert_eq!(
        billing.matches("signingKeys: [\"ed25519:").count(),
        2,
        "{billing}"
    );

    let (code, _, err) = run(&mut ward(&[
        "--estate",
        d,
        "backup",
        "keygen",
        "billing/prod",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("exists") && err.contains("never overwritten"),
        "{err}"
    );

    let out_file = tmp.path().join("new.ed25519");
    let (code, out, err) = run(&mut ward(&[
        "--estate",
        d,
        "backup",
        "keygen",
        "billing/prod",
        "--out",
        out_file.to_str().expect("utf8"),
        "-o",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let line = v["signingKey"].as_str().expect("key");
    assert!(line.starts_with("ed25519:") && line.len() == 52, "{line}");
    assert_eq!(
        v["secret"],
        "hospital-vault:ward/backup-signing/billing/prod#private_key"
    );
    assert!(out_file.is_file());
    // The printed line is one the estate accepts.
    let pinned = billing.replacen(
        "signingKeys: [\"",
        &format!("signingKeys: [\"{line}\", \""),
        1,
    );
    std::fs::write(dir.join("workloads/billing.yaml"), pinned).expect("write");
    let (code, out, err) = run(&mut ward(&["--estate", d, "validate"]));
    assert_eq!(code, 0, "{out}{err}");
}
