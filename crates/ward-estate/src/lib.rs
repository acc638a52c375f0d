//! The hosting estate: a folder of Kubernetes-style YAML documents (`Platform`, `Team`,
//! `Workload`, `Waiver`), loaded with source spans, validated, and classified.
//!
//! [`load`] is the entry point. It reads the `ward.dev/v1` documents of the `*.yaml`/`*.yml`
//! files under a folder whose top holds the `Platform` document, reports every problem at once as [`Diagnostic`]s that point at a file, line and column,
//! and returns an [`Estate`] whose [`Estate::environments`] are classified
//! ([`Classification`]) and placed on clusters. Nothing here touches Kubernetes, Rego or
//! object storage: downstream crates read the resolved model.
//!
//! Hostile input is expected: files over [`load::MAX_FILE_BYTES`], nesting deeper than
//! [`yaml::MAX_DEPTH`], alias bombs over [`yaml::MAX_NODES`], names that are not DNS-1123
//! labels, non-UTF-8 bytes and literal credentials are refused with a diagnostic.

pub mod classify;
pub mod decode;
pub mod git;
pub mod ignore;
pub mod load;
pub mod model;
pub mod resolve;
pub mod secrets;
pub mod source;
pub mod units;
pub mod validate;
pub mod yaml;

pub use classify::{
    Classification, ClassificationInputs, DrPosture, RecoveryMode, Retention, Rule, classify,
};
pub use git::GitState;
pub use load::{Estate, LoadError, load};
pub use resolve::{DatabaseEndpoint, DrillAccess, ResolvedEnvironment};
pub use source::{Diagnostic, FileId, Location, SourceFile, SourceMap, Span, Spanned};
