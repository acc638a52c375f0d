//! Waivers in the deploy tree: a `ConfigMap` `ward-waivers` per namespace lists the
//! estate's waivers that cover a workload environment of that namespace, so that a plan
//! sees a waiver added, extended or widened as it sees a NetworkPolicy or a Role.

use crate::kubernetes::MANAGED_BY;
use crate::stack::Stack;
use crate::{Object, RenderError};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use ward_estate::Estate;
use ward_estate::ResolvedEnvironment;
use ward_estate::model::{Document, WaiverSpec};

/// The name of the waivers `ConfigMap` in every namespace that has one.
pub const CONFIG_MAP: &str = "ward-waivers";

/// Written for a scope field the waiver leaves out: it covers every workload or
/// environment. Spelled out (rather than omitted) so that dropping a scope field shows
/// in a plan as a changed value, which widens, and not as a removed one, which would not.
pub const EVERY: &str = "*";

fn covers(waiver: &WaiverSpec, env: &ResolvedEnvironment) -> bool {
    waiver
        .scope
        .covers(Some(&env.workload), Some(&env.environment))
}

/// The `<waiver>.<field>` entries of one waiver. Every waiver is listed whatever today's
/// date (expired ones too): the tree must not depend on the day it is rendered, and
/// judging expiry is `ward check`'s work.
fn entries(waiver: &Document<WaiverSpec>, data: &mut BTreeMap<String, String>) {
    let s = &waiver.spec;
    let scope = |f: &Option<ward_estate::Spanned<String>>| {
        f.as_ref()
            .map_or_else(|| EVERY.to_string(), |v| v.value.clone())
    };
    let name = waiver.name();
    for (field, value) in [
        ("approver", s.approver.value.clone()),
        ("control", s.control.value.clone()),
        ("created", s.created.value.to_string()),
        ("environment", scope(&s.scope.environment)),
        ("expires", s.expires.value.to_string()),
        ("reason", s.reason.value.clone()),
        ("workload", scope(&s.scope.workload)),
    ] {
        data.insert(format!("{name}.{field}"), value);
    }
}

/// One `ConfigMap` per stack that some waiver covers; none for the others. Its owners
/// are the environments of the stack that a waiver covers.
pub fn render(estate: &Estate, stacks: &[Stack<'_>]) -> Result<Vec<Object>, RenderError> {
    let mut objects = Vec::new();
    if estate.waivers.is_empty() {
        return Ok(objects);
    }
    for s in stacks {
        let mut data = BTreeMap::new();
        let mut owners = Vec::new();
        for m in &s.members {
            let mut covered = false;
            for w in estate.waivers.iter().filter(|w| covers(&w.spec, m.env)) {
                covered = true;
                entries(w, &mut data);
            }
            if covered {
                owners.push(m.env.address());
            }
        }
        if data.is_empty() {
            continue;
        }
        let labels = BTreeMap::from([
            ("ward.dev/stack".to_string(), s.namespace.clone()),
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        ]);
        let map = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP.to_string()),
                namespace: Some(s.namespace.clone()),
                labels: Some(labels),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        // `ConfigMap` is a k8s-openapi `Resource`: serializing adds apiVersion and kind.
        let body = serde_json::to_value(&map).map_err(RenderError::Serialize)?;
        objects.push(Object {
            cluster: s.cluster.clone(),
            folder: s.namespace.clone(),
            kind: "ConfigMap".into(),
            name: CONFIG_MAP.into(),
            owners: owners.into(),
            tier: s.tier,
            stage: s.stage,
            body,
        });
    }
    Ok(objects)
}

/// Whether a field change of the waivers `ConfigMap` widens what is waived: any entry
/// added or changed does, except an expiry brought forward and a scope narrowed from
/// every workload (or environment) to one. Removed entries never widen.
pub fn widens(
    field: &str,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> bool {
    let text = |v: Option<&serde_json::Value>| {
        v.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let (Some(after), before) = (text(after), text(before)) else {
        return false;
    };
    let Some(key) = field.strip_prefix("data.") else {
        // The whole `data` appearing is every entry added; labels and other metadata do
        // not change what is waived.
        return field == "data";
    };
    let Some(before) = before else {
        return true;
    };
    match key.rsplit_once('.').map(|(_, f)| f) {
        // ISO dates (`YYYY-MM-DD`) order as text.
        Some("expires") => after > before,
        Some("workload" | "environment") => !(before == EVERY && after != EVERY),
        _ => true,
    }
}
