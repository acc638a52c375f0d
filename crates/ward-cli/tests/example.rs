//! The estates `ward init` writes, as a new user meets them: the healthcare example checks
//! with only the warning it documents, the minimal estate validates and checks clean, and
//! the example's approval flow (render, change, plan, sign with the keys `ward init` made,
//! apply) runs end to end with the real `ward`, `git` and `ssh-keygen`.

use std::path::Path;

mod support;
use support::*;

fn check_json(estate: &Path) -> serde_json::Value {
    let (code, out, err) = ward(estate, "alice", &["check", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("check json")
}

/// The controls of the findings of a `check -o json` report.
fn controls(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["control"].as_str().expect("control").to_string())
        .collect()
}

#[test]
fn the_example_checks_with_only_the_warning_it_documents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    let report = check_json(&estate);
    assert_eq!(report["failed"], false);
    assert_eq!(report["summary"]["deny"], 0, "{}", report["findings"]);
    // The one warning is on purpose, and the estate says so where it is decided.
    assert_eq!(controls(&report), ["WARD-DG-009"], "{}", report["findings"]);
    let platform = std::fs::read_to_string(estate.join("platform.yaml")).expect("platform");
    let setting = platform
        .find("    requireSignedCommits: false\n")
        .expect("the example spells the setting out");
    let comment = &platform[..setting];
    let comment = &comment[comment.rfind("\n  # Signed commits").expect("a comment")..];
    assert!(
        comment.contains("WARD-DG-009") && comment.contains("on purpose"),
        "{comment}"
    );
    // `--fail-on-warn` is how CI would refuse it.
    let (code, _, _) = ward(&estate, "alice", &["check", "--fail-on-warn"]);
    assert_eq!(code, 1);
}

#[test]
fn a_minimal_estate_validates_and_checks_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = tmp.path().join("start");
    let (code, out, err) = ward(
        Path::new("."),
        "alice",
        &["init", estate.to_str().expect("utf8"), "-o", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let made: serde_json::Value = serde_json::from_str(&out).expect("init json");
    assert_eq!(made["example"], "minimal");
    assert_eq!(made["workloads"], 1);
    assert_eq!(made["environments"], 1);

    let (code, out, err) = ward(&estate, "alice", &["validate", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let valid: serde_json::Value = serde_json::from_str(&out).expect("validate json");
    assert_eq!(valid["valid"], true, "{valid}");
    assert_eq!(valid["files"], 3, "{valid}");
    let report = check_json(&estate);
    assert_eq!(report["summary"]["deny"], 0, "{}", report["findings"]);
    assert_eq!(report["summary"]["warn"], 0, "{}", report["findings"]);
    let (code, out, err) = ward(&estate, "alice", &["check", "--fail-on-warn"]);
    assert_eq!(code, 0, "{out}{err}");

    // One platform, one team, one workload, each explained in comments.
    let mut files = Vec::new();
    for folder in ["", "teams", "workloads"] {
        for entry in std::fs::read_dir(estate.join(folder)).expect("folder") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|x| x == "yaml") {
                files.push(path);
            }
        }
    }
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        assert!(
            text.starts_with("# "),
            "{} opens with a comment",
            file.display()
        );
    }
    // Every person can sign approvals from the start.
    let team = std::fs::read_to_string(estate.join("teams/platform.yaml")).expect("team");
    assert_eq!(
        team.matches("        ssh: \"ssh-ed25519 ").count(),
        3,
        "{team}"
    );
    for person in ["alice", "bob", "carol"] {
        assert!(
            estate.join(".ward/keys/ssh").join(person).is_file(),
            "{person}"
        );
    }
}

#[test]
fn init_refuses_an_unknown_example_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = tmp.path().join("x");
    let (code, _, err) = ward(
        Path::new("."),
        "alice",
        &[
            "init",
            estate.to_str().expect("utf8"),
            "--example",
            "hospital",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("healthcare"), "{err}");
    assert!(!estate.exists());
}

