//! SARIF 2.1.0 for code-scanning tools: one run, a rule per control (built-in ones from
//! the catalogue, user policies as they appear), a result per finding located at the
//! estate file and line, and waived findings as suppressed results.

use crate::catalogue::{Catalogue, Severity};
use crate::finding::{Finding, Report};
use serde_json::{Value, json};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF log. `version` is Ward's version, for the tool driver.
pub fn render(report: &Report, catalogue: &Catalogue, version: &str) -> Value {
    let mut rules: Vec<Value> = catalogue
        .controls
        .iter()
        .map(|c| {
            let mut properties = json!({
                "tags": [serde_json::to_value(c.domain).unwrap_or(Value::Null)],
                "applies": c.applies.to_string(),
            });
            if let Some(h) = &c.hipaa {
                properties["hipaa"] = json!(h);
            }
            json!({
                "id": c.id,
                "name": pascal(&c.title),
                "shortDescription": {"text": c.title},
                "fullDescription": {"text": c.rationale},
                "help": {"text": c.remediation},
                "defaultConfiguration": {"level": level(c.severity)},
                "properties": properties,
            })
        })
        .collect();
    let mut ids: Vec<String> = catalogue.controls.iter().map(|c| c.id.clone()).collect();
    let mut results = Vec::with_capacity(report.findings.len());
    for f in &report.findings {
        let index = match ids.iter().position(|i| *i == f.control) {
            Some(i) => i,
            None => {
                ids.push(f.control.clone());
                rules.push(json!({
                    "id": f.control,
                    "shortDescription": {"text": f.title},
                    "help": {"text": f.remediation},
                    "defaultConfiguration": {"level": level(f.severity)},
                }));
                ids.len() - 1
            }
        };
        results.push(result(f, index));
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ward",
                "version": version,
                "informationUri": "https://ward.dev/docs/controls",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Deny => "error",
        Severity::Warn => "warning",
    }
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let mut r = json!({
        "ruleId": f.control,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": format!("{} ({}). Fix: {}", f.message, f.subject(), f.remediation)},
    });
    if let Some(loc) = &f.location
        && !loc.file.is_empty()
        && loc.line > 0
    {
        let mut region = json!({"startLine": loc.line});
        if loc.col > 0 {
            region["startColumn"] = json!(loc.col);
        }
        r["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(&loc.file)},
                "region": region,
            },
            "logicalLocations": [{"fullyQualifiedName": f.subject(), "kind": "module"}],
        }]);
    }
    let mut properties = json!({"subject": f.subject()});
    if let Some(o) = &f.object {
        properties["object"] = json!(o.to_string());
    }
    if let Some(h) = &f.hipaa {
        properties["hipaa"] = json!(h);
    }
    r["properties"] = properties;
    if let Some(w) = &f.waived {
        r["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": format!("waiver {} approved by {} until {}: {}", w.waiver, w.approver, w.expires, w.reason),
        }]);
    }
    r
}

/// A relative URI reference for an estate path: unreserved characters kept, others
/// percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pascal(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}
