//! End-to-end tests of `ward render`, `ward plan` and `ward apply` on the example estate,
//! with approvals signed by the real `ssh-keygen -Y sign` and verified against `Team` keys.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::*;

struct Setup {
    _tmp: tempfile::TempDir,
    estate: PathBuf,
    deploy: PathBuf,
    keys: std::collections::BTreeMap<&'static str, PathBuf>,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    // Give alice (platform-ops), bob (dba) and carol (security-reviewer) SSH keys.
    let keydir = tmp.path().join("keys");
    std::fs::create_dir_all(&keydir).expect("mkdir");
    let team = estate.join("teams/platform.yaml");
    let mut text = std::fs::read_to_string(&team).expect("team");
    let mut keys = std::collections::BTreeMap::new();
    for (name, role) in [
        ("alice", "platform-ops"),
        ("bob", "dba"),
        ("carol", "security-reviewer"),
    ] {
        let (key, public) = keygen(&keydir, name);
        text = add_ssh_key(&text, name, role, &public);
        keys.insert(name, key);
    }
    std::fs::write(&team, text).expect("write team");
    // Approvals bind commits: the keys are part of the estate's history.
    git(&estate, &["add", "-A"]);
    git(&estate, &["commit", "-qm", "keys"]);
    let deploy = tmp.path().join("deploy");
    Setup {
        _tmp: tmp,
        estate,
        deploy,
        keys,
    }
}

#[test]
fn apply_refuses_without_approvals_and_writes_with_them() {
    if !has_ssh_keygen() {
        eprintln!("ssh-keygen not on PATH; skipped");
        return;
    }
    let s = setup();
    let deploy = s.deploy.to_str().expect("utf8");

    // The first apply creates tier-1 production objects: two approvals are needed.
    let (code, _, err) = ward(&s.estate, "erin", &["apply", "--out", deploy]);
    assert_eq!(code, 1, "refused: {err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!s.deploy.exists(), "nothing is written when refused");

    let (id, plan) = change_id(&s.estate, &s.deploy);
    assert_eq!(plan["plan"]["requirement"]["approvals"], 2);
    assert_eq!(
        plan["plan"]["requirement"]["roles"],
        serde_json::json!(["platform-ops", "security-reviewer"])
    );

    // A signature in another namespace, or over another change, does not count.
    let wrong_ns = sign(&s.keys["alice"], "git", &id);
    let other_change = sign(&s.keys["carol"], "ward-approval", "0000");
    write_approvals(
        &s.estate,
        &id,
        &[("alice", &wrong_ns), ("carol", &other_change)],
    );
    let (code, _, err) = ward(&s.estate, "erin", &["apply", "--out", deploy]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not verify"), "{err}");

    // Whoever runs apply is a Team person: a name from nowhere is refused.
    let alice = sign(&s.keys["alice"], "ward-approval", &id);
    let carol = sign(&s.keys["carol"], "ward-approval", &id);
    write_approvals(&s.estate, &id, &[("alice", &alice), ("carol", &carol)]);
    let (code, _, err) = ward(&s.estate, "someone-else", &["apply", "--out", deploy]);
    assert_eq!(code, 2, "an actor outside the Team: {err}");
    assert!(err.contains("someone-else"), "{err}");
    assert!(!s.deploy.exists(), "nothing is written when refused");

    // Two distinct people, platform-ops and security-reviewer, neither the author.
    let (code, out, err) = ward(&s.estate, "erin", &["apply", "--out", deploy, "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let applied: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["changeId"], id.as_str());
    assert!(
        s.deploy
            .join("dedicated-eu1/billing-prod/deployment-odoo-web.yaml")
            .is_file()
    );

    // The ledger holds the apply with the change-id, and still verifies.
    let ledger = std::fs::read_dir(s.estate.join(".ward"))
        .expect("state folder")
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        ledger.contains("\"apply\"") && ledger.contains(&id),
        "ledger records the apply"
    );
    let (code, out, err) = ward(&s.estate, "erin", &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");

    // Nothing left to do; an unchanged tree plans empty.
    let (code, out, _) = ward(&s.estate, "erin", &["plan", "--against", deploy]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");

    // A change to billing/prod's replicas: a field-level diff, a new change-id, and the
    // old approvals do not carry over.
    let billing = s.estate.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    std::fs::write(&billing, text.replace("replicas: 3", "replicas: 4")).expect("write");
    commit_as(&s.estate, "dave", "billing: four replicas");
    let (new_id, plan) = change_id(&s.estate, &s.deploy);
    assert_ne!(new_id, id);
    let changes = plan["plan"]["changes"].as_array().expect("changes");
    // The HPA owns a tier-1 web deployment's replica count (the Deployment has none).
    let web = changes
        .iter()
        .find(|c| c["path"] == "dedicated-eu1/billing-prod/horizontalpodautoscaler-odoo-web.yaml")
        .expect("the web autoscaler changes");
    assert_eq!(web["action"], "change");
    assert_eq!(web["risk"], "high");
    assert!(
        web["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["field"] == "spec.minReplicas" && f["before"] == 3 && f["after"] == 4)
    );
    assert_eq!(
        plan["plan"]["requirement"]["roles"],
        serde_json::json!(["platform-ops"]),
        "no widening"
    );
    let (code, _, _) = ward(&s.estate, "erin", &["apply", "--out", deploy]);
    assert_eq!(code, 1, "approvals of the previous change do not apply");
    let alice = sign(&s.keys["alice"], "ward-approval", &new_id);
    let bob = sign(&s.keys["bob"], "ward-approval", &new_id);
    write_approvals(&s.estate, &new_id, &[("alice", &alice), ("bob", &bob)]);
    let (code, out, err) = ward(&s.estate, "erin", &["apply", "--out", deploy]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("applied change"), "{out}");
}

#[test]
fn render_is_deterministic_and_plan_reads_git() {
    let s = setup();
    let deploy = s.deploy.to_str().expect("utf8");
    let (code, out, err) = ward(
        &s.estate,
        "erin",
        &["render", "--out", deploy, "-o", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let first: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(first["objects"].as_u64().unwrap_or(0) > 100);
    let (code, out, _) = ward(
        &s.estate,
        "erin",
        &["render", "--out", deploy, "-o", "json"],
    );
    assert_eq!(code, 0);
    let second: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(second["written"], 0, "same estate, same bytes");

    // Commit the tree and plan against the commit.
    git(&s.deploy, &["init", "-q"]);
    git(&s.deploy, &["add", "-A"]);
    git(&s.deploy, &["commit", "-qm", "deploy tree"]);
    let plan = plan_git_json(&s.estate, &s.deploy, "HEAD");
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]));
    assert!(plan["plan"]["unchanged"].as_u64().unwrap_or(0) > 100);

    // Removing an environment removes its objects from the plan.
    let sandbox = s.estate.join("workloads/training-sandbox.yaml");
    std::fs::remove_file(sandbox).expect("rm");
    let plan = plan_git_json(&s.estate, &s.deploy, "HEAD");
    let removed = plan["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == "remove")
        .count();
    assert!(removed > 20, "the sandbox stack is removed ({removed})");
}

/// Runs `crates/ward-render/tests/kubernetes-validate.sh` with this build's binary when
/// `kubernetes-validate` (PyPI) is installed, as it is in CI.
#[test]
fn rendered_core_objects_pass_kubernetes_validate() {
    if Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("kubernetes-validate not on PATH; skipped (pip install kubernetes-validate)");
        return;
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ward-render/tests/kubernetes-validate.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_ward"))
        .output()
        .expect("runs the script");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("core objects valid"));
}
