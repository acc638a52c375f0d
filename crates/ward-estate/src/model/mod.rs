//! The typed estate: `Platform`, `Team`, `Workload` and `Waiver` documents.
//!
//! Field names follow `docs/estate.md`. Values keep their spans so validation and
//! controls can point at the line that caused a finding.

// One file per document kind, plus what they share (the document envelope, secret
// references, the field readers); every type is re-exported here, so callers name
// `model::X` and never the file it lives in.
mod control_plane;
mod document;
mod platform;
mod readers;
mod secret_ref;
mod team;
mod waiver;
mod workload;

pub use control_plane::{ControlPlaneSpec, OidcSpec, Scheduler};
pub(crate) use document::decode_meta;
pub use document::{API_VERSION, Document, Kind, Meta};
pub(crate) use platform::decode_platform;
pub use platform::{
    Baseline, ChangesSpec, Cluster, ClusterRole, LockMode, MailRelay, MailServer, MailSpec,
    ObjectLock, ObjectStore, PlatformSpec, Prices, RenderingSpec, RetentionSpec, SecretProvider,
    SecretStore, SecretStoreKind, StoreKind, TierObjective, TierObjectives, VaultProvider,
};
pub use secret_ref::SecretRef;
pub(crate) use secret_ref::unusable_secret_segment;
pub(crate) use team::decode_team;
pub use team::{Person, Role, TeamSpec};
pub(crate) use waiver::decode_waiver;
pub use waiver::{WaiverScope, WaiverSpec};
pub(crate) use workload::decode_workload;
pub use workload::{
    ClassificationSpec, Criticality, DataSensitivity, DatabaseTarget, DbSslMode, Environment,
    EnvironmentBackup, FailureBehaviour, HealthCheck, HostingModel, Integration, OdooSpec,
    RedisSpec, Size, Stage, WorkloadSpec, check_signing_key,
};
