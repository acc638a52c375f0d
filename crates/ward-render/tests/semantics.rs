//! What the rendered objects of the example estate mean: both hosting models, all three
//! tiers, access, Odoo's configuration, and that no secret value is ever written.

mod common;

use serde_json::Value;
use ward_render::tree::Tree;

fn tree() -> Tree {
    match ward_render::render_kubernetes(&common::example()) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

fn get<'t>(tree: &'t Tree, path: &str) -> &'t Value {
    match tree.files.get(path).and_then(|f| f.value.as_ref()) {
        Some(v) => v,
        None => panic!(
            "{path} is not rendered; have:\n{}",
            tree.files.keys().cloned().collect::<Vec<_>>().join("\n")
        ),
    }
}

fn conf<'t>(tree: &'t Tree, folder: &str, which: &str) -> &'t str {
    get(tree, &format!("{folder}/externalsecret-odoo-config.yaml"))["spec"]["target"]["template"]["data"][which]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn tier1_dedicated_billing_is_highly_available_with_a_standby_region() {
    let t = tree();
    let ns = "dedicated-eu1/billing-prod";
    let labels = &get(&t, &format!("{ns}/namespace-billing-prod.yaml"))["metadata"]["labels"];
    assert_eq!(labels["ward.dev/tier"], "1");
    assert_eq!(labels["ward.dev/tenant"], "st-marys");
    assert_eq!(labels["ward.dev/data-class"], "phi");
    assert_eq!(labels["ward.dev/stage"], "production");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");

    let web = &get(&t, &format!("{ns}/deployment-odoo-web.yaml"))["spec"];
    // The HPA owns the replica count (see tests/capacity.rs); it keeps at least two.
    assert!(web.get("replicas").is_none());
    let hpa = &get(&t, &format!("{ns}/horizontalpodautoscaler-odoo-web.yaml"))["spec"];
    assert!(hpa["minReplicas"].as_i64().unwrap_or(0) >= 2);
    let spread = &web["template"]["spec"]["topologySpreadConstraints"];
    assert_eq!(spread[0]["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(spread[0]["whenUnsatisfiable"], "DoNotSchedule");
    let pod = &web["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert!(
        c["image"].as_str().unwrap_or_default().contains("@sha256:"),
        "image pinned by digest"
    );
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/web/health");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/web/health");
    assert!(
        c["resources"]["requests"]["cpu"].is_string()
            && c["resources"]["limits"]["memory"].is_string()
    );
    get(&t, &format!("{ns}/poddisruptionbudget-odoo-web.yaml"));
    get(&t, &format!("{ns}/horizontalpodautoscaler-odoo-web.yaml"));
    get(&t, &format!("{ns}/middleware-rate-limit.yaml"));

    let pg = &get(&t, &format!("{ns}/cluster-billing-prod-db.yaml"))["spec"];
    assert_eq!(pg["instances"], 3);
    assert_eq!(pg["postgresql"]["synchronous"]["number"], 1);
    assert_eq!(pg["plugins"][0]["isWALArchiver"], true);
    assert_eq!(pg["bootstrap"]["initdb"]["database"], "billing-prod");
    // The RPO (15m) is met by WAL archiving: a segment waits at most 5 minutes.
    assert_eq!(pg["postgresql"]["parameters"]["archive_timeout"], "300s");
    // Logical snapshots read from a standby; the dump must not be cancelled there.
    assert_eq!(pg["postgresql"]["parameters"]["hot_standby_feedback"], "on");
    // Nor cancelled by a replayed lock while the backup job may still run (its deadline).
    let backup_job = &get(&t, &format!("{ns}/cronjob-ward-backup-billing-prod.yaml"))["spec"];
    let deadline = backup_job["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        .as_i64()
        .expect("deadline");
    for name in ["max_standby_streaming_delay", "max_standby_archive_delay"] {
        assert_eq!(
            pg["postgresql"]["parameters"][name],
            format!("{deadline}s").as_str(),
            "{name}"
        );
    }
    let backup = &get(&t, &format!("{ns}/scheduledbackup-billing-prod-db.yaml"))["spec"];
    // Base backups once a day (tier 1), never at the RPO: six fields, one run a day.
    let schedule = backup["schedule"].as_str().unwrap_or_default();
    assert_eq!(
        ward_render::schedule::largest_gap(schedule),
        Some(ward_estate::units::Duration::days(1)),
        "{schedule}"
    );
    // Base backups and WAL are kept for the PITR window (14d), but no less than the
    // bucket's 35-day object lock, which would refuse an earlier deletion.
    let store = &get(&t, &format!("{ns}/objectstore-archive.yaml"))["spec"];
    assert_eq!(store["retentionPolicy"], "35d");

    // The standby in the recovery region follows the primary's archive, read from the
    // recovery region's replicated copy, and archives to that region once promoted.
    let rec = "recovery-eu2/billing-prod";
    let replica = &get(&t, &format!("{rec}/cluster-billing-prod-db.yaml"))["spec"];
    assert_eq!(replica["replica"]["enabled"], true);
    let source = &replica["externalClusters"][0]["plugin"]["parameters"];
    assert_eq!(source["serverName"], "billing-prod-db");
    assert_eq!(source["barmanObjectName"], "archive-source");
    assert_eq!(replica["plugins"][0]["isWALArchiver"], true);
    assert_eq!(
        replica["plugins"][0]["parameters"]["barmanObjectName"],
        "archive"
    );
    let source_store = &get(&t, &format!("{rec}/objectstore-archive-source.yaml"))["spec"];
    assert_eq!(
        source_store["configuration"]["destinationPath"],
        "s3://care-wal-archive-eu2/dedicated-eu1/billing-prod"
    );
    let own_store = &get(&t, &format!("{rec}/objectstore-archive.yaml"))["spec"];
    assert_eq!(
        own_store["configuration"]["destinationPath"],
        "s3://care-wal-archive-eu2/recovery-eu2/billing-prod"
    );
    assert_eq!(
        own_store["configuration"]["endpointURL"],
        "https://s3.eu-central-1.care.example"
    );
    get(
        &t,
        &format!("{rec}/externalsecret-archive-recovery-credentials.yaml"),
    );
    // The standby is scraped and alerted on in its own region.
    get(&t, &format!("{rec}/servicemonitor-postgres.yaml"));
    get(&t, &format!("{rec}/service-billing-prod-db-metrics.yaml"));
    let recovery_alerts = get(&t, &format!("{rec}/prometheusrule-recovery-alerts.yaml"));
    let names: Vec<&str> = recovery_alerts["spec"]["groups"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["alert"].as_str())
        .collect();
    assert_eq!(names, ["StandbyDown", "StandbyReplicationLag"]);

    let route = &get(&t, &format!("{ns}/ingressroute-odoo.yaml"))["spec"]["routes"];
    assert!(
        route[0]["match"]
            .as_str()
            .unwrap_or_default()
            .contains("PathPrefix(`/websocket`)")
    );
    assert_eq!(route[0]["services"][0]["port"], 8072);
    assert_eq!(route[1]["services"][0]["port"], 8069);
    assert_eq!(
        get(&t, &format!("{ns}/certificate-odoo.yaml"))["spec"]["dnsNames"][0],
        "billing.st-marys.care.example"
    );

    let web_conf = conf(&t, ns, "odoo-web.conf");
    for line in [
        "workers = 9",
        "max_cron_threads = 0",
        "proxy_mode = True",
        "list_db = False",
        "dbfilter = ^billing\\-prod$",
    ] {
        assert!(
            web_conf.lines().any(|l| l == line),
            "{line} missing:\n{web_conf}"
        );
    }
    assert!(
        conf(&t, ns, "odoo-cron.conf")
            .lines()
            .any(|l| l == "max_cron_threads = 2")
    );
    let cron = &get(&t, &format!("{ns}/deployment-odoo-cron.yaml"))["spec"]["template"]["spec"]["volumes"]
        [0]["secret"]["items"][0];
    assert_eq!(cron["key"], "odoo-cron.conf");

    // Ward's own jobs follow the posture.
    let job = &get(&t, &format!("{ns}/cronjob-ward-backup-billing-prod.yaml"))["spec"];
    assert_eq!(
        job["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!([
            "backup",
            "run",
            "billing/prod",
            "--object-store",
            "care-backups",
            // verify-full against the cluster's own CA, mounted from `<cluster>-ca`.
            "--db-sslmode",
            "verify-full",
            "--db-ca-file",
            "/var/run/ward/db-ca/ca.crt"
        ])
    );
    get(&t, &format!("{ns}/cronjob-ward-drill-billing-prod.yaml"));

    let alerts: Vec<String> =
        get(&t, &format!("{ns}/prometheusrule-odoo-alerts.yaml"))["spec"]["groups"][0]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["alert"].as_str().map(String::from))
            .collect();
    for a in [
        "OdooDown",
        "OdooHigh5xxRate",
        "OdooSlowP95",
        "PostgresReplicationLag",
        "BackupTooOld",
        "BaseBackupTooOld",
        "WalArchivingStale",
        "CertificateExpiringSoon",
        "RestoreDrillOverdue",
    ] {
        assert!(alerts.iter().any(|x| x == a), "{a} missing: {alerts:?}");
    }
    let app = &get(
        &t,
        "dedicated-eu1/argocd/application-dedicated-eu1-billing-prod.yaml",
    )["spec"];
    assert_eq!(app["source"]["path"], "dedicated-eu1/billing-prod");
    assert_eq!(app["project"], "st-marys-dedicated-eu1");
    let project = &get(
        &t,
        "dedicated-eu1/argocd/appproject-st-marys-dedicated-eu1.yaml",
    )["spec"];
    let destinations = project["destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        destinations
            .contains(&serde_json::json!({"name": "dedicated-eu1", "namespace": "billing-prod"}))
    );
    assert!(
        destinations.iter().all(|d| d["name"] == "dedicated-eu1"
            && d["namespace"]
                .as_str()
                .is_some_and(|n| n.starts_with("billing-"))),
        "the tenant's project admits only its own namespaces: {destinations:?}"
    );
}

