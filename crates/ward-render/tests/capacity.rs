//! Capacity and GitOps safety of the example's Kubernetes tree, judged the way the
//! consumers judge it: ResourceQuota admission of every volume CloudNativePG and the pods
//! may claim (one replacement instance included), Argo CD's reading of sync options and
//! of the folders it syncs, and the HPA's ownership of the replica count.

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use ward_render::tree::Tree;

fn tree() -> Tree {
    match ward_render::render_kubernetes(&common::example()) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

/// A Kubernetes quantity in bytes (binary and decimal suffixes, as the API reads them).
fn bytes(q: &str) -> u64 {
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, unit) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap_or_else(|_| panic!("quantity {q}")) * unit;
        }
    }
    q.parse().unwrap_or_else(|_| panic!("quantity {q}"))
}

/// Objects by folder (`<cluster>/<namespace>`), parsed.
fn by_folder(tree: &Tree) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (path, file) in tree.objects() {
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f).to_string();
        out.entry(folder)
            .or_default()
            .push(file.parsed().expect("parses").into_owned());
    }
    out
}

fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    objects.iter().filter(move |o| o["kind"] == kind)
}

fn pod_spec(o: &Value) -> Option<&Value> {
    match o["kind"].as_str() {
        Some("Deployment") => Some(&o["spec"]["template"]["spec"]),
        Some("CronJob") => Some(&o["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

/// What ResourceQuota admission counts against `requests.storage` and
/// `persistentvolumeclaims` when everything in the namespace claims its volumes at once:
/// every CloudNativePG instance's PVCs (data, and WAL where `walStorage` is set) plus those
/// of the replacement instance CloudNativePG creates before it removes a failed one, every
/// PVC in the tree, and the generic ephemeral volumes of every pod template (each CronJob
/// running once).
fn claimed(objects: &[Value]) -> (u64, u64) {
    let (mut storage, mut count) = (0, 0);
    for c in of_kind(objects, "Cluster") {
        let spec = &c["spec"];
        let instances = spec["instances"].as_u64().expect("instances") + 1;
        for volume in ["storage", "walStorage"] {
            if let Some(size) = spec[volume]["size"].as_str() {
                storage += instances * bytes(size);
                count += instances;
            }
        }
    }
    for pvc in of_kind(objects, "PersistentVolumeClaim") {
        storage += bytes(
            pvc["spec"]["resources"]["requests"]["storage"]
                .as_str()
                .expect("request"),
        );
        count += 1;
    }
    for o in objects {
        let Some(spec) = pod_spec(o) else { continue };
        let copies = o["spec"]["replicas"].as_u64().unwrap_or(1);
        for v in spec["volumes"].as_array().into_iter().flatten() {
            let claim = &v["ephemeral"]["volumeClaimTemplate"]["spec"];
            if let Some(size) = claim["resources"]["requests"]["storage"].as_str() {
                storage += copies * bytes(size);
                count += copies;
            }
        }
    }
    (storage, count)
}

#[test]
fn the_quota_admits_every_volume_and_a_replacement_instance() {
    let tree = tree();
    let mut checked = 0;
    for (folder, objects) in by_folder(&tree) {
        let Some(quota) = of_kind(&objects, "ResourceQuota").next() else {
            continue;
        };
        let hard = &quota["spec"]["hard"];
        let (storage, count) = claimed(&objects);
        let allowed = bytes(hard["requests.storage"].as_str().expect("storage"));
        let claims: u64 = hard["persistentvolumeclaims"]
            .as_str()
            .expect("claims")
            .parse()
            .expect("a count");
        assert!(
            storage <= allowed,
            "{folder}: {storage} bytes claimed, quota {allowed}"
        );
        assert!(count <= claims, "{folder}: {count} PVCs, quota {claims}");
        checked += 1;
    }
    assert!(checked >= 4, "{checked} quotas");
}

#[test]
fn database_volumes_have_headroom_and_tier_1_keeps_wal_apart() {
    let estate = common::example();
    let platform = estate.platform.as_ref().expect("platform");
    let settings = ward_render::stack::Settings::from_platform(&platform.spec).expect("settings");
    let stacks = ward_render::stack::stacks(&estate, &settings).expect("stacks");
    let tree = tree();
    let folders = by_folder(&tree);
    let mut checked = 0;
    for s in &stacks {
        for cluster in
            std::iter::once(&s.cluster).chain(s.recovery_cluster.iter().filter(|_| s.tier == 1))
        {
            let objects = &folders[&format!("{cluster}/{}", s.namespace)];
            let (key, value) = ward_render::kubernetes::DRILL_CLUSTER_LABEL;
            let c = of_kind(objects, "Cluster")
                .find(|c| c["metadata"]["labels"][key] != value)
                .expect("a Cluster");
            let data = bytes(c["spec"]["storage"]["size"].as_str().expect("size"));
            // At least 1.5× what the estate declares, so bloat or a rebuild does not fill it.
            assert!(
                data * 2 >= s.database_bytes * 3,
                "{cluster}/{}: {data} for {} declared",
                s.namespace,
                s.database_bytes
            );
            let wal = c["spec"]["walStorage"]["size"].as_str();
            assert_eq!(wal.is_some(), s.tier == 1, "{}: walStorage", s.namespace);
            // The database volumes are block storage; the filestore is the shared class.
            assert_eq!(
                c["spec"]["storage"]["storageClass"].as_str(),
                settings.database_storage_class.as_deref()
            );
            checked += 1;
        }
        let filestore = folders[&format!("{}/{}", s.cluster, s.namespace)]
            .iter()
            .find(|o| {
                o["kind"] == "PersistentVolumeClaim" && o["metadata"]["name"] == "odoo-filestore"
            })
            .expect("filestore");
        assert_eq!(
            filestore["spec"]["storageClassName"].as_str(),
            settings.filestore_storage_class.as_deref()
        );
        assert_eq!(filestore["spec"]["accessModes"][0], "ReadWriteMany");
    }
    assert!(settings.database_storage_class != settings.filestore_storage_class);
    assert!(checked >= 5, "{checked}");
}

#[test]
fn postgres_is_sized_from_its_database_and_its_sidecar_has_resources() {
    let tree = tree();
    let folders = by_folder(&tree);
    let memory = |folder: &str| {
        let c = of_kind(&folders[folder], "Cluster")
            .next()
            .expect("Cluster");
        bytes(
            c["spec"]["resources"]["requests"]["memory"]
                .as_str()
                .expect("memory"),
        )
    };
    // billing/prod declares 200 GiB, billing/staging 50 GiB, with the same web pod size
    // class: the larger database gets more memory.
    assert!(memory("dedicated-eu1/billing-prod") > memory("dedicated-eu1/billing-staging"));
    for (folder, objects) in &folders {
        for store in of_kind(objects, "ObjectStore") {
            let r = &store["spec"]["instanceSidecarConfiguration"]["resources"];
            for key in ["cpu", "memory"] {
                assert!(r["requests"][key].is_string(), "{folder}: sidecar {key}");
                assert_eq!(r["requests"][key], r["limits"][key], "{folder}: Guaranteed");
            }
        }
    }
}

#[test]
fn an_autoscaled_deployment_leaves_replicas_to_its_hpa() {
    let tree = tree();
    let mut autoscaled = 0;
    for (folder, objects) in by_folder(&tree) {
        let targets: BTreeSet<&str> = of_kind(&objects, "HorizontalPodAutoscaler")
            .filter(|h| h["spec"]["scaleTargetRef"]["kind"] == "Deployment")
            .filter_map(|h| h["spec"]["scaleTargetRef"]["name"].as_str())
            .collect();
        for d in of_kind(&objects, "Deployment") {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            // Argo CD applies what the file says on every sync (self-heal): a `replicas`
            // there would undo each scale-out of the HPA.
            assert_eq!(
                d["spec"].get("replicas").is_none(),
                targets.contains(name),
                "{folder}/{name}: replicas {:?} with HPA targets {targets:?}",
                d["spec"].get("replicas")
            );
            autoscaled += usize::from(targets.contains(name));
        }
    }
    assert!(autoscaled >= 1);
}

/// Kubernetes' eviction API: a voluntary eviction is allowed while the pods left would
/// still meet `minAvailable`.
fn evictions_allowed(replicas: u64, min_available: u64) -> u64 {
    replicas.saturating_sub(min_available)
}

#[test]
fn tier_2_production_keeps_a_web_pod_through_drains() {
    let tree = tree();
    let mut checked = 0;
    for (folder, objects) in by_folder(&tree) {
        let Some(ns) = of_kind(&objects, "Namespace").next() else {
            continue;
        };
        let l = &ns["metadata"]["labels"];
        if l["ward.dev/tier"] != "2" || l["ward.dev/stage"] != "production" {
            continue;
        }
        let web = of_kind(&objects, "Deployment")
            .find(|d| d["metadata"]["name"] == "odoo-web")
            .expect("web");
        let replicas = web["spec"]["replicas"].as_u64().expect("replicas");
        let pod_labels = &web["spec"]["template"]["metadata"]["labels"];
        let pdb = of_kind(&objects, "PodDisruptionBudget")
            .find(|p| {
                p["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|m| m.iter().all(|(k, v)| &pod_labels[k] == v))
            })
            .unwrap_or_else(|| panic!("{folder}: no PodDisruptionBudget selects odoo-web"));
        let min = pdb["spec"]["minAvailable"].as_u64().expect("minAvailable");
        assert!(min >= 1, "{folder}: the budget protects a pod");
        assert!(
            evictions_allowed(replicas, min) >= 1,
            "{folder}: a drain can still move one pod"
        );
        let spread = web["spec"]["template"]["spec"]["topologySpreadConstraints"]
            .as_array()
            .unwrap_or_else(|| panic!("{folder}: no spread constraints"));
        assert!(
            spread
                .iter()
                .any(|c| c["topologyKey"] == "kubernetes.io/hostname"
                    && c["whenUnsatisfiable"] == "DoNotSchedule"),
            "{folder}: the pods land on different nodes"
        );
        checked += 1;
    }
    assert!(checked >= 1, "the example has a tier-2 production stack");
}

/// Argo CD's reading of `argocd.argoproj.io/sync-options`: comma-separated `key=value`,
/// white space trimmed.
fn sync_options(o: &Value) -> BTreeMap<String, String> {
    o["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn stateful_objects_are_never_pruned_nor_deleted_by_argo_cd() {
    let tree = tree();
    let mut checked = BTreeSet::new();
    for (path, file) in tree.objects() {
        let o = file.parsed().expect("parses");
        let api = o["apiVersion"].as_str().unwrap_or_default();
        let kind = o["kind"].as_str().unwrap_or_default();
        let stateful = matches!(
            (api, kind),
            ("v1", "Namespace" | "PersistentVolumeClaim") | ("postgresql.cnpg.io/v1", "Cluster")
        );
        let options = sync_options(&o);
        if stateful {
            assert_eq!(
                options.get("Prune").map(String::as_str),
                Some("false"),
                "{path}"
            );
            assert_eq!(
                options.get("Delete").map(String::as_str),
                Some("false"),
                "{path}"
            );
            checked.insert(kind.to_string());
        } else {
            assert!(
                options.is_empty(),
                "{path}: sync options on a stateless object"
            );
        }
    }
    assert_eq!(checked.len(), 3, "{checked:?}");
}

/// The entries of a kustomization, resolved against its folder.
fn kustomization(tree: &Tree, folder: &str) -> Vec<String> {
    let path = format!("{folder}/kustomization.yaml");
    let file = tree
        .files
        .get(&path)
        .unwrap_or_else(|| panic!("{path} missing"));
    let listed =
        ward_render::yaml::from_yaml(&path, &file.text).expect("parses")[0]["resources"].clone();
    let listed: Vec<String> = serde_json::from_value(listed).expect("a list");
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "{path} lists an entry twice: {listed:?}"
    );
    listed.iter().map(|e| format!("{folder}/{e}")).collect()
}

/// The object files a kustomization build of `folder` emits.
fn built(tree: &Tree, folder: &str, out: &mut Vec<String>) {
    for entry in kustomization(tree, folder) {
        if tree
            .files
            .contains_key(&format!("{entry}/kustomization.yaml"))
        {
            built(tree, &entry, out);
        } else {
            out.push(entry);
        }
    }
}

#[test]
fn every_object_has_exactly_one_argo_cd_owner() {
    let tree = tree();
    // What gets synced: each cluster folder (the root a platform points Argo CD at, which
    // holds the Applications) and each Application's path.
    let clusters: BTreeSet<String> = tree
        .files
        .keys()
        .filter_map(|p| p.split_once('/').map(|(c, _)| c.to_string()))
        .collect();
    let mut roots: Vec<String> = clusters.into_iter().collect();
    roots.extend(tree.application_paths());
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for root in &roots {
        let mut files = Vec::new();
        built(&tree, root, &mut files);
        for f in files {
            owners.entry(f).or_default().push(root.clone());
        }
    }
    for (path, _) in tree.objects() {
        let by = owners.get(path).cloned().unwrap_or_default();
        assert_eq!(by.len(), 1, "{path} is synced by {by:?}");
    }
}

/// checkov's failures the docs name with their reason (`docs/rendering.md`, "checkov"),
/// by check and object name.
const DOCUMENTED_CHECKOV_FAILURES: &[(&str, &str)] = &[
    // Redis has a readiness probe only: a liveness probe is the Redis part of issue 12.
    ("CKV_K8S_8", "redis"),
];

#[test]
fn checkov_finds_nothing_without_a_documented_reason() {
    if std::process::Command::new("checkov")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("checkov not on PATH; skipped");
        return;
    }
    let tree = tree();
    // checkov leaves out hidden folders, as `tempdir()`'s `.tmp…` would be.
    let dir = tempfile::Builder::new()
        .prefix("ward-checkov-")
        .tempdir()
        .expect("tempdir");
    tree.write(dir.path(), &ward_render::tree::Provenance::default())
        .expect("writes");
    let out = std::process::Command::new("checkov")
        .arg("-d")
        .arg(dir.path())
        .args(["--framework", "kubernetes", "--compact", "-o", "json"])
        .output()
        .expect("checkov runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's report: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let results = &report["results"];
    assert!(
        results["passed_checks"]
            .as_array()
            .is_some_and(|p| p.len() > 100),
        "checkov checked the tree"
    );
    for failure in results["failed_checks"].as_array().into_iter().flatten() {
        let id = failure["check_id"].as_str().unwrap_or_default();
        let resource = failure["resource"].as_str().unwrap_or_default();
        let name = resource.rsplit('.').next().unwrap_or_default();
        assert!(
            DOCUMENTED_CHECKOV_FAILURES.contains(&(id, name)),
            "{id} fails on {resource} ({}) with no documented reason",
            failure["file_path"]
        );
    }
    for skip in results["skipped_checks"].as_array().into_iter().flatten() {
        let comment = skip["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            comment.len() > 40,
            "{} skipped on {} without a reason",
            skip["check_id"],
            skip["resource"]
        );
    }
}
