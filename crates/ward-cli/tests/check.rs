//! `ward check` and `ward controls` end to end: the example estate passes, a seeded
//! mistake exits 1 with its finding, a broken policy exits 2 with its file and line, and
//! every output format parses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .env("WARD_ACTOR", "test")
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .output()
        .expect("ward runs")
}

fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let estate = dir.path().join("care");
    let out = ward(&[
        "init",
        estate.to_str().expect("utf-8"),
        "--example",
        "healthcare",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn estate(dir: &tempfile::TempDir) -> String {
    dir.path().join("care").to_string_lossy().into_owned()
}

#[test]
fn the_example_passes_with_at_most_warnings_in_every_format() {
    let dir = example();
    let e = estate(&dir);
    let text = ward(&["--estate", &e, "check"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(
        text.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        stdout.contains("PASSED") && stdout.contains("rendered object(s)"),
        "{stdout}"
    );

    let json = ward(&["--estate", &e, "check", "--output", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["failed"], false);
    assert!(
        report["objects"].as_u64().is_some_and(|n| n > 0),
        "the estate was rendered"
    );

    let sarif = ward(&["--estate", &e, "check", "-o", "sarif"]);
    assert_eq!(sarif.status.code(), Some(0));
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("SARIF is JSON");
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .is_some_and(|r| r.len() >= 40)
    );

    let junit = ward(&["--estate", &e, "check", "-o", "junit"]);
    assert_eq!(junit.status.code(), Some(0));
    let xml = String::from_utf8_lossy(&junit.stdout);
    assert!(
        xml.starts_with("<?xml") && xml.contains("<testsuite name=\"billing/prod\""),
        "{xml}"
    );
}

#[test]
fn a_seeded_mistake_exits_1_with_its_finding() {
    let dir = example();
    let e = estate(&dir);
    let billing = Path::new(&e).join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    std::fs::write(&billing, text.replace("replicas: 3", "replicas: 1")).expect("write");
    let out = ward(&["--estate", &e, "check", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let finding = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["control"] == "WARD-RS-001")
        .expect("WARD-RS-001");
    assert_eq!(finding["location"]["file"], "workloads/billing.yaml");
    let text = ward(&["--estate", &e, "check"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("WARD-RS-001") && stdout.contains("at workloads/billing.yaml:"),
        "{stdout}"
    );
}

#[test]
fn a_broken_user_policy_exits_2_with_file_and_line() {
    let dir = example();
    let e = estate(&dir);
    let policies = Path::new(&e).join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::write(
        policies.join("broken.rego"),
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := sprintf(\"%s\", [input.kind)\n}\n",
    )
    .expect("write");
    let out = ward(&["--estate", &e, "check"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("policies/broken.rego:6"), "{stderr}");
}

#[test]
fn a_conftest_policy_sees_the_rendered_objects() {
    let dir = example();
    let e = estate(&dir);
    let policies = Path::new(&e).join("policies");
    std::fs::create_dir_all(&policies).expect("mkdir");
    std::fs::write(
        policies.join("labels.rego"),
        "package main\n\ndeny[msg] {\n  input.kind == \"Deployment\"\n  not input.metadata.labels[\"team\"]\n  msg := sprintf(\"Deployment %s has no team label\", [input.metadata.name])\n}\n",
    )
    .expect("write");
    let out = ward(&["--estate", &e, "check", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let denies: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["control"] == "policy:main.deny")
        .collect();
    assert!(!denies.is_empty());
    assert!(denies.iter().all(|f| f["object"]["kind"] == "Deployment"));
}

#[test]
fn controls_lists_the_catalogue() {
    let out = ward(&["controls", "-o", "json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(list.as_array().is_some_and(|l| l.len() >= 40));
    let one = ward(&["controls", "WARD-DP-006"]);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        one.status.success() && text.contains("list_db") && text.contains("164.312"),
        "{text}"
    );
    assert_eq!(ward(&["controls", "WARD-XX-000"]).status.code(), Some(2));
}
