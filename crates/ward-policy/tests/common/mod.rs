//! Shared test fixtures: the compliant estate, its rendered objects, and helpers that
//! change one thing in an input document.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use ward_policy::{RenderedObject, build_input};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn example_estate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ward-cli/src/example/healthcare")
}

pub fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 11, 26)
}

/// Parses a multi-document YAML file of Kubernetes manifests into JSON values.
pub fn manifests(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("fixture");
    text.split("\n---\n")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|doc| {
            let value = regorus::Value::from_yaml_str(doc).expect("fixture YAML");
            serde_json::to_value(&value).expect("fixture JSON")
        })
        .collect()
}

pub fn compliant_objects() -> Vec<RenderedObject> {
    [
        "billing-prod.yaml",
        "billing-staging.yaml",
        "sandbox-dev.yaml",
    ]
    .iter()
    .flat_map(|f| manifests(&fixtures().join("objects").join(f)))
    .map(RenderedObject::new)
    .collect()
}

pub fn compliant_estate() -> ward_estate::Estate {
    ward_estate::load(&fixtures().join("estate")).expect("compliant estate loads")
}

/// The input document of the compliant estate and its objects.
pub fn compliant_input() -> Value {
    let estate = compliant_estate();
    build_input(&estate, Some(&compliant_objects()), today())
}

fn find<'a>(list: &'a mut Value, pred: impl Fn(&Value) -> bool, what: &str) -> &'a mut Value {
    list.as_array_mut()
        .expect("a list")
        .iter_mut()
        .find(|v| pred(v))
        .unwrap_or_else(|| panic!("no {what} in the fixture"))
}

pub fn env<'a>(input: &'a mut Value, address: &str) -> &'a mut Value {
    find(
        &mut input["environments"],
        |e| e["address"] == address,
        address,
    )
}

pub fn workload<'a>(input: &'a mut Value, name: &str) -> &'a mut Value {
    find(&mut input["workloads"], |w| w["name"] == name, name)
}

pub fn integration<'a>(input: &'a mut Value, workload_name: &str, name: &str) -> &'a mut Value {
    find(
        &mut workload(input, workload_name)["integrations"],
        |i| i["name"] == name,
        name,
    )
}

pub fn person<'a>(input: &'a mut Value, name: &str) -> &'a mut Value {
    let teams = input["teams"].as_array_mut().expect("teams");
    teams
        .iter_mut()
        .flat_map(|t| t["people"].as_array_mut().expect("people").iter_mut())
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no person {name}"))
}

pub fn store<'a>(input: &'a mut Value, name: &str) -> &'a mut Value {
    find(
        &mut input["platform"]["objectStores"],
        |s| s["name"] == name,
        name,
    )
}

pub fn cluster<'a>(input: &'a mut Value, name: &str) -> &'a mut Value {
    find(
        &mut input["platform"]["clusters"],
        |c| c["name"] == name,
        name,
    )
}

pub fn object<'a>(input: &'a mut Value, kind: &str, namespace: &str, name: &str) -> &'a mut Value {
    find(
        &mut input["objects"],
        |o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"] == namespace
        },
        &format!("{kind}/{namespace}/{name}"),
    )
}

/// The first container of a pod-owning object.
pub fn container<'a>(
    input: &'a mut Value,
    kind: &str,
    namespace: &str,
    name: &str,
) -> &'a mut Value {
    &mut object(input, kind, namespace, name)["spec"]["template"]["spec"]["containers"][0]
}

pub fn set_conf(input: &mut Value, namespace: &str, from: &str, to: &str) {
    let conf = &mut object(input, "ConfigMap", namespace, "odoo-conf")["data"]["odoo.conf"];
    let text = conf.as_str().expect("odoo.conf").to_string();
    assert!(text.contains(from), "odoo.conf has no `{from}`");
    *conf = json!(text.replace(from, to));
}

/// Appends an object with the origin of billing/prod.
pub fn add_object(input: &mut Value, manifest: Value) {
    let origin = input["origins"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["address"] == "billing/prod").cloned())
        .expect("billing/prod origin");
    let kind = manifest["kind"].as_str().expect("kind").to_string();
    let namespace = manifest["metadata"]["namespace"]
        .as_str()
        .map(str::to_string);
    let objects = input["objects"].as_array_mut().expect("objects");
    objects.push(manifest);
    let index = objects.len() - 1;
    input["origins"]
        .as_array_mut()
        .expect("origins")
        .push(origin);
    let by_kind = input["objectsByKind"]
        .as_object_mut()
        .expect("objectsByKind");
    match by_kind.get_mut(&kind).and_then(Value::as_array_mut) {
        Some(list) => list.push(json!(index)),
        None => {
            by_kind.insert(kind, json!([index]));
        }
    }
    if let Some(namespace) = namespace {
        let by_namespace = input["objectsByNamespace"]
            .as_object_mut()
            .expect("objectsByNamespace");
        match by_namespace
            .get_mut(&namespace)
            .and_then(Value::as_array_mut)
        {
            Some(list) => list.push(json!(index)),
            None => {
                by_namespace.insert(namespace, json!([index]));
            }
        }
    }
}

pub fn add_waiver(
    input: &mut Value,
    control: &str,
    approver: &str,
    created: &str,
    expires: &str,
    days: i64,
) {
    input["waivers"]
        .as_array_mut()
        .expect("waivers")
        .push(json!({
            "name": "test-waiver", "control": control,
            "scope": {"workload": "billing", "environment": "prod"},
            "reason": "test", "approver": approver, "created": created, "expires": expires,
            "days": days, "at": {"name": {"file": "waivers.yaml", "line": 4, "col": 9}},
        }));
}
