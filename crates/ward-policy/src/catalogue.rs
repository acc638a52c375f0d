//! The built-in control catalogue: one Rego module per control, embedded in the binary,
//! each declaring its own `metadata` (ID, title, rationale, severity, applicability,
//! remediation, HIPAA safeguard) next to the `findings` rule that enforces it.

use crate::error::PolicyError;
use serde::{Deserialize, Serialize};

/// One embedded Rego module: its path (as shown in errors) and its text.
#[derive(Clone, Copy, Debug)]
pub struct EmbeddedModule {
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! modules {
    ($($path:literal),+ $(,)?) => {
        &[$(EmbeddedModule { path: $path, text: include_str!(concat!("../", $path)) }),+]
    };
}

/// Helpers shared by the controls (`package ward.lib`).
pub const LIBRARY: &[EmbeddedModule] = modules!("controls/lib.rego");

/// Every built-in control, one module each, in catalogue order.
pub const BUILTIN_CONTROLS: &[EmbeddedModule] = modules!(
    "controls/architecture/WARD-AS-001.rego",
    "controls/architecture/WARD-AS-002.rego",
    "controls/architecture/WARD-AS-003.rego",
    "controls/architecture/WARD-AS-004.rego",
    "controls/architecture/WARD-AS-005.rego",
    "controls/architecture/WARD-AS-006.rego",
    "controls/architecture/WARD-AS-007.rego",
    "controls/architecture/WARD-AS-008.rego",
    "controls/identity/WARD-IA-001.rego",
    "controls/identity/WARD-IA-002.rego",
    "controls/identity/WARD-IA-003.rego",
    "controls/identity/WARD-IA-004.rego",
    "controls/identity/WARD-IA-005.rego",
    "controls/identity/WARD-IA-006.rego",
    "controls/identity/WARD-IA-007.rego",
    "controls/identity/WARD-IA-008.rego",
    "controls/data-protection/WARD-DP-001.rego",
    "controls/data-protection/WARD-DP-002.rego",
    "controls/data-protection/WARD-DP-003.rego",
    "controls/data-protection/WARD-DP-004.rego",
    "controls/data-protection/WARD-DP-005.rego",
    "controls/data-protection/WARD-DP-006.rego",
    "controls/data-protection/WARD-DP-007.rego",
    "controls/data-protection/WARD-DP-008.rego",
    "controls/data-protection/WARD-DP-009.rego",
    "controls/data-protection/WARD-DP-010.rego",
    "controls/data-protection/WARD-DP-011.rego",
    "controls/data-protection/WARD-DP-012.rego",
    "controls/data-protection/WARD-DP-013.rego",
    "controls/deployment/WARD-DG-001.rego",
    "controls/deployment/WARD-DG-002.rego",
    "controls/deployment/WARD-DG-003.rego",
    "controls/deployment/WARD-DG-004.rego",
    "controls/deployment/WARD-DG-005.rego",
    "controls/deployment/WARD-DG-006.rego",
    "controls/deployment/WARD-DG-007.rego",
    "controls/deployment/WARD-DG-008.rego",
    "controls/deployment/WARD-DG-009.rego",
    "controls/observability/WARD-OB-001.rego",
    "controls/observability/WARD-OB-002.rego",
    "controls/observability/WARD-OB-003.rego",
    "controls/observability/WARD-OB-004.rego",
    "controls/observability/WARD-OB-005.rego",
    "controls/resilience/WARD-RS-001.rego",
    "controls/resilience/WARD-RS-002.rego",
    "controls/resilience/WARD-RS-003.rego",
    "controls/resilience/WARD-RS-004.rego",
    "controls/resilience/WARD-RS-005.rego",
    "controls/resilience/WARD-RS-006.rego",
    "controls/resilience/WARD-RS-007.rego",
    "controls/resilience/WARD-RS-008.rego",
    "controls/resilience/WARD-RS-009.rego",
    "controls/resilience/WARD-RS-010.rego",
);

/// `deny` fails `ward check`; `warn` is reported and does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Deny,
    Warn,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
        })
    }
}

/// The six governance domains of the mission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    ArchitectureStandardization,
    IdentityAndAccess,
    DataProtection,
    DeploymentGovernance,
    Observability,
    Resilience,
}

impl Domain {
    pub const ALL: [Domain; 6] = [
        Domain::ArchitectureStandardization,
        Domain::IdentityAndAccess,
        Domain::DataProtection,
        Domain::DeploymentGovernance,
        Domain::Observability,
        Domain::Resilience,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Domain::ArchitectureStandardization => "Architecture standardization",
            Domain::IdentityAndAccess => "Identity and access",
            Domain::DataProtection => "Data protection",
            Domain::DeploymentGovernance => "Deployment governance",
            Domain::Observability => "Observability",
            Domain::Resilience => "Resilience",
        }
    }
}

