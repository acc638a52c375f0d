//! Users' Conftest-style policies in `policies/` run unchanged against the rendered
//! objects; broken ones fail the check with their file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use ward_policy::{CheckOptions, Checker, PolicyError, Severity};

/// A copy of the compliant estate with `policies/` filled from a fixture folder.
fn estate_with_policies(policies: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["platform.yaml", "teams.yaml", "workloads.yaml"] {
        std::fs::copy(fixtures().join("estate").join(f), dir.path().join(f)).expect("copy");
    }
    let target = dir.path().join("policies");
    std::fs::create_dir(&target).expect("mkdir");
    for entry in std::fs::read_dir(fixtures().join(policies)).expect("fixture policies") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, target.join(path.file_name().expect("name"))).expect("copy");
    }
    dir
}

fn check(dir: &Path) -> Result<ward_policy::Report, PolicyError> {
    let estate = ward_estate::load(dir).expect("estate loads");
    Checker::new().expect("catalogue").check(
        &estate,
        Some(compliant_objects()),
        &CheckOptions::new(today()),
    )
}

#[test]
fn conftest_style_policies_run_unchanged() {
    let dir = estate_with_policies("conftest");
    let report = check(dir.path()).expect("check runs");
    assert_eq!(report.policies.len(), 3, "{:?}", report.policies);
    let of = |control: &str| {
        report
            .findings
            .iter()
            .filter(|f| f.control == control)
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    let deny = of("policy:main.deny");
    // Every Deployment lacks a `release` selector label; all run as non-root.
    assert!(
        deny.contains(
            &"Deployment odoo-web must provide app/release labels for pod selectors".to_string()
        ),
        "{deny:?}"
    );
    assert!(
        deny.contains(
            &"Deployment odoo-cron must provide app/release labels for pod selectors".to_string()
        ),
        "{deny:?}"
    );
    assert!(!deny.iter().any(|m| m.contains("run as root")), "{deny:?}");
    let warn = of("policy:main.warn");
    assert_eq!(warn.len(), 3, "{warn:?}");
    let violation = of("policy:main.violation");
    assert!(
        violation.contains(&"ConfigMap odoo-conf has no owner label".to_string()),
        "{violation:?}"
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "policy:main.deny")
        .expect("a deny");
    assert_eq!(f.severity, Severity::Deny);
    assert_eq!(
        f.location.as_ref().map(|l| l.file.as_str()),
        Some("workloads.yaml")
    );
    assert!(f.object.is_some());
    assert!(report.failed());
    let w = report
        .findings
        .iter()
        .find(|f| f.control == "policy:main.warn")
        .expect("a warn");
    assert_eq!(w.severity, Severity::Warn);
}

#[test]
fn a_root_container_is_denied_by_the_conftest_policy() {
    let dir = estate_with_policies("conftest");
    let estate = ward_estate::load(dir.path()).expect("estate loads");
    let mut objects = compliant_objects();
    for o in &mut objects {
        if o.manifest["kind"] == "Deployment" && o.manifest["metadata"]["name"] == "odoo-cron" {
            o.manifest["spec"]["template"]["spec"]["securityContext"] = serde_json::json!({});
        }
    }
    let report = Checker::new()
        .expect("catalogue")
        .check(&estate, Some(objects), &CheckOptions::new(today()))
        .expect("check runs");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.control == "policy:main.deny"
                && f.message == "Containers must not run as root in Deployment odoo-cron")
    );
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let dir = estate_with_policies("bad-syntax");
    match check(dir.path()) {
        Err(PolicyError::Rego { file, line, .. }) => {
            assert_eq!(file, "policies/broken.rego");
            assert_eq!(line, 7);
        }
        other => panic!("expected a located Rego error, got {other:?}"),
    }
}

#[test]
fn a_runtime_error_names_file_and_line() {
    let dir = estate_with_policies("bad-runtime");
    match check(dir.path()) {
        Err(e @ PolicyError::Rego { .. }) => {
            let PolicyError::Rego { file, line, .. } = &e else {
                unreachable!()
            };
            assert_eq!(file, "policies/conflict.rego", "{e}");
            assert!(*line >= 6, "{e}");
            assert!(e.is_user_error());
        }
        other => panic!("expected a located Rego error, got {other:?}"),
    }
}
