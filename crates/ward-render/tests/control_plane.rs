//! Ward itself in the tree: `ward-system` with `ward serve` (two replicas on two nodes,
//! a budget, probes, restricted pods, a grace period that covers the job grace), its
//! CloudNativePG store whose connection is a mounted Secret, never a literal, and the
//! scheduler switch: with `scheduler: server` the backup and drill CronJobs of the
//! server's cluster are suspended, and nowhere else.

mod common;

use serde_json::Value;
use ward_estate::Estate;
use ward_render::kubernetes::{JOB_GRACE_SECONDS, SERVER_NAME, STORE_APP_SECRET, STORE_CLUSTER};
use ward_render::metrics::CONTROL_PLANE_NAMESPACE as NS;
use ward_render::tree::Tree;

fn with_control_plane(control_plane: &str) -> Estate {
    common::loaded(common::example_edited(|name, text| {
        if name == "platform.yaml" {
            text.replacen(
                "spec:\n  clusters:",
                &format!("spec:\n  controlPlane: {control_plane}\n  clusters:"),
                1,
            )
        } else {
            text
        }
    }))
}

fn render(estate: &Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("does not render: {e}"),
    }
}

fn object<'t>(tree: &'t Tree, path: &str) -> &'t Value {
    match tree.files.get(path).and_then(|f| f.value.as_ref()) {
        Some(v) => v,
        None => panic!("{path} is not rendered"),
    }
}

fn args(tree: &Tree, cluster: &str) -> Vec<String> {
    let d = object(
        tree,
        &format!("{cluster}/{NS}/deployment-{SERVER_NAME}.yaml"),
    );
    d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect()
}

