//! Every built-in control has a compliant case (the compliant fixture estate and its
//! rendered objects raise nothing) and at least one violating case (one change to that
//! input raises the control).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use ward_policy::Checker;

type Mutation = fn(&mut Value);

fn workload_rpo(i: &mut Value, address: &str, seconds: u64) {
    env(i, address)["rpoSeconds"] = json!(seconds);
}

fn cases() -> BTreeMap<&'static str, Vec<Mutation>> {
    let mut c: BTreeMap<&'static str, Vec<Mutation>> = BTreeMap::new();
    let mut add = |id: &'static str, m: Mutation| c.entry(id).or_default().push(m);
    // Architecture standardization
    add("WARD-AS-001", |i| {
        workload(i, "billing")["odoo"]["version"] = json!("15.0")
    });
    add("WARD-AS-002", |i| {
        env(i, "billing/prod")["cluster"] = json!("shared-eu1")
    });
    add("WARD-AS-002", |i| {
        env(i, "sandbox/dev")["cluster"] = json!("recovery-eu2")
    });
    add("WARD-AS-002", |i| {
        env(i, "sandbox/dev")["cluster"] = json!("dedicated-eu1")
    });
    add("WARD-AS-003", |i| {
        let np = object(
            i,
            "NetworkPolicy",
            "billing-prod",
            "allow-ingress-controller",
        );
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"] =
            json!({"matchLabels": {"ward.dev/environment": "staging"}});
    });
    add("WARD-AS-003", |i| {
        let np = object(
            i,
            "NetworkPolicy",
            "billing-prod",
            "allow-ingress-controller",
        );
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = json!({});
    });
    add("WARD-AS-003", |i| {
        let np = object(
            i,
            "NetworkPolicy",
            "billing-prod",
            "allow-ingress-controller",
        );
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = json!({"matchExpressions": [{"key": "ward.dev/stage", "operator": "In", "values": ["test", "development"]}]});
    });
    add("WARD-AS-003", |i| {
        object(i, "NetworkPolicy", "billing-prod", "default-deny")["spec"]["podSelector"] =
            json!({"matchLabels": {"app": "nothing"}});
    });
    add("WARD-AS-004", |i| {
        set_conf(i, "billing-prod", "proxy_mode = True", "proxy_mode = False")
    });
    add("WARD-AS-005", |i| {
        container(i, "Deployment", "billing-prod", "odoo-web")["resources"] =
            json!({"requests": {"cpu": "1"}});
    });
    add("WARD-AS-006", |i| {
        env(i, "billing/prod")["hosts"] = json!([])
    });
    add("WARD-AS-007", |i| {
        cluster(i, "recovery-eu2")["kubernetesVersion"] = json!("1.31")
    });
    add("WARD-AS-007", |i| {
        cluster(i, "recovery-eu2")["kubernetesVersion"] = Value::Null
    });
    add("WARD-AS-008", |i| {
        set_conf(i, "shared-dev", "dbfilter = ^%d$", "dbfilter = .*")
    });
    add("WARD-AS-008", |i| {
        set_conf(i, "shared-dev", "dbfilter = ^%d$", "")
    });
    // Identity and access
    add("WARD-IA-001", |i| {
        person(i, "alice")["roles"] = json!(["platform-ops", "security-reviewer"])
    });
    add("WARD-IA-002", |i| {
        integration(i, "billing", "clearinghouse")["credentialOwner"] = Value::Null
    });
    add("WARD-IA-003", |i| {
        integration(i, "billing", "clearinghouse")["credentialRef"] = json!(false)
    });
    add("WARD-IA-004", |i| {
        person(i, "carol")["roles"] = json!(["dba"])
    });
    add("WARD-IA-005", |i| {
        add_waiver(i, "WARD-RS-001", "alice", "2026-11-01", "2027-01-01", 61)
    });
    add("WARD-IA-006", |i| {
        person(i, "carol")["sshKey"] = json!(false)
    });
    add("WARD-IA-007", |i| {
        person(i, "bob")["ageRecipient"] = json!(false)
    });
    add("WARD-IA-008", |i| {
        object(i, "RoleBinding", "billing-prod", "app-support")["roleRef"]["name"] =
            json!("cluster-admin")
    });
    // Data protection
    add("WARD-DP-001", |i| {
        env(i, "sandbox/dev")["dataSensitivity"] = json!("phi")
    });
    add("WARD-DP-002", |i| {
        store(i, "backups-eu1")["objectLock"] = Value::Null
    });
    add("WARD-DP-002", |i| {
        let s = store(i, "backups-eu1");
        s["type"] = json!("local");
        s["objectLock"] = Value::Null;
    });
    add("WARD-DP-003", |i| {
        // A tier-3 production environment backing up to a local folder.
        let stores = i["platform"]["objectStores"]
            .as_array_mut()
            .expect("stores");
        let mut local = stores[0].clone();
        local["name"] = json!("vault");
        local["type"] = json!("local");
        local["objectLock"] = Value::Null;
        stores.push(local);
        let at = i["environments"]
            .as_array()
            .expect("environments")
            .iter()
            .position(|e| e["address"] == "sandbox/dev")
            .expect("sandbox/dev");
        let by_stage = &mut i["environmentsByStage"]["production"];
        by_stage.as_array_mut().expect("production").push(json!(at));
        let e = env(i, "sandbox/dev");
        e["stage"] = json!("production");
        e["objectStore"] = json!("vault");
    });
    add("WARD-DP-004", |i| {
        store(i, "backups-eu1")["objectLock"]["mode"] = json!("governance")
    });
    add("WARD-DP-004", |i| {
        store(i, "backups-eu1")["objectLock"] = Value::Null
    });
    add("WARD-DP-013", |i| {
        store(i, "backups-eu2")["endpoint"] = json!("http://minio.internal:9000")
    });
    add("WARD-DP-005", |i| {
        store(i, "backups-eu1")["versioning"] = json!(false)
    });
    add("WARD-DP-006", |i| {
        set_conf(i, "billing-prod", "list_db = False", "list_db = True")
    });
    add("WARD-DP-006", |i| {
        set_conf(i, "billing-prod", "list_db = False", "")
    });
    add("WARD-DP-007", |i| {
        add_object(
            i,
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "odoo-admin-literal", "namespace": "billing-prod"},
            "data": {"admin_passwd": "c2VjcmV0"}}),
        );
    });
    add("WARD-DP-008", |i| {
        integration(i, "billing", "clearinghouse")["endpoint"] =
            json!("http://claims.example.net/edi")
    });
    add("WARD-DP-008", |i| {
        integration(i, "billing", "clearinghouse")["healthCheck"]["url"] =
            json!("http://claims.example.net/health")
    });
    add("WARD-DP-009", |i| {
        object(i, "IngressRoute", "billing-prod", "odoo")
            .as_object_mut()
            .and_then(|o| o["spec"].as_object_mut())
            .map(|s| s.remove("tls"));
    });
    add("WARD-DP-009", |i| {
        add_object(
            i,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "plain", "namespace": "billing-prod"},
            "spec": {"rules": [{"host": "billing.st-marys.example"}], "tls": [{"hosts": ["other.example"]}]}}),
        );
    });
    add("WARD-DP-010", |i| {
        let e = env(i, "sandbox/dev");
        e["dataSensitivity"] = json!("phi");
        e["refreshFrom"] = json!("prod");
    });
    add("WARD-DP-011", |i| {
        i["platform"]["breakGlassRecipient"] = Value::Null
    });
    add("WARD-DP-012", |i| {
        let e = env(i, "billing/prod");
        e["database"]["external"] = json!(true);
        e["database"]["passwordRef"] = json!(false);
    });
    // Deployment governance
    add("WARD-DG-001", |i| {
        workload(i, "billing")["odoo"]["image"] = json!("registry.care.example/odoo/billing:17.0")
    });
    add("WARD-DG-002", |i| {
        workload(i, "billing")["odoo"]["image"] = json!(
            "docker.io/odoo@sha256:9b2f1c0d6e4a8b7c3d5e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c"
        );
    });
    add("WARD-DG-002", |i| {
        workload(i, "billing")["odoo"]["image"] = json!("odoo:17.0")
    });
    add("WARD-DG-003", |i| {
        container(i, "Deployment", "billing-prod", "odoo-web")["image"] =
            json!("registry.care.example/odoo/billing:latest")
    });
    add("WARD-DG-004", |i| {
        container(i, "Deployment", "billing-prod", "odoo-cron")["image"] = json!(
            "ghcr.io/someone/odoo@sha256:9b2f1c0d6e4a8b7c3d5e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c"
        );
    });
    add("WARD-DG-005", |i| {
        object(i, "Deployment", "billing-prod", "odoo-web")["spec"]["template"]["spec"]["securityContext"] =
            json!({});
    });
    add("WARD-DG-005", |i| {
        container(i, "Deployment", "billing-prod", "odoo-web")["securityContext"] =
            json!({"privileged": true, "allowPrivilegeEscalation": false})
    });
    add("WARD-DG-005", |i| {
        container(i, "Deployment", "billing-prod", "odoo-web")["securityContext"] = json!({})
    });
    add("WARD-DG-006", |i| {
        add_waiver(i, "WARD-RS-001", "carol", "2026-01-01", "2026-03-01", 59)
    });
    add("WARD-DG-007", |i| {
        add_waiver(i, "WARD-RS-001", "carol", "2026-11-01", "2027-05-20", 200)
    });
    add("WARD-DG-008", |i| {
        add_waiver(i, "WARD-RS-999", "carol", "2026-11-01", "2027-01-01", 61)
    });
    add("WARD-DG-009", |i| {
        i["platform"]["changes"]["requireSignedCommits"] = json!(false)
    });
    // Observability
    add("WARD-OB-001", |i| {
        let rule = object(i, "PrometheusRule", "billing-prod", "ward-alerts");
        rule["spec"]["groups"][0]["rules"]
            .as_array_mut()
            .map(|r| r.remove(0));
    });
    add("WARD-OB-002", |i| {
        let rule = object(i, "PrometheusRule", "billing-prod", "ward-alerts");
        rule["spec"]["groups"][0]["rules"]
            .as_array_mut()
            .map(|r| r.remove(1));
    });
    add("WARD-OB-003", |i| {
        integration(i, "billing", "clearinghouse")["healthCheck"] = Value::Null
    });
    add("WARD-OB-004", |i| {
        workload(i, "billing")["services"] = json!([])
    });
    add("WARD-OB-005", |i| {
        container(i, "Deployment", "billing-prod", "odoo-web")["readinessProbe"] =
            json!({"tcpSocket": {"port": 8069}});
    });
    // Resilience
    add("WARD-RS-001", |i| {
        env(i, "billing/prod")["replicas"] = json!(1)
    });
    add("WARD-RS-002", |i| {
        object(i, "Deployment", "billing-prod", "odoo-web")["spec"]["replicas"] = json!(1)
    });
    // With an HPA, its minimum is what runs, whatever the Deployment says.
    add("WARD-RS-002", |i| {
        add_object(
            i,
            json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "odoo-web", "namespace": "billing-prod"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "odoo-web"},
                    "minReplicas": 1,
                    "maxReplicas": 4,
                },
            }),
        )
    });
    add("WARD-RS-003", |i| {
        env(i, "billing/prod")["recoveryCluster"] = Value::Null
    });
    add("WARD-RS-004", |i| {
        env(i, "billing/prod")["posture"]["archiveTimeoutSeconds"] = json!(600)
    });
    add("WARD-RS-004", |i| {
        let e = env(i, "billing/prod");
        e["posture"]["walArchiving"] = json!(false);
        e["posture"]["backupIntervalSeconds"] = json!(3600);
    });
    add("WARD-RS-004", |i| {
        object(i, "Cluster", "billing-prod", "billing-prod-db")["spec"]["plugins"] = json!([])
    });
    add("WARD-RS-004", |i| {
        object(i, "Cluster", "billing-prod", "billing-prod-db")["spec"]["postgresql"]["parameters"]
            ["archive_timeout"] = json!("10min")
    });
    add("WARD-RS-005", |i| {
        cluster(i, "dedicated-eu1")["zones"] = json!(["eu-west-1a"])
    });
    add("WARD-RS-006", |i| {
        cluster(i, "recovery-eu2")["region"] = json!("eu-west-1")
    });
    add("WARD-RS-007", |i| {
        store(i, "backups-eu1")["replicateTo"] = Value::Null
    });
    add("WARD-RS-007", |i| {
        store(i, "backups-eu2")["region"] = json!("eu-west-1")
    });
    add("WARD-RS-007", |i| {
        store(i, "backups-eu1")["replicateTo"] = json!("nowhere")
    });
    add("WARD-RS-010", |i| {
        // 200 GiB at 20 MiB/s is about 171 minutes: snapshots every 2h would overlap.
        env(i, "billing/prod")["posture"]["backupIntervalSeconds"] = json!(7200)
    });
    add("WARD-RS-010", |i| {
        i["platform"]["archiveStore"] = Value::Null
    });
    add("WARD-RS-010", |i| workload_rpo(i, "billing/prod", 60));
    add("WARD-RS-008", |i| {
        integration(i, "billing", "clearinghouse")["onFailure"] = Value::Null
    });
    add("WARD-RS-009", |i| {
        object(i, "Cluster", "billing-prod", "billing-prod-db")["spec"]["instances"] = json!(1)
    });
    c
}

