//! Running the controls: the built-in catalogue once over the whole input document, users'
//! Conftest-style policies once per rendered object, then waivers (only those no waiver
//! control found fault with).

use crate::catalogue::{BUILTIN_CONTROLS, Catalogue, Control, LIBRARY, Severity};
use crate::error::PolicyError;
use crate::finding::{Finding, Origin, RawFinding, Report, Waived};
use crate::input::{ObjectRef, RenderedObject};
use crate::user::UserPolicies;
use regorus::Engine;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use ward_estate::Estate;

/// An engine holding the library and every built-in control.
pub fn builtin_engine() -> Result<Engine, PolicyError> {
    let mut engine = Engine::new();
    for module in LIBRARY.iter().chain(BUILTIN_CONTROLS) {
        engine
            .add_policy(module.path.to_string(), module.text.to_string())
            .map_err(|e| PolicyError::from_regorus(module.path, &e))?;
    }
    Ok(engine)
}

/// What a check needs besides the estate.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The day waiver expiry is judged against.
    pub today: jiff::civil::Date,
    /// Whether to run the estate's `policies/*.rego` (on by default).
    pub user_policies: bool,
}

impl CheckOptions {
    pub fn new(today: jiff::civil::Date) -> CheckOptions {
        CheckOptions {
            today,
            user_policies: true,
        }
    }
}

/// The built-in controls, loaded once and reusable across checks.
#[derive(Clone)]
pub struct Checker {
    catalogue: Catalogue,
    engine: Engine,
}

impl Checker {
    pub fn new() -> Result<Checker, PolicyError> {
        Ok(Checker {
            catalogue: Catalogue::builtin()?,
            engine: builtin_engine()?,
        })
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Runs every control on the estate and the rendered objects (`None` when the
    /// estate was not rendered), then the estate's own policies, then applies waivers.
    /// The objects are taken, not borrowed: they are freed while the controls' input is
    /// built, which is most of a large estate's memory and time.
    pub fn check(
        &self,
        estate: &Estate,
        objects: Option<Vec<RenderedObject>>,
        options: &CheckOptions,
    ) -> Result<Report, PolicyError> {
        let user = if options.user_policies {
            UserPolicies::load(&estate.root.join("policies"), &estate.root)?
        } else {
            None
        };
        let ids: Vec<String> = self
            .catalogue
            .controls
            .iter()
            .map(|c| c.id.clone())
            .collect();
        // The estate's own policies read each object, so they run before the objects go.
        let mut policies = Vec::new();
        let mut policy_findings = Vec::new();
        if let Some(user) = &user {
            policies = user.files().to_vec();
            policy_findings = user.evaluate(objects.as_deref().unwrap_or(&[]), estate)?;
        }
        let rendered = objects.as_ref().map(Vec::len);
        let started = std::time::Instant::now();
        let input = crate::input::build_engine_input(estate, objects, options.today, &ids)
            .map_err(|message| PolicyError::Builtin {
                module: "input".into(),
                message: format!(
                    "the rendered objects do not convert to the controls' input: {message}"
                ),
            })?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "policy input built"
        );
        let mut findings = self.evaluate_value(input)?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "controls evaluated"
        );
        findings.extend(policy_findings);
        apply_waivers(estate, &self.catalogue, &mut findings);
        Ok(Report::new(
            findings,
            self.catalogue.controls.len(),
            policies,
            estate.environments.len(),
            rendered,
        ))
    }

    /// Runs the built-in controls on an input document (see [`crate::build_input`]) and returns
    /// their findings, unwaived. Tests use this to feed hand-made inputs.
    pub fn evaluate(&self, input: Value) -> Result<Vec<Finding>, PolicyError> {
        let mut input = input;
        if let Some(map) = input.as_object_mut() {
            let ids = self
                .catalogue
                .controls
                .iter()
                .map(|c| Value::from(c.id.as_str()));
            map.insert("controls".into(), Value::Array(ids.collect()));
        }
        self.evaluate_value(regorus::Value::from(input))
    }

    /// [`Checker::evaluate`] on an input already in regorus' representation.
    fn evaluate_value(&self, input: regorus::Value) -> Result<Vec<Finding>, PolicyError> {
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let controls = &self.catalogue.controls;
        // Controls are independent: threads take the next one from a shared counter, each
        // with its own clone of the engine (the input inside is shared, not copied).
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .clamp(1, 8)
            .min(controls.len().max(1));
        let mut results: Vec<(usize, Result<Vec<Finding>, PolicyError>)> =
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        let mut engine = engine.clone();
                        let next = &next;
                        scope.spawn(move || {
                            let mut done = Vec::new();
                            loop {
                                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(control) = controls.get(i) else {
                                    break;
                                };
                                done.push((i, evaluate_control(&mut engine, control)));
                            }
                            done
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| {
                        w.join().unwrap_or_else(|_| {
                            vec![(
                                usize::MAX,
                                Err(PolicyError::Builtin {
                                    module: "controls".into(),
                                    message: "a control evaluation thread panicked".into(),
                                }),
                            )]
                        })
                    })
                    .collect()
            });
        // The input is most of a large estate's memory; freeing it is left to another
        // thread so the report need not wait for it.
        std::thread::spawn(move || drop(engine));
        results.sort_by_key(|(i, _)| *i);
        let mut findings = Vec::new();
        for (_, result) in results {
            findings.extend(result?);
        }
        Ok(findings)
    }
}

