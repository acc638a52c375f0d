//! End to end: a waiver added to the estate shows in `ward plan` as a change that widens
//! and needs a `security-reviewer`, and `ward apply` refuses it until one signs;
//! removing the waiver again needs no review.

mod support;
use support::*;

/// Tier 3 and development, so the waiver alone decides which approvals are needed.
const WAIVER: &str = "\
apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: sandbox-single-replica
spec:
  control: WARD-RS-001
  scope: { workload: training-sandbox, environment: sandbox }
  reason: Training only, synthetic data; tracked in CHG-1234
  approver: carol
  created: 2026-11-01
  expires: 2027-01-31
";

#[test]
fn a_new_waiver_needs_a_security_reviewer_before_apply() {
    if !has_ssh_keygen() {
        eprintln!("ssh-keygen not on PATH; skipped");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = tmp.path().join("estate");
    let deploy = tmp.path().join("deploy");
    let deploy_arg = deploy.to_str().expect("utf8");
    let (code, out, err) = ward(
        tmp.path(),
        "erin",
        &[
            "init",
            estate.to_str().expect("utf8"),
            "--example",
            "healthcare",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let keydir = tmp.path().join("keys");
    std::fs::create_dir_all(&keydir).expect("mkdir");
    let team = estate.join("teams/platform.yaml");
    let (bob, public) = keygen(&keydir, "bob");
    add_ssh_key_to(&team, "bob", "dba", &public);
    let (carol, public) = keygen(&keydir, "carol");
    add_ssh_key_to(&team, "carol", "security-reviewer", &public);
    git(&estate, &["add", "-A"]);
    git(&estate, &["commit", "-qm", "keys"]);

    // The deploy tree as it is before the waiver.
    let (code, out, err) = ward(&estate, "erin", &["render", "--out", deploy_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        plan_json(&estate, &deploy)["plan"]["changes"]
            .as_array()
            .expect("changes")
            .is_empty()
    );

    // The waiver, committed to the estate.
    std::fs::write(estate.join("waivers.yaml"), WAIVER).expect("write waiver");
    git(&estate, &["add", "waivers.yaml"]);
    git(
        &estate,
        &["commit", "-qm", "waive WARD-RS-001 for the sandbox"],
    );

    let plan = plan_json(&estate, &deploy);
    let changes = plan["plan"]["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "only the waivers ConfigMap: {changes:?}");
    let change = &changes[0];
    assert_eq!(change["kind"], "ConfigMap");
    assert_eq!(change["name"], "ward-waivers");
    assert_eq!(change["action"], "add");
    assert_eq!(change["widens"], "waiver");
    assert_eq!(change["risk"], "low");
    assert_eq!(
        change["owners"],
        serde_json::json!(["training-sandbox/sandbox"])
    );
    let requirement = &plan["plan"]["requirement"];
    assert_eq!(requirement["approvals"], 1);
    assert_eq!(
        requirement["roles"],
        serde_json::json!(["security-reviewer"])
    );
    assert!(
        requirement["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("widens network policy, RBAC or a waiver")),
        "{requirement}"
    );
    let id = plan["plan"]["changeId"]
        .as_str()
        .expect("change id")
        .to_string();
    let path = deploy.join(change["path"].as_str().expect("path"));

    // Refused without approval, and with an approval by someone who is not a reviewer.
    let (code, _, err) = ward(&estate, "erin", &["apply", "--out", deploy_arg]);
    assert_eq!(code, 1, "refused: {err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!path.exists(), "nothing is written when refused");
    write_approvals(&estate, &id, &[("bob", &sign(&bob, "ward-approval", &id))]);
    let (code, _, err) = ward(&estate, "erin", &["apply", "--out", deploy_arg]);
    assert_eq!(code, 1, "a dba is not a security reviewer: {err}");
    assert!(err.contains("security-reviewer"), "{err}");
    assert!(!path.exists());

    // Carol, a security reviewer, signs: applied.
    write_approvals(
        &estate,
        &id,
        &[("carol", &sign(&carol, "ward-approval", &id))],
    );
    let (code, out, err) = ward(
        &estate,
        "erin",
        &["apply", "--out", deploy_arg, "-o", "json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let applied: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(applied["applied"], true);
    let text = std::fs::read_to_string(&path).expect("the waivers ConfigMap");
    assert!(
        text.contains("sandbox-single-replica.expires: \"2027-01-31\""),
        "{text}"
    );

    // Extending the expiry widens again.
    let later = WAIVER.replace("2027-01-31", "2027-04-30");
    std::fs::write(estate.join("waivers.yaml"), &later).expect("write waiver");
    let plan = plan_json(&estate, &deploy);
    assert_eq!(plan["plan"]["changes"][0]["widens"], "waiver");
    assert_eq!(
        plan["plan"]["requirement"]["roles"],
        serde_json::json!(["security-reviewer"])
    );

    // Removing the waiver narrows: no approval is needed and apply writes it.
    std::fs::remove_file(estate.join("waivers.yaml")).expect("remove waiver");
    let plan = plan_json(&estate, &deploy);
    let changes = plan["plan"]["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["action"], "remove");
    assert!(changes[0].get("widens").is_none(), "{changes:?}");
    assert_eq!(plan["plan"]["requirement"]["approvals"], 0);
    let (code, out, err) = ward(&estate, "erin", &["apply", "--out", deploy_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!path.exists());
}
