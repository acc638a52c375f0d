//! Renders the resolved estate into deployable objects (Kubernetes manifests, compose
//! files), lays them out as a deterministic deploy tree, and plans changes as a diff.
//!
//! Entry points: [`render_kubernetes`] and [`compose::render`] give a [`tree::Tree`];
//! [`tree::Tree::write`] lays it on disk; [`plan::plan`] compares it with what is there;
//! [`approval`] verifies the signed approvals a plan needs. Nothing here evaluates controls.

pub mod approval;
pub mod approval_key;
pub mod compose;
pub mod crd;
pub mod kubernetes;
pub mod metrics;
pub mod odoo;
pub mod plan;
pub mod postgres;
pub mod review;
pub mod schedule;
pub mod stack;
pub mod tree;
pub mod waivers;
pub mod yaml;

use serde::Serialize;
use ward_estate::Estate;
use ward_estate::model::Stage;

/// The `workload/environment` addresses an object serves, shared between objects.
pub type Owners = std::sync::Arc<[String]>;

/// The Kubernetes minor version rendered objects target (k8s-openapi's `v1_33` API).
pub const KUBERNETES_VERSION: &str = "1.33";

/// One rendered object and where it goes in the deploy tree.
#[derive(Clone, Debug, Serialize)]
pub struct Object {
    /// The cluster folder.
    pub cluster: String,
    /// The folder under the cluster: the namespace, or Argo CD's namespace.
    pub folder: String,
    pub kind: String,
    pub name: String,
    /// The `workload/environment` addresses this object serves.
    pub owners: Owners,
    /// The strictest tier among the owners (1 is strictest), for the plan's risk.
    pub tier: u8,
    pub stage: Stage,
    pub body: serde_json::Value,
}

impl Object {
    /// `<cluster>/<folder>/<kind>-<name>.yaml`, kind in lower case.
    pub fn path(&self) -> String {
        format!(
            "{}/{}/{}-{}.yaml",
            self.cluster,
            self.folder,
            self.kind.to_ascii_lowercase(),
            self.name
        )
    }
}