#[test]
fn the_compliant_estate_raises_nothing() {
    let checker = Checker::new().expect("catalogue");
    let findings = checker.evaluate(compliant_input()).expect("evaluates");
    let lines: Vec<String> = findings
        .iter()
        .map(|f| format!("{} {}", f.control, f.message))
        .collect();
    assert!(
        findings.is_empty(),
        "the compliant fixture raised:\n{}",
        lines.join("\n")
    );
}

#[test]
fn every_control_has_cases() {
    let checker = Checker::new().expect("catalogue");
    let cases = cases();
    for control in &checker.catalogue().controls {
        assert!(
            cases.contains_key(control.id.as_str()),
            "{} has no violating test case",
            control.id
        );
    }
    for id in cases.keys() {
        assert!(
            checker.catalogue().get(id).is_some(),
            "case for unknown control {id}"
        );
    }
    assert!(checker.catalogue().controls.len() >= 40);
}

#[test]
fn every_violating_case_raises_its_control() {
    let checker = Checker::new().expect("catalogue");
    let baseline = compliant_input();
    let mut failures = Vec::new();
    for (id, mutations) in cases() {
        for (n, mutate) in mutations.iter().enumerate() {
            let mut input = baseline.clone();
            mutate(&mut input);
            let findings = checker.evaluate(input).expect("evaluates");
            let hit = findings.iter().find(|f| f.control == id);
            match hit {
                None => failures.push(format!(
                    "{id} case {n}: not raised (raised: {:?})",
                    findings
                        .iter()
                        .map(|f| f.control.as_str())
                        .collect::<Vec<_>>()
                )),
                Some(f) => {
                    if f.message.is_empty() {
                        failures.push(format!("{id} case {n}: empty message"));
                    }
                    if f.location.is_none() {
                        failures.push(format!("{id} case {n}: no estate location ({})", f.message));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn without_rendered_objects_object_controls_stay_quiet() {
    let checker = Checker::new().expect("catalogue");
    let estate = compliant_estate();
    let input = ward_policy::build_input(&estate, None, today());
    let findings = checker.evaluate(input).expect("evaluates");
    assert!(findings.is_empty(), "{findings:?}");
}

/// A restore-drill cluster (one instance of scratch copies, label
/// `ward.dev/purpose: restore-drill`) is not held to the tier's instances; the same
/// one-instance cluster without the label is (the WARD-RS-009 case above).
#[test]
fn a_drill_cluster_is_not_held_to_the_tiers_instances() {
    let checker = Checker::new().expect("catalogue");
    let rs009 = |labelled: bool| {
        let mut input = compliant_input();
        let cluster = object(&mut input, "Cluster", "billing-prod", "billing-prod-db");
        cluster["spec"]["instances"] = json!(1);
        if labelled {
            cluster["metadata"]["labels"]["ward.dev/purpose"] = json!("restore-drill");
        }
        checker
            .evaluate(input)
            .expect("evaluates")
            .iter()
            .filter(|f| f.control == "WARD-RS-009")
            .count()
    };
    assert_eq!(rs009(true), 0);
    assert_eq!(rs009(false), 1);
}

/// WARD-RS-010 judges a snapshot interval with Ward's one dump throughput, the one the
/// rendered backup jobs are sized with: it is in the input, and the finding states it.
#[test]
fn the_dump_estimate_uses_wards_one_throughput() {
    use ward_estate::classify::DUMP_BYTES_PER_SECOND;
    let checker = Checker::new().expect("catalogue");
    let mut input = compliant_input();
    let e = env(&mut input, "billing/prod");
    assert_eq!(e["dumpBytesPerSecond"], json!(DUMP_BYTES_PER_SECOND));
    let bytes = e["databaseBytes"].as_u64().expect("declared size");
    let dump = bytes.div_ceil(DUMP_BYTES_PER_SECOND);
    assert_eq!(e["dumpSecondsEstimate"], json!(dump));
    // Just over half the interval raises it; exactly twice the dump does not.
    let raised = |interval: u64| {
        let mut input = compliant_input();
        env(&mut input, "billing/prod")["posture"]["backupIntervalSeconds"] = json!(interval);
        checker
            .evaluate(input)
            .expect("evaluates")
            .into_iter()
            .find(|f| f.control == "WARD-RS-010")
    };
    assert!(raised(2 * dump).is_none());
    let f = raised(2 * dump - 1).expect("raised");
    let mib = DUMP_BYTES_PER_SECOND >> 20;
    assert!(
        f.message.contains(&format!("about {dump}s at {mib} MiB/s")),
        "{}",
        f.message
    );
    // The rationale (and so docs/controls.md) names the same figure.
    let control = checker.catalogue().get("WARD-RS-010").expect("WARD-RS-010");
    assert!(
        control.rationale.contains(&format!(" {mib} MiB/s ")),
        "{}",
        control.rationale
    );
}