/// The scheduled CronJobs of Ward's jobs (backup, drill, prune; not the recovery
/// region's restore, which is always suspended), by path, with whether each is suspended.
fn cronjobs(tree: &Tree) -> Vec<(String, String, bool)> {
    tree.files
        .iter()
        .filter_map(|(p, f)| {
            let v = f.value.as_ref()?;
            let job =
                v["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["ward.dev/job"]
                    .as_str()?;
            (v["kind"] == "CronJob" && job != "restore-filestore").then(|| {
                (
                    p.clone(),
                    job.to_string(),
                    v["spec"]["suspend"].as_bool() == Some(true),
                )
            })
        })
        .collect()
}

#[test]
fn the_example_renders_ward_serve_in_the_first_shared_cluster() {
    let tree = render(&common::example());
    let base = format!("shared-eu1/{NS}");
    let d = object(&tree, &format!("{base}/deployment-{SERVER_NAME}.yaml"));
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &d["spec"]["template"]["spec"];
    let anti = &pod["affinity"]["podAntiAffinity"];
    assert_eq!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert_eq!(
        anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    let grace = pod["terminationGracePeriodSeconds"]
        .as_i64()
        .expect("grace");
    assert!(grace > JOB_GRACE_SECONDS, "{grace}");
    assert!(args(&tree, "shared-eu1").contains(&format!("--job-grace={JOB_GRACE_SECONDS}s")));
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
    // The platform's Ward image, the one its CronJobs run.
    let estate = common::example();
    let image = &estate.platform.as_ref().expect("platform").spec.rendering;
    assert_eq!(
        c["image"].as_str(),
        image.ward_image.as_ref().map(|i| i.value.as_str())
    );
    // The store's connection is CloudNativePG's generated Secret, mounted: no URL, no
    // password on the command line or in the environment.
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == STORE_APP_SECRET
                && v["secret"]["items"][0]["key"] == "uri")
    );
    let text = serde_json::to_string(d).expect("json");
    for literal in ["postgres://", "postgresql://", "password"] {
        assert!(!text.contains(literal), "{literal} in the Deployment");
    }
    let a = args(&tree, "shared-eu1");
    assert!(
        a.iter().any(|x| x.starts_with("--store-url-file=")),
        "{a:?}"
    );
    assert!(a.contains(&"--scheduler=off".to_string()), "{a:?}");
    // Budget, service, monitor, store.
    let pdb = object(
        &tree,
        &format!("{base}/poddisruptionbudget-{SERVER_NAME}.yaml"),
    );
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let monitor = object(&tree, &format!("{base}/servicemonitor-{SERVER_NAME}.yaml"));
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    let store = object(&tree, &format!("{base}/cluster-{STORE_CLUSTER}.yaml"));
    assert!(store["spec"]["bootstrap"]["initdb"].get("secret").is_none());
    assert_eq!(store["spec"]["instances"], 2);
    assert_eq!(
        store["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
        "Prune=false,Delete=false"
    );
    let hba: Vec<&str> = store["spec"]["postgresql"]["pg_hba"]
        .as_array()
        .expect("pg_hba")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(hba[0].starts_with("hostssl"), "{hba:?}");
    // No RBAC for the server itself: it has no token and no RoleBinding names it.
    for (path, f) in &tree.files {
        if path.contains("/rolebinding-") || path.contains("/clusterrolebinding-") {
            let text = serde_json::to_string(&f.value).expect("json");
            assert!(!text.contains(SERVER_NAME), "{path} binds the server");
        }
    }
    // Its own Argo CD project and Application; nothing of it elsewhere.
    assert!(
        tree.files
            .contains_key("shared-eu1/argocd/application-shared-eu1-ward-system.yaml")
    );
    assert!(
        !tree
            .files
            .keys()
            .any(|p| p.starts_with("dedicated-eu1/ward-system/"))
    );
    // The default scheduler is the CronJobs: none is suspended.
    assert!(cronjobs(&tree).iter().all(|(_, _, suspended)| !suspended));
}

#[test]
fn with_the_server_scheduling_its_clusters_backup_and_drill_cronjobs_are_suspended() {
    let tree = render(&with_control_plane("{ scheduler: server, replicas: 3 }"));
    let a = args(&tree, "shared-eu1");
    assert!(a.contains(&"--scheduler=server".to_string()), "{a:?}");
    assert!(
        a.contains(&"--schedule-cluster=shared-eu1".to_string()),
        "{a:?}"
    );
    let d = object(
        &tree,
        &format!("shared-eu1/{NS}/deployment-{SERVER_NAME}.yaml"),
    );
    assert_eq!(d["spec"]["replicas"], 3);
    let jobs = cronjobs(&tree);
    let mut suspended = 0;
    for (path, job, is_suspended) in &jobs {
        let here = path.starts_with("shared-eu1/");
        let expected = here && (job == "backup" || job == "drill");
        assert_eq!(*is_suspended, expected, "{path}");
        suspended += usize::from(*is_suspended);
    }
    assert!(suspended >= 4, "{suspended}");
    // Another cluster's environments keep their CronJobs: the server cannot reach there.
    assert!(
        jobs.iter()
            .any(|(p, j, s)| p.starts_with("dedicated-eu1/") && j == "backup" && !s)
    );
}

#[test]
fn a_disabled_control_plane_renders_no_ward_system() {
    let tree = render(&with_control_plane("{ enabled: false }"));
    assert!(!tree.files.keys().any(|p| p.contains("/ward-system/")));
    assert!(!tree.files.keys().any(|p| p.contains("ward-system")));
}

#[test]
fn the_openid_client_secret_is_a_reference_mounted_as_a_file() {
    let tree = render(&with_control_plane(
        "{ url: 'https://ward.care.example', oidc: { issuer: 'https://login.care.example/realms/ward', clientId: ward, groupsPrefix: 'idp:', clientSecretRef: { store: hospital-vault, key: platform/ward/oidc, property: client_secret } } }",
    ));
    let a = args(&tree, "shared-eu1");
    assert!(a.contains(&"--oidc-issuer=https://login.care.example/realms/ward".to_string()));
    assert!(a.contains(&"--public-url=https://ward.care.example".to_string()));
    assert!(a.contains(&"--oidc-groups-prefix=idp:".to_string()));
    assert!(
        a.iter()
            .any(|x| x.starts_with("--oidc-client-secret-file=")),
        "{a:?}"
    );
    let es = object(
        &tree,
        &format!("shared-eu1/{NS}/externalsecret-ward-oidc.yaml"),
    );
    assert_eq!(
        es["spec"]["data"][0]["remoteRef"]["key"],
        "platform/ward/oidc"
    );
    // The namespace's own store may read exactly that key and the others it names.
    let store = object(
        &tree,
        &format!("shared-eu1/{NS}/secretstore-hospital-vault.yaml"),
    );
    let policy = store["metadata"]["annotations"]["ward.dev/vault-policy"]
        .as_str()
        .expect("policy");
    assert!(policy.contains("platform/ward/oidc"), "{policy}");
}

/// The server's memory holds its commit evaluations' child process: sized for the estate
/// unless the platform says, and requested as much as it is limited to.
#[test]
fn the_server_s_memory_is_sized_for_the_estate_or_as_written() {
    let memory = |estate: &Estate| {
        let tree = render(estate);
        let d = object(
            &tree,
            &format!("shared-eu1/{NS}/deployment-{SERVER_NAME}.yaml"),
        );
        let r = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
        assert_eq!(r["limits"]["memory"], r["requests"]["memory"]);
        r["limits"]["memory"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let example = common::example();
    let expected = example
        .platform
        .as_ref()
        .map(|p| {
            p.spec
                .control_plane
                .memory_bytes(example.environments.len())
        })
        .unwrap_or_default();
    assert!(expected > 768 << 20, "{expected}");
    assert_eq!(memory(&example), format!("{}Mi", expected >> 20));
    assert_eq!(memory(&with_control_plane("{ memory: 6Gi }")), "6Gi");
}