/// Why the estate could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the estate has no Platform document")]
    NoPlatform,
    #[error("environment `{0}` names a workload the estate does not hold")]
    UnknownWorkload(String),
    #[error("rendering.archiveStore `{0}` is not one of the platform's objectStores")]
    UnknownArchiveStore(String),
    #[error(
        "rendering.archiveStore `{0}` must be an s3 store: PostgreSQL archives to object storage"
    )]
    ArchiveStoreNotS3(String),
    #[error(
        "rendering.mail.outgoing.passwordRef is in store `{store}`, but Odoo's configuration in `{namespace}` is read from `{config_store}`: External Secrets assembles odoo.conf from one store"
    )]
    MailPasswordStore {
        store: String,
        config_store: String,
        namespace: String,
    },
    #[error(
        "Ward's in-cluster jobs of `{environment}` would write to the local object store `{store}`, a volume beside the database: set `rendering.jobObjectStore` to an s3 object store of the platform, or give the environment an s3 `objectStore`"
    )]
    JobStoreLocal { environment: String, store: String },
    #[error(
        "rendering.jobObjectStore `{0}` is not an s3 object store of the platform: name one of its `objectStores` with `type: s3`"
    )]
    JobStoreNotS3(String),
    #[error(
        "`{environment}` is tier {tier}, whose backups must be immutable, but its in-cluster backups go to object store `{store}`, which has no objectLock: add `objectLock: {{ mode: compliance, days: 35 }}` (and `versioning: true`) to that store"
    )]
    JobStoreUnlocked {
        environment: String,
        tier: u8,
        store: String,
    },
    #[error(
        "`{environment}` holds PHI, but its in-cluster backups go to object store `{store}`, whose objectLock is in governance mode, which privileged users can lift: use `mode: compliance`"
    )]
    JobStoreGovernance { environment: String, store: String },
    #[error(
        "`{environment}` is tier 1 with recovery cluster `{cluster}`, whose filestore restore must read Ward's snapshots from a copy outside the primary region, but its in-cluster backups go to object store `{store}`, which has no s3 `replicateTo` and is not in `{cluster}`'s region: add `replicateTo: <s3 store in that region>` to `{store}` (WARD-RS-007)"
    )]
    RecoveryStoreNotReplicated {
        environment: String,
        cluster: String,
        store: String,
    },
    #[error(
        "environment `{0}` is tier 1 and cannot be rendered for compose: a compose host has no continuous WAL archive and no backup job, so nothing would meet its RPO. Render it for kubernetes, or lower its classification"
    )]
    ComposeTier1(String),
    #[error("two objects would be written to {0}")]
    DuplicatePath(String),
    #[error("cannot serialize a rendered object: {0}")]
    Serialize(serde_json::Error),
    #[error(
        "{} already holds files Ward did not write ({}) and has no {} (the record of a tree Ward wrote): Ward writes only into an empty folder, a fresh clone of a deploy repository or a tree it recorded",
        root.display(),
        tree::name_some(paths),
        tree::RECORD_FILE
    )]
    NotATree {
        root: std::path::PathBuf,
        /// What made the folder count as holding content (all of it, sorted).
        paths: Vec<String>,
    },
    #[error(
        "{} holds {} file(s) Ward did not write where it would write: {}",
        root.display(),
        paths.len(),
        paths.join(", ")
    )]
    NotWards {
        root: std::path::PathBuf,
        paths: Vec<String>,
    },
    #[error(
        "the output folder {} is inside the estate folder {}: the deploy tree must be a folder of its own",
        root.display(),
        estate.display()
    )]
    InsideEstate {
        root: std::path::PathBuf,
        estate: std::path::PathBuf,
    },
    #[error("{record}: not a readable tree record: {message}")]
    BadRecord { record: String, message: String },
    #[error(
        "{}: the tree there is a {recorded} tree and this render is for {rendering}",
        record.display()
    )]
    OtherTarget {
        record: std::path::PathBuf,
        recorded: Target,
        rendering: Target,
    },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// What to render the estate into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One file per object, `<cluster>/<namespace>/<kind>-<name>.yaml`.
    #[default]
    Kubernetes,
    /// A `compose.yaml` per host, for small single-host estates.
    Compose,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Kubernetes => "kubernetes",
            Target::Compose => "compose",
        })
    }
}

/// Renders the estate for `target`. The tree keeps only the text of each file (values
/// are parsed back where a plan needs them), which keeps large estates fast and small.
pub fn render(estate: &Estate, target: Target) -> Result<tree::Tree, RenderError> {
    match target {
        Target::Kubernetes => tree::Tree::from_laid_out(render_kubernetes_with(estate, |o| {
            tree::TreeFile::lay_out(o, false)
        })?),
        Target::Compose => compose::render(estate),
    }
}

/// Renders every environment of the estate to Kubernetes objects, laid out as a tree
/// that also keeps each object's value (for tests and tools that inspect objects).
pub fn render_kubernetes(estate: &Estate) -> Result<tree::Tree, RenderError> {
    tree::Tree::from_laid_out(render_kubernetes_with(estate, |o| {
        tree::TreeFile::lay_out(o, true)
    })?)
}

/// The Kubernetes objects of the estate, before they are laid out.
pub fn kubernetes_objects(estate: &Estate) -> Result<Vec<Object>, RenderError> {
    render_kubernetes_with(estate, |o| o)
}

/// Renders the estate's Kubernetes objects, each passed through `lay` as soon as its
/// stack is rendered (see [`kubernetes::render`]).
fn render_kubernetes_with<T: Send>(
    estate: &Estate,
    lay: impl Fn(Object) -> T + Sync,
) -> Result<Vec<T>, RenderError> {
    let platform = estate.platform.as_ref().ok_or(RenderError::NoPlatform)?;
    let settings = stack::Settings::from_platform(&platform.spec)?;
    let stacks = stack::stacks(estate, &settings)?;
    let mut laid = kubernetes::render(estate, &settings, &stacks, &lay)?;
    // Waivers ride along in the tree so that a plan sees them widen (see `waivers`).
    laid.extend(waivers::render(estate, &stacks)?.into_iter().map(&lay));
    Ok(laid)
}
