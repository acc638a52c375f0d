//! Waivers in the deploy tree: the example estate plus waivers renders a `ward-waivers`
//! ConfigMap in exactly the namespaces whose environments a waiver covers.

mod common;

use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

const WAIVERS: &str = "\
apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: sandbox-single-replica
spec:
  control: WARD-RS-001
  scope: { workload: training-sandbox }
  reason: Training only; tracked in CHG-1234
  approver: carol
  created: 2020-01-01
  expires: 2020-03-01
---
apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: billing-prod-latency
spec:
  control: WARD-OB-001
  scope: { workload: billing, environment: prod }
  reason: New alerting rolls out next sprint
  approver: carol
  created: 2026-11-01
  expires: 2027-01-31
";

fn estate_with_waivers() -> (tempfile::TempDir, ward_estate::Estate) {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&common::example_dir(), tmp.path());
    std::fs::write(tmp.path().join("waivers.yaml"), WAIVERS).expect("write waivers");
    match ward_estate::load(tmp.path()) {
        Ok(e) => (tmp, e),
        Err(e) => panic!("estate with waivers does not load: {e:?}"),
    }
}

#[test]
fn waivers_render_per_namespace_sorted_and_dated() {
    let (_tmp, estate) = estate_with_waivers();
    let tree = ward_render::render_kubernetes(&estate).expect("renders");
    let maps: Vec<(&String, &ward_render::tree::TreeFile)> = tree
        .objects()
        .filter(|(p, _)| p.ends_with("/configmap-ward-waivers.yaml"))
        .collect();
    let paths: Vec<&str> = maps.iter().map(|(p, _)| p.as_str()).collect();
    // One per namespace holding a covered environment: billing's prod, and the shared
    // development stack the sandbox lives in.
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("/billing-prod/configmap-ward-waivers.yaml"))
    );

    let billing = maps
        .iter()
        .find(|(p, _)| p.contains("/billing-prod/"))
        .map(|(_, f)| f)
        .expect("billing's waivers");
    let info = billing.object.as_ref().expect("an object");
    assert_eq!(&*info.owners, ["billing/prod".to_string()]);
    assert_eq!(info.tier, 1);
    let value = billing.parsed().expect("value");
    let data = value["data"].as_object().expect("data");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "billing-prod-latency.approver",
            "billing-prod-latency.control",
            "billing-prod-latency.created",
            "billing-prod-latency.environment",
            "billing-prod-latency.expires",
            "billing-prod-latency.reason",
            "billing-prod-latency.workload",
        ]
    );
    assert_eq!(data["billing-prod-latency.expires"], "2027-01-31");
    assert_eq!(data["billing-prod-latency.control"], "WARD-OB-001");
    assert_eq!(
        value["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "ward"
    );

    // An expired waiver is still listed (the tree does not depend on today's date),
    // and a scope field left out is written as every (`*`).
    let sandbox = maps
        .iter()
        .find(|(p, _)| !p.contains("/billing-prod/"))
        .map(|(_, f)| f)
        .expect("the sandbox's waivers");
    let value = sandbox.parsed().expect("value");
    assert_eq!(
        value["data"]["sandbox-single-replica.expires"],
        "2020-03-01"
    );
    assert_eq!(value["data"]["sandbox-single-replica.environment"], "*");
    let owners = &sandbox.object.as_ref().expect("object").owners;
    assert_eq!(&**owners, ["training-sandbox/sandbox".to_string()]);

    // The folder's kustomization lists it, so Argo CD applies it.
    let folder = paths[0].rsplit_once('/').expect("folder").0;
    let kustomization = &tree.files[&format!("{folder}/kustomization.yaml")].text;
    assert!(
        kustomization.contains("configmap-ward-waivers.yaml"),
        "{kustomization}"
    );

    // Same estate, same bytes.
    let again = ward_render::render_kubernetes(&estate).expect("renders");
    for (path, file) in &maps {
        assert_eq!(again.files[*path].text, file.text);
    }
}

#[test]
fn no_waiver_no_config_map() {
    let tree = ward_render::render_kubernetes(&common::example()).expect("renders");
    assert!(
        !tree
            .files
            .keys()
            .any(|p| p.ends_with("configmap-ward-waivers.yaml"))
    );
}
