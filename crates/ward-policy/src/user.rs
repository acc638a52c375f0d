//! Users' Conftest-style policies in the estate's `policies/`: each rendered object is the
//! `input` of its own evaluation; `deny`/`violation`/`warn` (and `*_…`) rules yield strings
//! or objects with `msg`. Rego v1 and v0 both parse; errors carry file and line.

use crate::catalogue::Severity;
use crate::error::PolicyError;
use crate::evaluate::policy_finding;
use crate::finding::Finding;
use crate::input::RenderedObject;
use regorus::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use ward_estate::{Estate, Location};

/// The policies of one estate, parsed and ready to run.
pub struct UserPolicies {
    engine: Engine,
    /// (package path `data.main`, file relative to the estate) per module.
    packages: Vec<(String, String)>,
    files: Vec<String>,
}

impl UserPolicies {
    /// Parses every `*.rego` file under `dir`; `Ok(None)` when there is no such folder.
    pub fn load(dir: &Path, estate_root: &Path) -> Result<Option<UserPolicies>, PolicyError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut paths = Vec::new();
        collect(dir, &mut paths)?;
        paths.sort();
        let mut engine = Engine::new();
        let mut packages = Vec::new();
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .strip_prefix(estate_root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let package = add_module(&mut engine, &name, &text)?;
            if !packages.iter().any(|(p, _)| *p == package) {
                packages.push((package, name.clone()));
            }
            files.push(name);
        }
        Ok(Some(UserPolicies {
            engine,
            packages,
            files,
        }))
    }

    /// The files that were loaded, relative to the estate.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Runs every package's deny/violation/warn rules on each object.
    pub fn evaluate(
        &self,
        objects: &[RenderedObject],
        estate: &Estate,
    ) -> Result<Vec<Finding>, PolicyError> {
        let locations: HashMap<String, Location> = estate
            .environments
            .iter()
            .map(|e| (e.address(), e.location.clone()))
            .collect();
        // Objects are independent: each thread takes a contiguous share, in order.
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8);
        let share = objects.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<Finding>, PolicyError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = objects
                .chunks(share)
                .map(|chunk| {
                    let locations = &locations;
                    scope.spawn(move || self.evaluate_chunk(chunk, locations))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(PolicyError::BadFinding {
                            source_name: "policies".into(),
                            rule: "*".into(),
                            message: "a policy evaluation thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut findings = Vec::new();
        for r in results {
            findings.extend(r?);
        }
        Ok(findings)
    }

    fn evaluate_chunk(
        &self,
        objects: &[RenderedObject],
        locations: &HashMap<String, Location>,
    ) -> Result<Vec<Finding>, PolicyError> {
        let mut engine = self.engine.clone();
        let mut findings = Vec::new();
        for object in objects {
            let input = <regorus::Value as serde::Deserialize>::deserialize(&object.manifest)
                .unwrap_or(regorus::Value::Null);
            engine.set_input(input);
            for (package, file) in &self.packages {
                let results = engine
                    .eval_query(package.clone(), false)
                    .map_err(|e| PolicyError::from_regorus(file, &e))?;
                let Some(value) = results
                    .result
                    .first()
                    .and_then(|r| r.expressions.first())
                    .map(|e| &e.value)
                else {
                    continue;
                };
                let Ok(rules) = value.as_object() else {
                    continue;
                };
                for (rule, result) in rules.iter() {
                    let Ok(rule) = rule.as_string() else { continue };
                    let Some(severity) = rule_severity(rule) else {
                        continue;
                    };
                    for message in messages(rule, result) {
                        findings.push(policy_finding(
                            file, package, rule, severity, message, object, locations,
                        ));
                    }
                }
            }
        }
        Ok(findings)
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PolicyError> {
    let io = |source| PolicyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rego") {
            out.push(path);
        }
    }
    Ok(())
}

/// Adds a module, trying Rego v1 first and v0 (Conftest's older examples) second. When
/// both fail, the error of the syntax the file seems to use is reported.
fn add_module(engine: &mut Engine, name: &str, text: &str) -> Result<String, PolicyError> {
    engine.set_rego_v0(false);
    let v1 = match engine.add_policy(name.to_string(), text.to_string()) {
        Ok(package) => return Ok(package),
        Err(e) => PolicyError::from_regorus(name, &e),
    };
    engine.set_rego_v0(true);
    let v0 = engine.add_policy(name.to_string(), text.to_string());
    engine.set_rego_v0(false);
    match v0 {
        Ok(package) => Ok(package),
        Err(e) => {
            let looks_v1 = text.contains("import rego.v1")
                || text.contains(" if ")
                || text.contains(" if{")
                || text.contains(" contains ");
            if looks_v1 {
                Err(v1)
            } else {
                Err(PolicyError::from_regorus(name, &e))
            }
        }
    }
}

/// Conftest's rule names: `deny`, `violation`, `warn`, or those with a `_suffix`.
fn rule_severity(rule: &str) -> Option<Severity> {
    let is = |prefix: &str| rule == prefix || rule.starts_with(&format!("{prefix}_"));
    if is("deny") || is("violation") {
        Some(Severity::Deny)
    } else if is("warn") {
        Some(Severity::Warn)
    } else {
        None
    }
}

/// The messages a rule's value holds: strings, objects with `msg`, or `true`.
fn messages(rule: &str, value: &regorus::Value) -> Vec<String> {
    let one = |v: &regorus::Value| -> Option<String> {
        if let Ok(s) = v.as_string() {
            return Some(s.to_string());
        }
        if let Ok(o) = v.as_object() {
            let msg = o
                .get(&regorus::Value::from("msg"))
                .and_then(|m| m.as_string().ok().map(|s| s.to_string()));
            return Some(msg.unwrap_or_else(|| v.to_string()));
        }
        None
    };
    if let Ok(set) = value.as_set() {
        return set.iter().filter_map(one).collect();
    }
    if let Ok(array) = value.as_array() {
        return array.iter().filter_map(one).collect();
    }
    if *value == regorus::Value::Bool(true) {
        return vec![format!("rule `{rule}` holds")];
    }
    one(value).into_iter().collect()
}