/// Evaluates one control's `findings` rule on the engine's input.
fn evaluate_control(engine: &mut Engine, control: &Control) -> Result<Vec<Finding>, PolicyError> {
    let rule = format!("{}.findings", control.package);
    let started = std::time::Instant::now();
    let value = engine
        .eval_rule(rule.clone())
        .map_err(|e| PolicyError::Builtin {
            module: control.module.clone(),
            message: e.to_string(),
        })?;
    tracing::debug!(control = %control.id, ms = started.elapsed().as_millis() as u64, "control evaluated");
    if value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let raw: Vec<RawFinding> = serde_json::to_value(&value)
        .and_then(serde_json::from_value)
        .map_err(|e| PolicyError::BadFinding {
            source_name: control.module.clone(),
            rule,
            message: e.to_string(),
        })?;
    Ok(raw
        .into_iter()
        .map(|r| builtin_finding(control, r))
        .collect())
}

fn builtin_finding(control: &Control, r: RawFinding) -> Finding {
    Finding {
        control: control.id.clone(),
        title: control.title.clone(),
        severity: control.severity,
        domain: Some(control.domain),
        message: r.msg,
        workload: r.workload,
        environment: r.environment,
        location: r.at.map(Into::into),
        object: r.object,
        remediation: control.remediation.clone(),
        hipaa: control.hipaa.clone(),
        origin: Origin::Builtin,
        waived: None,
        waiver: r.waiver,
    }
}

/// A finding of a user's policy rule on one object.
pub(crate) fn policy_finding(
    file: &str,
    package: &str,
    rule: &str,
    severity: Severity,
    message: String,
    object: &RenderedObject,
    locations: &std::collections::HashMap<String, ward_estate::Location>,
) -> Finding {
    let owners = object.origin().map(|p| p.owners).unwrap_or_default();
    let location = owners.first().and_then(|a| locations.get(a)).cloned();
    let (workload, environment) = match owners.as_slice() {
        [one] => match one.split_once('/') {
            Some((w, e)) => (Some(w.to_string()), Some(e.to_string())),
            None => (None, None),
        },
        _ => (None, None),
    };
    let package = package.trim_start_matches("data.");
    Finding {
        control: format!("policy:{package}.{rule}"),
        title: format!("{rule} rule of {file}"),
        severity,
        domain: None,
        message,
        workload,
        environment,
        location,
        object: Some(ObjectRef::of(&object.manifest)),
        remediation: format!("see the policy in {file}"),
        hipaa: None,
        origin: Origin::Policy { file: file.into() },
        waived: None,
        waiver: None,
    }
}

/// Marks findings covered by a valid waiver. A waiver is valid when no finding names it
/// (the waiver controls report expired waivers and approvers without the role).
fn apply_waivers(estate: &Estate, catalogue: &Catalogue, findings: &mut [Finding]) {
    let faulty: BTreeSet<String> = findings.iter().filter_map(|f| f.waiver.clone()).collect();
    let valid: Vec<_> = estate
        .waivers
        .iter()
        .filter(|w| !faulty.contains(w.name()))
        .collect();
    for f in findings.iter_mut() {
        let waivable = catalogue
            .get(&f.control)
            .is_none_or(|control| control.waivable);
        if !waivable {
            continue;
        }
        let waiver = valid.iter().find(|w| {
            w.spec.control.value == f.control
                && w.spec
                    .scope
                    .covers(f.workload.as_deref(), f.environment.as_deref())
        });
        if let Some(w) = waiver {
            f.waived = Some(Waived {
                waiver: w.name().to_string(),
                approver: w.spec.approver.value.clone(),
                reason: w.spec.reason.value.clone(),
                expires: w.spec.expires.value.to_string(),
                location: estate.sources.location(w.span),
            });
        }
    }
}

/// Loads the estate, renders nothing, and checks: a convenience for tools and tests.
pub fn check_estate_folder(
    dir: &Path,
    options: &CheckOptions,
) -> Result<Report, crate::CheckError> {
    let estate = ward_estate::load(dir)?;
    Ok(Checker::new()?.check(&estate, None, options)?)
}
