//! The example estate's Kubernetes tree: every custom resource validates against its
//! upstream CRD schema, every core object round-trips through k8s-openapi's types, the
//! tree builds with `kubectl kustomize`, and rendering is deterministic.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use ward_render::tree::Tree;

fn tree() -> Tree {
    match ward_render::render_kubernetes(&common::example()) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

/// Makes a CRD schema strict: wherever it lists `properties` and neither allows unknown
/// fields nor says anything about extra keys, extra keys are errors. The API server would
/// silently prune them; a test should not.
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(m) => {
            let preserve =
                m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            for v in m.values_mut() {
                strict(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

/// `apiVersion` + `kind` → the CRD's `openAPIV3Schema`, for every vendored CRD.
fn crd_schemas() -> BTreeMap<(String, String), Value> {
    let dir = common::crds_dir();
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("crd folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("crd file");
        let docs =
            ward_render::yaml::from_yaml(&path.display().to_string(), &text).expect("crd parses");
        for doc in docs {
            let Some(spec) = doc.get("spec") else {
                continue;
            };
            let group = spec["group"].as_str().unwrap_or_default();
            let kind = spec["names"]["kind"].as_str().unwrap_or_default();
            for version in spec["versions"].as_array().into_iter().flatten() {
                let name = version["name"].as_str().unwrap_or_default();
                let mut schema = version["schema"]["openAPIV3Schema"].clone();
                strict(&mut schema);
                out.insert((format!("{group}/{name}"), kind.to_string()), schema);
            }
        }
    }
    out
}

#[test]
fn custom_resources_validate_against_upstream_crds() {
    let schemas = crd_schemas();
    let tree = tree();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for (path, file) in tree.objects() {
        let value = file.value.as_ref().expect("object value");
        let api = value["apiVersion"].as_str().unwrap_or_default();
        let kind = value["kind"].as_str().unwrap_or_default();
        if !api.contains('.') {
            continue; // core and built-in groups: see the round-trip test
        }
        if api.ends_with(".k8s.io/v1") || api.starts_with("apps/") {
            continue;
        }
        let Some(schema) = schemas.get(&(api.to_string(), kind.to_string())) else {
            panic!("no CRD schema for {path} ({api} {kind}): vendor it in tests/crds/");
        };
        let validator = jsonschema::validator_for(schema).expect("schema compiles");
        for e in validator.iter_errors(value) {
            errors.push(format!("{path}: {} at {}", e, e.instance_path()));
        }
        *checked.entry(kind.to_string()).or_default() += 1;
    }
    assert!(
        errors.is_empty(),
        "{} schema errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
    for kind in [
        "Cluster",
        "ScheduledBackup",
        "Database",
        "ObjectStore",
        "IngressRoute",
        "Middleware",
        "Certificate",
        "ExternalSecret",
        "Application",
        "AppProject",
        "PrometheusRule",
        "ServiceMonitor",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} was validated: {checked:?}"
        );
    }
}

/// Deserializes into the k8s-openapi type and back; an unknown or misspelt field is lost
/// on the way and the comparison fails.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
    value: &Value,
) -> Result<(), String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back == value {
        Ok(())
    } else {
        Err(format!(
            "differs after round trip:\n{back:#}\nvs\n{value:#}"
        ))
    }
}

#[test]
fn core_objects_round_trip_through_k8s_openapi() {
    use k8s_openapi::api::{apps, autoscaling, batch, core, networking, policy, rbac};
    let tree = tree();
    let mut seen = BTreeMap::<String, usize>::new();
    for (path, file) in tree.objects() {
        let value = file.value.as_ref().expect("object value");
        let kind = value["kind"].as_str().unwrap_or_default();
        let result = match kind {
            "Namespace" => round_trip::<core::v1::Namespace>(value),
            "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(value),
            "Service" => round_trip::<core::v1::Service>(value),
            "PersistentVolumeClaim" => round_trip::<core::v1::PersistentVolumeClaim>(value),
            "ResourceQuota" => round_trip::<core::v1::ResourceQuota>(value),
            "LimitRange" => round_trip::<core::v1::LimitRange>(value),
            "Deployment" => round_trip::<apps::v1::Deployment>(value),
            "CronJob" => round_trip::<batch::v1::CronJob>(value),
            "HorizontalPodAutoscaler" => {
                round_trip::<autoscaling::v2::HorizontalPodAutoscaler>(value)
            }
            "PodDisruptionBudget" => round_trip::<policy::v1::PodDisruptionBudget>(value),
            "NetworkPolicy" => round_trip::<networking::v1::NetworkPolicy>(value),
            "Role" => round_trip::<rbac::v1::Role>(value),
            "RoleBinding" => round_trip::<rbac::v1::RoleBinding>(value),
            _ => continue,
        };
        if let Err(e) = result {
            panic!("{path}: {e}");
        }
        *seen.entry(kind.to_string()).or_default() += 1;
    }
    assert_eq!(
        seen.len(),
        13,
        "every core kind is rendered and checked: {seen:?}"
    );
}

#[test]
fn rendering_is_deterministic() {
    let a = tree();
    let b = tree();
    let bytes = |t: &Tree| {
        t.files
            .iter()
            .map(|(p, f)| (p.clone(), f.text.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bytes(&a), bytes(&b));
    // And on disk: writing twice changes nothing the second time.
    let dir = tempfile::tempdir().expect("tempdir");
    let provenance = ward_render::tree::Provenance::default();
    let first = a.write(dir.path(), &provenance).expect("writes");
    assert_eq!(first.written.len(), a.files.len());
    let second = b.write(dir.path(), &provenance).expect("writes again");
    assert_eq!((second.written.len(), second.removed.len()), (0, 0));
    assert_eq!(second.unchanged, a.files.len());
}

#[test]
fn layout_is_cluster_namespace_kind_name() {
    let tree = tree();
    for (path, file) in tree.objects() {
        let info = file.object.as_ref().expect("object");
        let parts: Vec<&str> = path.split('/').collect();
        assert_eq!(parts.len(), 3, "{path}");
        assert_eq!(
            parts[2],
            format!("{}-{}.yaml", info.kind.to_ascii_lowercase(), info.name)
        );
        let value = file.value.as_ref().expect("value");
        if let Some(ns) = value["metadata"]["namespace"].as_str() {
            assert_eq!(ns, parts[1], "{path} sits in its namespace's folder");
        }
        assert!(
            !file.text.contains("creationTimestamp"),
            "{path} has no timestamps"
        );
    }
    // Every folder has a kustomization that lists exactly its files.
    for (path, file) in &tree.files {
        if !path.ends_with("/kustomization.yaml") {
            continue;
        }
        let folder = path.trim_end_matches("/kustomization.yaml");
        let listed =
            ward_render::yaml::from_yaml(path, &file.text).expect("parses")[0]["resources"].clone();
        let listed: Vec<String> = serde_json::from_value(listed).expect("list");
        for entry in &listed {
            let child = format!("{folder}/{entry}");
            assert!(
                tree.files.contains_key(&child)
                    || tree
                        .files
                        .contains_key(&format!("{child}/kustomization.yaml")),
                "{path} lists missing {entry}"
            );
        }
    }
}

#[test]
fn kubectl_kustomize_builds_every_cluster() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not on PATH; skipped");
        return;
    }
    let tree = tree();
    let dir = tempfile::tempdir().expect("tempdir");
    tree.write(dir.path(), &ward_render::tree::Provenance::default())
        .expect("writes");
    let clusters: std::collections::BTreeSet<&str> = tree
        .files
        .keys()
        .filter_map(|p| p.split('/').next())
        .collect();
    assert!(clusters.len() >= 3, "{clusters:?}");
    // Each cluster folder builds its Argo CD objects; each Application's folder builds
    // that namespace. Together they emit every object once.
    let applications = tree.application_paths();
    let mut emitted = 0;
    for root in clusters
        .iter()
        .map(|c| (*c).to_string())
        .chain(applications.iter().cloned())
    {
        let out = std::process::Command::new("kubectl")
            .args(["kustomize", &dir.path().join(&root).display().to_string()])
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl kustomize {root}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let built = String::from_utf8_lossy(&out.stdout);
        let count = built.split("\n---\n").count();
        let expected = tree
            .objects()
            .filter(|(p, _)| {
                p.starts_with(&format!("{root}/"))
                    && (root.contains('/')
                        || !applications.iter().any(|a| p.starts_with(&format!("{a}/"))))
            })
            .count();
        assert_eq!(count, expected, "{root}: kustomize emits its objects once");
        emitted += count;
    }
    assert_eq!(emitted, tree.objects().count(), "every object once");
}

#[test]
fn writing_keeps_files_that_are_not_wards() {
    let tree = tree();
    let provenance = ward_render::tree::Provenance::default();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("README.md"), "# deploy\n").expect("write");
    std::fs::create_dir_all(dir.path().join(".github/workflows")).expect("mkdir");
    std::fs::write(dir.path().join(".github/workflows/ci.yaml"), "on: push\n").expect("write");
    // A README and dot-folders do not make a folder Ward will not write into (top-level
    // YAML or JSON would: another tool's tree, see tests/tree.rs).
    let first = tree.write(dir.path(), &provenance).expect("writes");
    assert!(first.kept.is_empty() && first.removed.is_empty());
    // A file Ward did not write, in a folder Ward writes: kept and named, whatever it holds.
    let gone = "dedicated-eu1/billing-prod/deployment-gone.yaml";
    std::fs::write(dir.path().join(gone), "kind: Deployment\n").expect("write");
    let again = tree.write(dir.path(), &provenance).expect("writes");
    assert_eq!(again.removed, Vec::<String>::new());
    assert_eq!(again.kept, [gone]);
    assert!(dir.path().join("README.md").is_file());
    assert!(dir.path().join(".github/workflows/ci.yaml").is_file());
    assert!(dir.path().join(gone).is_file());
}