#[test]
fn multi_tenant_stacks_share_odoo_and_postgres_with_a_role_per_tenant() {
    let t = tree();
    let ns = "shared-eu1/odoo-shared-production-v17";
    // patient-portal (tier 2) shares this stack; one Odoo deployment serves it by host.
    let web_conf = conf(&t, ns, "odoo-web.conf");
    assert!(
        web_conf.lines().any(|l| l == "dbfilter = ^%h$"),
        "{web_conf}"
    );
    assert!(
        !web_conf.contains("db_name"),
        "a shared Odoo serves several databases"
    );
    let pg = &get(&t, &format!("{ns}/cluster-shared-db.yaml"))["spec"];
    assert_eq!(pg["instances"], 2, "tier 2: two instances");
    assert!(pg["postgresql"].get("synchronous").is_none());
    let hba: Vec<&str> = pg["postgresql"]["pg_hba"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        hba.contains(
            &"hostssl \"portal.st-marys.care.example\" \"patient-portal-prod\" all scram-sha-256"
        ),
        "{hba:?}"
    );
    assert!(
        hba.contains(&"host all \"patient-portal-prod\" all reject"),
        "{hba:?}"
    );
    let db = &get(&t, &format!("{ns}/database-patient-portal-prod.yaml"))["spec"];
    assert_eq!(db["name"], "portal.st-marys.care.example");
    // Odoo's role owns it, so that Odoo's listing finds it; the tenant's role is Ward's.
    assert_eq!(db["owner"], "odoo");
    get(&t, &format!("{ns}/ingressroute-patient-portal-prod.yaml"));
    // Tier-2 production keeps a web pod through drains; a development stack does not.
    get(&t, &format!("{ns}/poddisruptionbudget-odoo-web.yaml"));
    assert!(
        !t.files.contains_key(
            "shared-eu1/odoo-shared-development-v17/poddisruptionbudget-odoo-web.yaml"
        ),
        "no PDB for development"
    );

    // Tier 3 sandbox: one PostgreSQL instance; Odoo 16 has a stack of its own.
    let dev = &get(
        &t,
        "shared-eu1/odoo-shared-development-v17/cluster-shared-db.yaml",
    )["spec"];
    assert_eq!(dev["instances"], 1);
    get(
        &t,
        "shared-eu1/odoo-shared-production-v16/database-care-coordination-prod.yaml",
    );
    let ns_labels = &get(
        &t,
        &format!("{ns}/namespace-odoo-shared-production-v17.yaml"),
    )["metadata"]["labels"];
    assert_eq!(ns_labels["ward.dev/hosting"], "multi-tenant");
    assert_eq!(ns_labels["ward.dev/stage"], "production");
}

