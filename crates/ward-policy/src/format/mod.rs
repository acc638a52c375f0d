//! Report formats: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning
//! tools, JUnit XML for CI systems. Each is a pure function of a [`Report`].

pub mod junit;
pub mod sarif;
pub mod text;

use crate::finding::Report;

/// The JSON form: the report with a `failed` flag, stable field names.
pub fn json(report: &Report) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("failed".into(), serde_json::Value::Bool(report.failed()));
    }
    value
}
