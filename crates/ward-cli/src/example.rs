//! The bundled estates `ward init` writes: the minimal start (no `--example`) and the
//! examples `--example NAME` picks.
//!
//! The files live under `src/example/` as plain YAML, so they are read, linted and
//! tested like any estate; here they are only embedded.

/// One file of an example: its path inside the estate and its text.
pub use ward_ops::init::EstateFile as ExampleFile;

macro_rules! files {
    ($root:literal: $($path:literal),+ $(,)?) => {
        &[$(ExampleFile { path: $path, text: include_str!(concat!($root, "/", $path)) }),+]
    };
}

pub const HEALTHCARE: &[ExampleFile] = files!("example/healthcare":
    "platform.yaml",
    "teams/platform.yaml",
    "teams/apps.yaml",
    "workloads/billing.yaml",
    "workloads/patient-portal.yaml",
    "workloads/care-coordination.yaml",
    "workloads/training-sandbox.yaml",
);

/// The minimal estate `ward init DIR` writes without `--example`: one platform, one team,
/// one workload, commented.
pub const MINIMAL: &[ExampleFile] = files!("example/minimal":
    "platform.yaml",
    "teams/platform.yaml",
    "workloads/hello.yaml",
);

/// The examples by name, as `--example` takes them.
pub fn by_name(name: &str) -> Option<&'static [ExampleFile]> {
    match name {
        "healthcare" => Some(HEALTHCARE),
        _ => None,
    }
}
