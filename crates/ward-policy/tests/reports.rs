//! Waivers as the estate declares them, and the four report formats: SARIF validated
//! against the SARIF 2.1.0 schema, JUnit well-formed, text and JSON with locations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use ward_policy::{CheckOptions, Checker, Report};

const WAIVER: &str = r#"apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: billing-one-replica
spec:
  control: WARD-RS-001
  scope: { workload: billing, environment: prod }
  reason: Second node arrives with the cluster expansion, CHG-1234
  approver: APPROVER
  created: CREATED
  expires: EXPIRES
"#;

/// The compliant estate with billing/prod down to one replica, and a waiver for it.
fn estate_with_waiver(approver: &str, created: &str, expires: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["platform.yaml", "teams.yaml"] {
        std::fs::copy(fixtures().join("estate").join(f), dir.path().join(f)).expect("copy");
    }
    let workloads =
        std::fs::read_to_string(fixtures().join("estate/workloads.yaml")).expect("read");
    std::fs::write(
        dir.path().join("workloads.yaml"),
        workloads.replace("replicas: 2", "replicas: 1"),
    )
    .expect("write");
    let waiver = WAIVER
        .replace("APPROVER", approver)
        .replace("CREATED", created)
        .replace("EXPIRES", expires);
    std::fs::write(dir.path().join("waivers.yaml"), waiver).expect("write");
    dir
}

fn check(dir: &Path) -> Report {
    let estate = ward_estate::load(dir).expect("estate loads");
    Checker::new()
        .expect("catalogue")
        .check(&estate, None, &CheckOptions::new(today()))
        .expect("check")
}

#[test]
fn a_valid_waiver_marks_the_finding_waived_and_the_check_passes() {
    let dir = estate_with_waiver("carol", "2026-11-01", "2027-02-01");
    let report = check(dir.path());
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "WARD-RS-001")
        .expect("still reported");
    let w = f.waived.as_ref().expect("waived");
    assert_eq!(w.waiver, "billing-one-replica");
    assert_eq!(w.approver, "carol");
    assert_eq!(w.location.file, "waivers.yaml");
    assert_eq!(report.summary.waived, 1);
    assert!(
        !report.failed(),
        "{}",
        ward_policy::format::text::render(&report)
    );
    let text = ward_policy::format::text::render(&report);
    assert!(text.contains("waived by billing-one-replica"), "{text}");
}

#[test]
fn an_expired_waiver_is_a_deny_finding_and_waives_nothing() {
    let dir = estate_with_waiver("carol", "2026-01-01", "2026-06-01");
    let report = check(dir.path());
    assert!(report.findings.iter().any(|f| {
        f.control == "WARD-DG-006"
            && f.location
                .as_ref()
                .is_some_and(|l| l.file == "waivers.yaml")
    }));
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "WARD-RS-001")
        .expect("reported");
    assert!(f.waived.is_none());
    assert!(report.failed());
}

#[test]
fn a_waiver_without_a_security_reviewer_is_a_deny_finding() {
    let dir = estate_with_waiver("alice", "2026-11-01", "2027-01-01");
    let report = check(dir.path());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.control == "WARD-IA-005" && f.blocks())
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.control == "WARD-RS-001" && f.blocks())
    );
}

#[test]
fn a_waiver_over_180_days_is_a_deny_finding() {
    let dir = estate_with_waiver("carol", "2026-11-01", "2027-06-01");
    let report = check(dir.path());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.control == "WARD-DG-007" && f.blocks())
    );
    assert!(report.failed());
}

/// A report with deny, warn, waived and user-policy findings.
fn varied_report() -> Report {
    let dir = estate_with_waiver("carol", "2026-11-01", "2027-02-01");
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).expect("mkdir");
    for f in ["deployment.rego", "kubernetes.rego", "labels.rego"] {
        std::fs::copy(fixtures().join("conftest").join(f), policies.join(f)).expect("copy");
    }
    let estate = ward_estate::load(dir.path()).expect("loads");
    Checker::new()
        .expect("catalogue")
        .check(
            &estate,
            Some(compliant_objects()),
            &CheckOptions::new(today()),
        )
        .expect("check")
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let report = varied_report();
    assert!(report.summary.deny > 0 && report.summary.warn > 0 && report.summary.waived > 0);
    let catalogue = ward_policy::Catalogue::builtin().expect("catalogue");
    let sarif = ward_policy::format::sarif::render(&report, &catalogue, "0.1.0");
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&schema_path).expect("the vendored SARIF schema (tests/schemas)"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(
        !validator.is_valid(&broken),
        "the schema check must be able to fail"
    );
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), report.findings.len());
    assert!(results.iter().any(|r| r["suppressions"].is_array()));
    assert!(results.iter().any(|r| {
        r["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .is_some_and(|l| l > 0)
    }));
    assert!(results.iter().any(|r| r["ruleId"] == "policy:main.deny"));
}

#[test]
fn junit_counts_failures_and_skips() {
    let report = varied_report();
    let envs = vec![
        "billing/prod".to_string(),
        "billing/staging".to_string(),
        "sandbox/dev".to_string(),
    ];
    let xml = ward_policy::format::junit::render(&report, &envs);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert_eq!(
        xml.matches("<testsuite ").count(),
        xml.matches("</testsuite>").count()
    );
    assert_eq!(
        xml.matches("<testcase ").count(),
        xml.matches("</testcase>").count()
    );
    assert!(
        xml.contains("name=\"billing/staging\""),
        "clean environments appear as passing suites"
    );
    let failures = report.findings.iter().filter(|f| f.blocks()).count();
    assert_eq!(
        xml.matches("<failure type=\"deny\" message=\"").count() - count_suites_failing(&xml),
        failures
    );
    assert_eq!(xml.matches("<skipped ").count(), report.summary.waived);
    assert!(!xml.contains("& "), "unescaped ampersand");
}

fn count_suites_failing(xml: &str) -> usize {
    xml.matches("deny finding(s)\"></failure>").count()
}

#[test]
fn text_and_json_name_the_estate_line_and_remediation() {
    let report = varied_report();
    let text = ward_policy::format::text::render(&report);
    assert!(text.contains("billing/prod\n"), "{text}");
    assert!(text.contains("at workloads.yaml:"), "{text}");
    assert!(text.contains("fix: "), "{text}");
    assert!(text.contains("FAILED"), "{text}");
    let json = ward_policy::format::json(&report);
    assert_eq!(json["failed"], true);
    let first = &json["findings"][0];
    for key in [
        "control",
        "title",
        "severity",
        "message",
        "remediation",
        "origin",
    ] {
        assert!(!first[key].is_null(), "{key} missing in {first}");
    }
}