/// Which environments a control looks at; an empty list means "all".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicability {
    #[serde(default)]
    pub tiers: Vec<u8>,
    #[serde(default)]
    pub stages: Vec<String>,
    #[serde(default)]
    pub hosting: Vec<String>,
}

impl std::fmt::Display for Applicability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: Vec<String>, all: &str| {
            if v.is_empty() {
                all.to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "tiers {}; stages {}; hosting {}",
            list(self.tiers.iter().map(u8::to_string).collect(), "all"),
            list(self.stages.clone(), "all"),
            list(self.hosting.clone(), "all")
        )
    }
}

/// What a control reads: the estate model, the rendered objects, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reads {
    Estate,
    Objects,
    /// The estate model and, when rendered, the objects.
    Both,
}

/// One control of the catalogue, as declared by its module's `metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub domain: Domain,
    pub severity: Severity,
    pub rationale: String,
    pub remediation: String,
    #[serde(default)]
    pub applies: Applicability,
    pub reads: Reads,
    /// The HIPAA Security Rule safeguard it supports, e.g. `45 CFR 164.312(a)(1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hipaa: Option<String>,
    /// Whether a `Waiver` may cover its findings (false for the waiver checks themselves).
    #[serde(default = "yes")]
    pub waivable: bool,
    /// The Rego package that implements it, as `data.ward.controls.WARD_DP_001`.
    #[serde(skip_deserializing)]
    pub package: String,
    /// The embedded module's path.
    #[serde(skip_deserializing)]
    pub module: String,
}

fn yes() -> bool {
    true
}

/// The built-in controls, read from their modules' metadata.
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub controls: Vec<Control>,
}

impl Catalogue {
    /// Reads every built-in module's `metadata`. Fails only if a module is broken, which
    /// the crate's tests rule out.
    pub fn builtin() -> Result<Catalogue, PolicyError> {
        let mut engine = crate::evaluate::builtin_engine()?;
        engine.set_input(regorus::Value::new_object());
        let mut controls = Vec::with_capacity(BUILTIN_CONTROLS.len());
        for module in BUILTIN_CONTROLS {
            let package = package_of(module)?;
            let value = engine
                .eval_rule(format!("{package}.metadata"))
                .map_err(|e| PolicyError::from_regorus(module.path, &e))?;
            let json = serde_json::to_value(&value).map_err(|e| PolicyError::Metadata {
                module: module.path.into(),
                message: e.to_string(),
            })?;
            let mut control: Control =
                serde_json::from_value(json).map_err(|e| PolicyError::Metadata {
                    module: module.path.into(),
                    message: e.to_string(),
                })?;
            control.package = package;
            control.module = module.path.into();
            controls.push(control);
        }
        Ok(Catalogue { controls })
    }

    pub fn get(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id == id)
    }

    /// The control nearest to a mistyped `id` (`WARD-DG-01` → `WARD-DG-001`), if one is.
    pub fn closest(&self, id: &str) -> Option<&Control> {
        let ids: Vec<&str> = self.controls.iter().map(|c| c.id.as_str()).collect();
        let best = ward_estate::decode::closest(&id.to_ascii_uppercase(), &ids)?;
        self.get(best)
    }

    /// A diagnostic for each waiver that names no built-in control, with the nearest ID:
    /// a misspelt waiver waives nothing while its authors believe the risk accepted, so
    /// `ward validate` refuses it. Waivers of the estate's own policies (`policy:…`) are
    /// judged by WARD-DG-008, which sees those policies.
    pub fn unknown_waiver_controls(
        &self,
        estate: &ward_estate::Estate,
    ) -> Vec<ward_estate::Diagnostic> {
        estate
            .waivers
            .iter()
            .filter_map(|w| {
                let control = &w.spec.control;
                if self.get(&control.value).is_some() || control.value.starts_with("policy:") {
                    return None;
                }
                let hint = match self.closest(&control.value) {
                    Some(c) => format!("did you mean `{}` ({})?", c.id, c.title),
                    None => "use an ID from `ward controls`, or `policy:<package>.<rule>` for \
                             the estate's own policies"
                        .to_string(),
                };
                Some(
                    ward_estate::Diagnostic::new(
                        control.span,
                        format!(
                            "waiver {} names `{}`, which is not a control",
                            w.name(),
                            control.value
                        ),
                    )
                    .hint(hint),
                )
            })
            .collect()
    }
}

/// The `data.…` path of a module's package, read from its `package` line.
pub fn package_of(module: &EmbeddedModule) -> Result<String, PolicyError> {
    module
        .text
        .lines()
        .find_map(|l| l.trim().strip_prefix("package "))
        .map(|p| format!("data.{}", p.trim()))
        .ok_or_else(|| PolicyError::Metadata {
            module: module.path.into(),
            message: "no `package` line".into(),
        })
}
