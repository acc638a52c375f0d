//! End-to-end tests of how the `ward` binary loads an estate: which folder is one, what it
//! skips with a warning, and how many problems it prints.

use std::path::Path;
use std::process::{Command, Output};

fn ward(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .current_dir(dir)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
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

/// A fresh example estate at `<tmp>/care`.
fn estate() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    let (code, out, err) = ward(tmp.path(), &["init", "care", "--example", "healthcare"]);
    assert_eq!(code, 0, "{out}{err}");
    (tmp, dir)
}

/// Writes `text` to `rel` under `dir`, making the folders it needs.
fn put(dir: &Path, rel: &str, text: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn validate_from_the_folder_above_an_estate_says_not_an_estate_in_one_line() {
    let (tmp, _) = estate();
    put(
        tmp.path(),
        "docker-compose.yml",
        "services: {db: {image: postgres, environment: {POSTGRES_PASSWORD: hunter2}}}\n",
    );
    let (code, out, err) = ward(tmp.path(), &["validate"]);
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let said: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("is not an estate"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].contains("Platform"), "{err}");
    // The one line and its hint: nothing from the estate below, nothing about the password.
    assert!(lines.len() <= 2, "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("credential"),
        "{err}"
    );

    let (code, out, _) = ward(tmp.path(), &["validate", "-o", "json"]);
    assert_eq!(code, 2);
    let v = json(&out);
    assert_eq!(v["error"], "bad-input", "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("is not an estate")),
        "{v}"
    );
}

#[test]
fn an_estate_with_a_deploy_tree_inside_still_validates() {
    let (tmp, dir) = estate();
    // Ward refuses to render into the estate, but a deploy tree can still land there (a
    // copy, a checkout): the loader reads none of it.
    let (code, out, err) = ward(&dir, &["render", "--out", "deploy"]);
    assert_eq!(code, 2, "rendering into the estate is refused: {out}{err}");
    assert!(!dir.join("deploy").exists());
    let (code, out, err) = ward(&dir, &["render", "--out", "../deploy"]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::rename(tmp.path().join("deploy"), dir.join("deploy")).expect("move the tree in");
    let (code, out, err) = ward(&dir, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("3 teams, 4 workloads, 5 environments"),
        "{out}"
    );
    assert!(
        !err.contains("literal credential") && !err.contains('×'),
        "{err}"
    );
    let (code, out, _) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(
        v["warnings"],
        serde_json::json!([]),
        "nothing of the tree is read: {v}"
    );
}

#[test]
fn a_folder_holding_a_deploy_tree_marker_is_not_read() {
    let (_tmp, dir) = estate();
    let tree = dir.join("out/prod");
    put(&tree, "ward-tree.json", "{}\n");
    put(
        &tree,
        "eu1/billing/pod.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {automountServiceAccountToken: false}\n",
    );
    put(
        &tree,
        "eu1/broken.yaml",
        "kind: Team\nmetadata: [unclosed\n",
    );
    let (code, out, err) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn warnings_reach_every_command_that_loads_the_estate() {
    let (_tmp, dir) = estate();
    put(
        &dir,
        "k8s/sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: odoo}\nautomountServiceAccountToken: false\n",
    );
    let (code, out, err) = ward(&dir, &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("k8s/sa.yaml:1:13: skipped a document that is not Ward's (apiVersion `v1`)"),
        "{err}"
    );
    assert!(out.contains("; 1 warning"), "{out}");
    let (code, out, _) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["warnings"][0]["file"], "k8s/sa.yaml", "{v}");
    assert_eq!(v["warnings"][0]["line"], 1, "{v}");
    assert_eq!(v["warnings"][0]["column"], 13, "{v}");
    for args in [
        &["classify"][..],
        &["classify", "-o", "json"],
        &["explain", "billing/prod"],
    ] {
        let (code, out, err) = ward(&dir, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert!(err.contains("skipped a document"), "{args:?}: {err}");
    }
    // With errors too, the warnings are listed beside them.
    put(
        &dir,
        "teams/bad.yaml",
        "apiVersion: ward.dev/v1\nkind: Tem\n",
    );
    let (code, out, _) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 2);
    let v = json(&out);
    assert_eq!(v["warnings"][0]["file"], "k8s/sa.yaml", "{v}");
    assert!(
        !v["diagnostics"].as_array().expect("diagnostics").is_empty(),
        "{v}"
    );
}

#[test]
fn printed_errors_are_capped_with_a_count_of_the_rest_and_json_keeps_all() {
    let (_tmp, dir) = estate();
    for i in 0..25 {
        put(
            &dir,
            &format!("teams/t{i:02}.yaml"),
            format!(
                "apiVersion: ward.dev/v1\nkind: Team\nmetadata: {{name: t{i}}}\nspec: {{people: [], colour: blue}}\n"
            ),
        );
    }
    let (code, _, err) = ward(&dir, &["validate"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.matches("unknown field `spec.colour`").count(),
        20,
        "{err}"
    );
    assert!(
        err.contains("… and 5 more errors (run `ward validate -o json` for all)"),
        "{err}"
    );
    assert!(err.contains("the estate has 25 problem(s)"), "{err}");
    // Path order: the first twenty files are the ones shown.
    assert!(
        err.contains("teams/t19.yaml") && !err.contains("teams/t20.yaml"),
        "{err}"
    );
    let (code, out, _) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 2);
    assert_eq!(json(&out)["diagnostics"].as_array().map(Vec::len), Some(25));
}

#[test]
fn a_refused_credential_is_masked_in_the_snippet_and_absent_from_json() {
    let (_tmp, dir) = estate();
    let billing = dir.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    let from = "credentialRef: { store: hospital-vault, key: integrations/clearinghouse }";
    assert!(text.contains(from));
    std::fs::write(
        &billing,
        text.replacen(from, "password: \"Tr0ub4dor&3\"", 1)
            .replacen(
                "hosts: [billing.st-marys.care.example]",
                "hosts: [\"https://u:Sup3rS3cret@billing.example\"]",
                1,
            ),
    )
    .expect("write");
    let (code, out, err) = ward(&dir, &["validate"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("`spec.integrations[0].password` is a literal credential"),
        "{err}"
    );
    assert!(
        err.contains("password: *************"),
        "the snippet keeps the line, masked: {err}"
    );
    let (code, json_out, _) = ward(&dir, &["validate", "-o", "json"]);
    assert_eq!(code, 2);
    for secret in ["Tr0ub4dor", "Sup3rS3cret"] {
        assert!(!err.contains(secret), "{err}");
        assert!(!json_out.contains(secret), "{json_out}");
    }
    // The two credentials, and `password` being no field of an integration (at the key).
    assert_eq!(
        json(&json_out)["diagnostics"].as_array().map(Vec::len),
        Some(3),
        "{json_out}"
    );
}
