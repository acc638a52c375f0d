//! The example estate passes with at most warnings, and each mistake seeded into a copy
//! of it produces the finding a reviewer would expect, at the file that was changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::path::Path;
use ward_policy::{CheckOptions, Checker, Report};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

fn check(dir: &Path) -> Report {
    let estate =
        ward_estate::load(dir).unwrap_or_else(|e| panic!("seeded estate must still load: {e:?}"));
    Checker::new()
        .expect("catalogue")
        .check(&estate, None, &CheckOptions::new(today()))
        .expect("check")
}

#[test]
fn the_example_estate_passes_with_at_most_warnings() {
    let report = check(&example_estate());
    assert!(
        !report.failed(),
        "{}",
        ward_policy::format::text::render(&report)
    );
}

/// One mistake: in `file`, replace `from` by `to`; expect `control` at `file`.
struct Seed {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    control: &'static str,
}

const WAIVER: &str = "apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: portal-no-health-check
spec:
  control: WARD-OB-003
  scope: { workload: patient-portal }
  reason: The SMS gateway offers no health endpoint yet
  approver: APPROVER
  created: CREATED
  expires: EXPIRES
";

const SEEDS: &[Seed] = &[
    Seed {
        file: "workloads/billing.yaml",
        from: "version: \"17.0\"",
        to: "version: \"15.0\"",
        control: "WARD-AS-001",
    },
    Seed {
        file: "workloads/billing.yaml",
        from: "odoo/billing@sha256:9b2f1c0d6e4a8b7c3d5e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c",
        to: "odoo/billing:17.0",
        control: "WARD-DG-001",
    },
    Seed {
        file: "workloads/patient-portal.yaml",
        from: "image: registry.care.example/",
        to: "image: docker.io/",
        control: "WARD-DG-002",
    },
    Seed {
        file: "workloads/billing.yaml",
        from: "replicas: 3",
        to: "replicas: 1",
        control: "WARD-RS-001",
    },
    Seed {
        file: "workloads/billing.yaml",
        from: "      credentialOwner: bob\n",
        to: "",
        control: "WARD-IA-002",
    },
    Seed {
        file: "workloads/billing.yaml",
        from: "      onFailure: queue\n",
        to: "",
        control: "WARD-RS-008",
    },
    Seed {
        file: "teams/platform.yaml",
        from: "roles: [platform-ops]",
        to: "roles: [platform-ops, security-reviewer]",
        control: "WARD-IA-001",
    },
    Seed {
        file: "workloads/patient-portal.yaml",
        from: "endpoint: https://api.sms-gateway",
        to: "endpoint: http://api.sms-gateway",
        control: "WARD-DP-008",
    },
    Seed {
        file: "workloads/billing.yaml",
        from: "    hosting: dedicated\n",
        to: "",
        control: "WARD-DP-001",
    },
    Seed {
        file: "platform.yaml",
        from: "      region: eu-central-1\n",
        to: "      region: eu-west-1\n",
        control: "WARD-RS-006",
    },
    Seed {
        file: "platform.yaml",
        from: "      zones: [eu-west-1a, eu-west-1b, eu-west-1c]\n      kubernetesVersion: \"1.30\"\n    - name: recovery-eu2",
        to: "      zones: [eu-west-1a]\n      kubernetesVersion: \"1.30\"\n    - name: recovery-eu2",
        control: "WARD-RS-005",
    },
    Seed {
        file: "workloads/patient-portal.yaml",
        from: "  services: [appointments, patient-messages]\n",
        to: "",
        control: "WARD-OB-004",
    },
    Seed {
        file: "platform.yaml",
        from: "  secretStores:",
        to: "    - name: s3-eu1\n      type: s3\n      bucket: care-backups\n      versioning: true\n  secretStores:",
        control: "",
    },
];

#[test]
fn each_seeded_mistake_produces_its_finding() {
    let mut failures = Vec::new();
    for seed in SEEDS.iter().filter(|s| !s.control.is_empty()) {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(&example_estate(), dir.path());
        let path = dir.path().join(seed.file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains(seed.from),
            "{}: `{}` not found",
            seed.file,
            seed.from
        );
        std::fs::write(&path, text.replacen(seed.from, seed.to, 1)).expect("write");
        let report = check(dir.path());
        let hit = report.findings.iter().find(|f| f.control == seed.control);
        match hit {
            None => failures.push(format!("{} in {}: not raised", seed.control, seed.file)),
            Some(f) if f.location.as_ref().map(|l| l.file.as_str()) != Some(seed.file) => failures
                .push(format!(
                    "{} raised at {:?}, expected {}",
                    seed.control, f.location, seed.file
                )),
            Some(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_tier_1_environment_on_an_s3_store_without_object_lock_is_denied() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&example_estate(), dir.path());
    let platform = dir.path().join("platform.yaml");
    let text = std::fs::read_to_string(&platform).expect("read");
    let seed = SEEDS.last().expect("the store seed");
    std::fs::write(&platform, text.replacen(seed.from, seed.to, 1)).expect("write");
    let billing = dir.path().join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    std::fs::write(
        &billing,
        text.replacen(
            "      replicas: 3\n",
            "      replicas: 3\n      objectStore: s3-eu1\n",
            1,
        ),
    )
    .expect("write");
    let report = check(dir.path());
    let f = report
        .findings
        .iter()
        .find(|f| f.control == "WARD-DP-002")
        .expect("DP-002");
    assert_eq!(f.subject(), "billing/prod");
    assert_eq!(
        f.location.as_ref().map(|l| l.file.as_str()),
        Some("workloads/billing.yaml")
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.control == "WARD-RS-007" && f.blocks())
    );
    assert!(report.failed());
}

fn with_waiver(approver: &str, created: &str, expires: &str) -> Report {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&example_estate(), dir.path());
    let waiver = WAIVER
        .replace("APPROVER", approver)
        .replace("CREATED", created)
        .replace("EXPIRES", expires);
    std::fs::write(dir.path().join("waivers.yaml"), waiver).expect("write");
    // The mistake the waiver covers: patient-portal's integrations lose their health checks.
    let portal = dir.path().join("workloads/patient-portal.yaml");
    let text = std::fs::read_to_string(&portal).expect("read");
    let without: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("healthCheck:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        without, text,
        "patient-portal's integrations have health checks"
    );
    std::fs::write(&portal, without).expect("write");
    check(dir.path())
}

#[test]
fn seeded_waiver_mistakes_are_deny_findings() {
    let expired = with_waiver("carol", "2026-01-05", "2026-05-01");
    assert!(
        expired
            .findings
            .iter()
            .any(|f| f.control == "WARD-DG-006" && f.blocks())
    );
    assert!(expired.failed());
    let wrong_approver = with_waiver("dave", "2026-11-01", "2027-01-01");
    assert!(
        wrong_approver
            .findings
            .iter()
            .any(|f| f.control == "WARD-IA-005" && f.blocks())
    );
    let good = with_waiver("carol", "2026-11-01", "2027-01-01");
    assert!(!good.failed());
    let waived: Vec<_> = good
        .findings
        .iter()
        .filter(|f| f.waived.is_some())
        .collect();
    assert_eq!(
        waived.len(),
        2,
        "both patient-portal integrations lack a health check"
    );
}