#[test]
fn every_namespace_denies_by_default_and_admits_only_traefik() {
    let t = tree();
    let folders: std::collections::BTreeSet<String> = t
        .objects()
        .filter(|(p, _)| p.contains("/namespace-"))
        .map(|(p, _)| {
            p.rsplit_once('/')
                .map(|(f, _)| f.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(folders.len() >= 6, "{folders:?}");
    for folder in &folders {
        let deny = &get(&t, &format!("{folder}/networkpolicy-default-deny.yaml"))["spec"];
        assert_eq!(deny["podSelector"], serde_json::json!({}));
        assert_eq!(
            deny["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
    }
    for (path, file) in t.objects() {
        let v = file.value.as_ref().expect("value");
        if v["kind"] != "NetworkPolicy" {
            continue;
        }
        // Ingress from another namespace is only ever Traefik, the operator or monitoring.
        for rule in v["spec"]["ingress"].as_array().into_iter().flatten() {
            for peer in rule["from"].as_array().into_iter().flatten() {
                if let Some(ns) =
                    peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str()
                {
                    assert!(
                        ["traefik", "cnpg-system", "monitoring"].contains(&ns),
                        "{path} admits {ns}"
                    );
                }
            }
        }
    }
    let ingress = &get(
        &t,
        "dedicated-eu1/billing-prod/networkpolicy-allow-ingress-from-traefik.yaml",
    )["spec"]["ingress"][0];
    assert_eq!(
        ingress["ports"],
        serde_json::json!([{"port": 8069, "protocol": "TCP"}, {"port": 8072, "protocol": "TCP"}])
    );
}

#[test]
fn roles_are_least_privilege() {
    let t = tree();
    let ns = "dedicated-eu1/billing-prod";
    let rules = |role: &str| {
        get(&t, &format!("{ns}/role-ward-{role}.yaml"))["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let writes = |rules: &[Value], resource: &str| {
        rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x == resource)
                && r["verbs"].as_array().into_iter().flatten().any(|v| {
                    ["create", "update", "patch", "delete"]
                        .contains(&v.as_str().unwrap_or_default())
                })
        })
    };
    assert!(writes(&rules("platform-ops"), "deployments"));
    for role in ["dba", "security-reviewer", "app-support"] {
        assert!(
            !writes(&rules(role), "deployments"),
            "{role} may not change workloads"
        );
    }
    // The DBA writes backups, never a `Cluster` (whose pods may mount any Secret); see
    // tests/rbac.rs for what each role can reach.
    assert!(writes(&rules("dba"), "backups") && writes(&rules("dba"), "scheduledbackups"));
    assert!(!writes(&rules("dba"), "clusters"));
    assert!(rules("security-reviewer").iter().any(|r| {
        r["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x == "rolebindings")
    }));
    let support = rules("app-support");
    assert!(
        support
            .iter()
            .all(|r| r["verbs"] == serde_json::json!(["get", "list", "watch"]))
    );
    assert!(support.iter().any(|r| {
        r["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x == "pods/log")
    }));
    for role in ["platform-ops", "dba", "security-reviewer", "app-support"] {
        for r in rules(role) {
            let res = r["resources"].as_array().cloned().unwrap_or_default();
            assert!(
                !res.iter().any(|x| x == "secrets" || x == "*"),
                "{role} must not read secrets"
            );
        }
    }
    let binding = &get(&t, &format!("{ns}/rolebinding-ward-app-support.yaml"))["subjects"];
    let groups: Vec<&str> = binding
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        groups,
        ["idp:care-app-support", "idp:revenue-cycle"],
        "the owner's team and the platform's"
    );
    for sa in ["odoo", "ward-jobs"] {
        assert_eq!(
            get(&t, &format!("{ns}/serviceaccount-{sa}.yaml"))["automountServiceAccountToken"],
            false
        );
    }
}

/// Every string in every rendered file; no value may look like a credential, no object
/// may be a `Secret`, and every credential line of `odoo.conf` is a template reference.
#[test]
fn no_secret_value_appears_in_any_rendered_file() {
    fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.push(k);
                strings(x, out)
            }),
            _ => {}
        }
    }
    let t = tree();
    let mut count = 0;
    for (path, file) in &t.files {
        let values = ward_render::yaml::from_yaml(path, &file.text).expect("parses");
        for v in &values {
            assert_ne!(v["kind"], "Secret", "{path}: Secrets are never rendered");
            let mut all = Vec::new();
            strings(v, &mut all);
            for s in all {
                for line in s.lines() {
                    assert!(
                        ward_estate::secrets::credential_shape(line).is_none(),
                        "{path}: `{line}` looks like a credential"
                    );
                    if let Some((key, value)) = line.split_once(" = ")
                        && (key.contains("passw")
                            || key.contains("secret")
                            || key.contains("token"))
                    {
                        assert!(
                            value.starts_with("{{ .") && value.ends_with(" }}"),
                            "{path}: {key} is not a reference"
                        );
                        count += 1;
                    }
                }
            }
        }
    }
    assert!(
        count >= 8,
        "odoo.conf credential lines were checked ({count})"
    );
}

#[test]
fn a_credential_in_the_estate_never_reaches_the_tree() {
    // A literal password in the estate is refused at load time, before rendering.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&common::example_dir(), dir.path());
    let billing = dir.path().join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    let text = text.replace(
        "passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }",
        "passwordRef: \"hunter2-Sup3rSecret!\"",
    );
    std::fs::write(&billing, text).expect("write");
    assert!(ward_estate::load(dir.path()).is_err());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn snapshot_of_the_example_tree() {
    let t = tree();
    let mut text = String::new();
    for (path, file) in &t.files {
        text.push_str(&format!("# ---- {path}\n{}", file.text));
    }
    insta::assert_snapshot!("example-kubernetes-tree", text);
}
