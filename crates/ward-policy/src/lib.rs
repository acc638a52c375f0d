//! Controls as code over the resolved estate plus rendered Kubernetes objects (as JSON;
//! this crate does not know how they are rendered): the Rego catalogue run by regorus,
//! users' Conftest-style policies, waivers, and text/JSON/SARIF/JUnit reports.

pub mod catalogue;
pub mod docs;
pub mod error;
pub mod evaluate;
pub mod finding;
pub mod format;
pub mod input;
pub mod user;

pub use catalogue::{Applicability, Catalogue, Control, Domain, Reads, Severity};
pub use error::PolicyError;
pub use evaluate::{CheckOptions, Checker, check_estate_folder};
pub use finding::{Finding, Origin, Report, Summary, Waived};
pub use input::{ObjectRef, Provenance, RenderedObject, build_input};

/// Why a check of an estate folder could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Load(#[from] ward_estate::LoadError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}