/// The README's flow on the example, with nothing but what `ward init` generated: render
/// the deploy tree, change a tier-1 environment, plan, sign the approvals with the
/// people's generated keys (`ssh-keygen -Y sign`), apply, and find the change in the tree
/// and the ledger.
#[test]
fn the_approval_flow_runs_end_to_end_with_the_keys_init_made() {
    if !has_ssh_keygen() {
        eprintln!("ssh-keygen not on PATH; skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    let deploy = tmp.path().join("deploy");
    let deploy_arg = deploy.to_str().expect("utf8");
    let key = |person: &str| estate.join(".ward/keys/ssh").join(person);
    for person in ["alice", "bob", "carol", "dave", "erin", "farah"] {
        assert!(key(person).is_file(), "{person}'s key");
    }

    // The first tree, written by `ward render`, records the reviewed commit.
    let (code, out, err) = ward(&estate, "alice", &["render", "--out", deploy_arg]);
    assert_eq!(code, 0, "{out}{err}");
    let base = git_head(&estate);
    let plan = plan_json(&estate, &deploy);
    assert_eq!(plan["plan"]["changes"].as_array().map(Vec::len), Some(0));

    // Erin (app-support) gives billing/prod a fourth replica and commits it.
    let billing = estate.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("billing");
    assert!(text.contains("      replicas: 3\n"));
    std::fs::write(
        &billing,
        text.replacen("      replicas: 3\n", "      replicas: 4\n", 1),
    )
    .expect("write");
    commit_as(&estate, "erin", "billing/prod: four web replicas");
    let (id, plan) = change_id(&estate, &deploy);
    assert_eq!(plan["review"]["trust"], "reviewed", "{}", plan["review"]);
    assert_eq!(plan["review"]["base"], base.as_str());
    let roles = plan["plan"]["requirement"]["roles"].to_string();
    assert!(roles.contains("platform-ops"), "{roles}");

    // Unsigned, it is refused and nothing is written.
    let apply = |actor: &str| {
        let (code, out, err) = ward(
            &estate,
            actor,
            &["apply", "--out", deploy_arg, "-o", "json"],
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        (code, v, format!("{out}{err}"))
    };
    let (code, v, out) = apply("erin");
    assert_eq!(code, 1, "{out}");
    assert_eq!(v["applied"], false);

    // The author's own signature never counts; alice (platform-ops) and carol do.
    let signature = |person: &str| sign(&key(person), "ward-approval", &id);
    let (erin, alice, carol) = (signature("erin"), signature("alice"), signature("carol"));
    write_approvals(&estate, &id, &[("erin", &erin), ("alice", &alice)]);
    let (code, v, out) = apply("erin");
    assert_eq!(code, 1, "{out}");
    let unmet = v["unmet"].to_string();
    assert!(
        unmet.contains("erin wrote this change; their own approval does not count"),
        "{unmet}"
    );
    write_approvals(&estate, &id, &[("alice", &alice), ("carol", &carol)]);
    let (code, v, out) = apply("erin");
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["applied"], true, "{v}");
    assert_eq!(v["changeId"], id.as_str());
    let approvers: Vec<&str> = v["approvers"]
        .as_array()
        .expect("approvers")
        .iter()
        .filter_map(|a| a["by"].as_str())
        .collect();
    assert_eq!(approvers, ["alice", "carol"]);

    // The tree holds the change and records the commit it was approved at.
    // (The web Deployment scales with its HorizontalPodAutoscaler, from the declared replicas.)
    let hpa = std::fs::read_to_string(
        deploy.join("dedicated-eu1/billing-prod/horizontalpodautoscaler-odoo-web.yaml"),
    )
    .expect("billing's web autoscaler");
    assert!(hpa.contains("  minReplicas: 4\n"), "{hpa}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy.join("ward-tree.json")).expect("ward-tree.json"),
    )
    .expect("record");
    assert_eq!(record["estateCommit"], git_head(&estate).as_str());

    // The ledger names the change, its approvers and their keys, and still verifies.
    let ledger = std::fs::read_to_string(estate.join(".ward/ledger.jsonl")).expect("ledger");
    let entry: serde_json::Value = ledger
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|e| e["action"] == "apply")
        .expect("an apply entry");
    let text = entry.to_string();
    for needle in [id.as_str(), "alice", "carol", "SHA256:"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    let (code, out, err) = ward(&estate, "alice", &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    // Nothing left to do.
    let plan = plan_json(&estate, &deploy);
    assert_eq!(plan["plan"]["changes"].as_array().map(Vec::len), Some(0));
}
