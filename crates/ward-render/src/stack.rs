//! Stacks: the unit the renderers work on. A dedicated environment is a stack of its own;
//! multi-tenant environments of one cluster, stage and Odoo major version share one.
//!
//! Naming (namespaces, database and role names, the `dbfilter`) is decided here, once.

use crate::RenderError;
use crate::odoo::regex_escape;
use std::collections::BTreeMap;
use ward_estate::model::{
    Document, Environment, HostingModel, MailSpec, ObjectStore, OidcSpec, PlatformSpec, Scheduler,
    SecretProvider, SecretRef, Stage, StoreKind, WorkloadSpec,
};
use ward_estate::{DrPosture, Estate, ResolvedEnvironment};

/// Platform settings for rendering, with Ward's defaults filled in.
#[derive(Clone, Debug)]
pub struct Settings {
    pub git_repository: String,
    pub git_revision: String,
    pub argocd_namespace: String,
    pub traefik_namespace: String,
    pub entry_point: String,
    pub cluster_issuer: String,
    pub archive_store: Option<ObjectStore>,
    pub ward_image: String,
    pub redis_image: String,
    pub postgres_image: Option<String>,
    /// Block storage (`ReadWriteOnce`) for PostgreSQL's data and WAL volumes and Redis.
    pub database_storage_class: Option<String>,
    /// Shared storage (`ReadWriteMany`) for the Odoo filestore and Ward's state.
    pub filestore_storage_class: Option<String>,
    pub shared_images: BTreeMap<String, String>,
    /// Secret stores by name, with their kind (`ClusterSecretStore` or `SecretStore`).
    pub secret_stores: BTreeMap<String, String>,
    /// The stores Ward renders itself, one namespaced `SecretStore` per namespace, by name.
    pub secret_providers: BTreeMap<String, SecretProvider>,
    pub default_secret_store: String,
    /// The platform's object stores by name: where each environment's backups go.
    pub object_stores: BTreeMap<String, ObjectStore>,
    /// Each cluster's region, by cluster name: where the recovery region's jobs read from.
    pub cluster_regions: BTreeMap<String, String>,
    /// `rendering.jobObjectStore`: the S3 store in-cluster jobs use for environments whose
    /// own store is not S3 (see `kubernetes::jobs::job_store`).
    pub job_object_store: Option<String>,
    /// The estate's Git repository and the branch or tag Ward's jobs clone before a run.
    pub estate_repository: String,
    pub estate_revision: String,
    /// `<username>:<token>` for that clone, when the repository is not public.
    pub estate_credentials: Option<SecretRef>,
    /// Where the stacks' drill identities are (`resolve::drill_identity_ref`); a stack
    /// without one, or without a drill recipient, has drills that fail at start.
    pub drill_identity: Option<SecretRef>,
    /// `rendering.drillRecipients`: each stack's drill recipient, by `<cluster>/<namespace>`.
    pub drill_recipients: BTreeMap<String, String>,
    /// Where the jobs push their results for the alerts (`WARD_PUSHGATEWAY`), if anywhere.
    pub pushgateway: Option<String>,
    /// `rendering.prometheusHonorLabels`: whether exporter-set `namespace`/`job` labels
    /// keep their names in the platform's Prometheus (else `exported_*`).
    pub prometheus_honor_labels: bool,
    /// The mail relay Odoo sends through and the server it fetches from, if any.
    pub mail: MailSpec,
    /// Ward itself (`spec.controlPlane`), unless the platform runs no server.
    pub control_plane: Option<ControlPlane>,
}

/// Where and how `ward serve` runs, with Ward's defaults filled in (see
/// `kubernetes::control_plane` and docs/rendering.md, "Ward itself").
#[derive(Clone, Debug)]
pub struct ControlPlane {
    /// The cluster `ward-system` is rendered in.
    pub cluster: String,
    pub replicas: u32,
    /// The store's PostgreSQL volume.
    pub storage_bytes: u64,
    pub scheduler: Scheduler,
    pub poll_interval: ward_estate::units::Duration,
    /// The address people reach the server at (`controlPlane.url`).
    pub url: Option<String>,
    pub oidc: Option<OidcSpec>,
}

impl Settings {
    /// Whether the server schedules the backups and drills of environments in `cluster`:
    /// only in its own cluster, whose databases its NetworkPolicies can admit it to (a
    /// policy cannot name a pod of another cluster, nor does a bare service name resolve
    /// there); elsewhere the CronJobs keep scheduling.
    pub fn server_schedules(&self, cluster: &str) -> bool {
        self.control_plane
            .as_ref()
            .is_some_and(|c| c.scheduler == Scheduler::Server && c.cluster == cluster)
    }
}

/// Where the estate repository points when the platform does not say: a reserved name
/// that never resolves, so the jobs' clone fails at once and names it (like the default
/// deploy repository, it is meant to be replaced).
pub const DEFAULT_ESTATE_REPOSITORY: &str = "https://git.invalid/ward/estate.git";

/// The PostgreSQL major Ward runs where the platform pins no image: CloudNativePG's
/// clusters (`ghcr.io/cloudnative-pg/postgresql:<major>`) and compose's `postgres` image
/// alike, so that a dump moves between the two (pg_restore reads dumps of its own major
/// and older, never newer).
pub const POSTGRES_MAJOR: u32 = 17;

/// CloudNativePG's image of a PostgreSQL major, by tag (`rendering.postgresImage` pins
/// one by digest as well).
pub fn cnpg_postgres_image(major: u32) -> String {
    format!("ghcr.io/cloudnative-pg/postgresql:{major}")
}

/// Namespaces of cluster add-ons that rendered policies let in.
pub const MONITORING_NAMESPACE: &str = "monitoring";
pub const CNPG_NAMESPACE: &str = "cnpg-system";

impl Settings {
    pub fn from_platform(p: &PlatformSpec) -> Result<Settings, RenderError> {
        let r = &p.rendering;
        let text = |f: &Option<ward_estate::Spanned<String>>, default: &str| {
            f.as_ref()
                .map_or_else(|| default.to_string(), |s| s.value.clone())
        };
        let archive_store = match &r.archive_store {
            Some(name) => {
                let store = p
                    .object_stores
                    .iter()
                    .find(|s| s.name.value == name.value)
                    .ok_or_else(|| RenderError::UnknownArchiveStore(name.value.clone()))?;
                if store.kind.value != StoreKind::S3 {
                    return Err(RenderError::ArchiveStoreNotS3(name.value.clone()));
                }
                Some(store.clone())
            }
            None => p
                .object_stores
                .iter()
                .find(|s| s.kind.value == StoreKind::S3)
                .cloned(),
        };
        let secret_stores: BTreeMap<String, String> = p
            .secret_stores
            .iter()
            .map(|s| (s.name.value.clone(), s.kind.value.to_string()))
            .collect();
        Ok(Settings {
            git_repository: text(&r.git_repository, "https://git.invalid/ward/deploy.git"),
            git_revision: text(&r.git_revision, "main"),
            argocd_namespace: text(&r.argocd_namespace, "argocd"),
            traefik_namespace: text(&r.traefik_namespace, "traefik"),
            entry_point: text(&r.entry_point, "websecure"),
            cluster_issuer: text(&r.cluster_issuer, "letsencrypt"),
            archive_store,
            ward_image: text(&r.ward_image, "ward:latest"),
            redis_image: text(&r.redis_image, "redis:7.4-alpine"),
            postgres_image: r.postgres_image.as_ref().map(|s| s.value.clone()),
            database_storage_class: r.database_storage_class.as_ref().map(|s| s.value.clone()),
            filestore_storage_class: r.filestore_storage_class.as_ref().map(|s| s.value.clone()),
            shared_images: r
                .shared_images
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            default_secret_store: p
                .secret_stores
                .first()
                .map_or_else(|| "default".to_string(), |s| s.name.value.clone()),
            secret_stores,
            secret_providers: p
                .secret_stores
                .iter()
                .filter_map(|s| Some((s.name.value.clone(), s.provider.clone()?)))
                .collect(),
            object_stores: p
                .object_stores
                .iter()
                .map(|s| (s.name.value.clone(), s.clone()))
                .collect(),
            cluster_regions: p
                .clusters
                .iter()
                .map(|c| (c.name.value.clone(), c.region.value.clone()))
                .collect(),
            job_object_store: r.job_object_store.as_ref().map(|s| s.value.clone()),
            estate_repository: text(&r.estate_repository, DEFAULT_ESTATE_REPOSITORY),
            estate_revision: text(&r.estate_revision, "main"),
            estate_credentials: r.estate_credentials.clone(),
            drill_identity: r.drill_identity.clone(),
            drill_recipients: r
                .drill_recipients
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            pushgateway: r.pushgateway.as_ref().map(|s| s.value.clone()),
            prometheus_honor_labels: r.prometheus_honor_labels.as_ref().is_some_and(|b| b.value),
            mail: r.mail.clone(),
            control_plane: p
                .control_plane
                .cluster_name(&p.clusters)
                .map(|cluster| ControlPlane {
                    cluster: cluster.to_string(),
                    replicas: p.control_plane.replicas(),
                    storage_bytes: p.control_plane.storage_bytes(),
                    scheduler: p.control_plane.scheduler(),
                    poll_interval: p.control_plane.poll_interval(),
                    url: p.control_plane.url.as_ref().map(|u| u.value.clone()),
                    oidc: p.control_plane.oidc.clone(),
                }),
        })
    }

    /// The kind of a secret store, `ClusterSecretStore` unless the platform says otherwise.
    pub fn store_kind(&self, store: &str) -> String {
        self.secret_stores
            .get(store)
            .cloned()
            .unwrap_or_else(|| "ClusterSecretStore".to_string())
    }
}

/// One workload environment inside a stack.
#[derive(Clone, Debug)]
pub struct Member<'e> {
    pub env: &'e ResolvedEnvironment,
    pub workload: &'e Document<WorkloadSpec>,
    pub spec: &'e Environment,
    /// The database Odoo opens for this environment.
    pub database: String,
    /// The PostgreSQL role that owns it.
    pub role: String,
}

impl Member<'_> {
    /// `workload-environment`, unique within a stack and a valid object name.
    pub fn slug(&self) -> String {
        format!("{}-{}", self.env.workload, self.env.environment)
    }
}

/// What is deployed together into one namespace.
#[derive(Clone, Debug)]
pub struct Stack<'e> {
    pub cluster: String,
    pub namespace: String,
    pub hosting: HostingModel,
    pub stage: Stage,
    /// The tenant, or `shared` for a multi-tenant stack.
    pub tenant: String,
    pub odoo_version: String,
    pub image: String,
    /// The strictest tier among members (1 is strictest) and its posture.
    pub tier: u8,
    pub posture: DrPosture,
    /// The backup interval is the shortest any member asks for.
    pub members: Vec<Member<'e>>,
    pub recovery_cluster: Option<String>,
    pub db_cluster: String,
    pub cpu_millicores: u32,
    pub memory_bytes: u64,
    pub replicas: u32,
    pub database_bytes: u64,
    pub filestore_bytes: u64,
    /// Whether Odoo keeps HTTP sessions in Redis (`session_redis`): the one use of Redis.
    pub redis_sessions: bool,
    pub data_class: String,
}

impl Stack<'_> {
    pub fn dedicated(&self) -> bool {
        self.hosting == HostingModel::Dedicated
    }

    /// Odoo's `dbfilter`: a dedicated stack serves exactly its database; a shared one picks
    /// the database named after the request's host.
    pub fn dbfilter(&self) -> String {
        match (&self.hosting, self.members.first()) {
            (HostingModel::Dedicated, Some(m)) => format!("^{}$", regex_escape(&m.database)),
            _ => "^%h$".to_string(),
        }
    }

    /// `<cluster>/<namespace>`, the stack's name (`resolve::stack_id`).
    pub fn id(&self) -> String {
        ward_estate::resolve::stack_id(&self.cluster, &self.namespace)
    }

    pub fn addresses(&self) -> Vec<String> {
        self.members.iter().map(|m| m.env.address()).collect()
    }
}

/// Groups the estate's environments into stacks, sorted by cluster then namespace.
pub fn stacks<'e>(estate: &'e Estate, settings: &Settings) -> Result<Vec<Stack<'e>>, RenderError> {
    let mut by_key: BTreeMap<(String, String), Stack<'e>> = BTreeMap::new();
    for env in &estate.environments {
        let workload = estate
            .workload(&env.workload)
            .ok_or_else(|| RenderError::UnknownWorkload(env.workload.clone()))?;
        let spec = workload
            .spec
            .environments
            .iter()
            .find(|e| e.name.value == env.environment)
            .ok_or_else(|| RenderError::UnknownWorkload(env.address()))?;
        let dedicated = env.classification.hosting == HostingModel::Dedicated;
        let version = workload.spec.odoo.version.value.clone();
        // Decided once in the estate (`resolve::stack_namespace`), which names stacks too.
        let namespace = ward_estate::resolve::stack_namespace(
            env.classification.hosting,
            &env.workload,
            &env.environment,
            env.stage,
            &version,
        );
        // Names come from the resolved estate, so the renderer and the vault agree.
        let (database, role) = (env.database.name.clone(), env.database.user.clone());
        let member = Member {
            env,
            workload,
            spec,
            database,
            role,
        };
        let size = &spec.size;
        let replicas = spec
            .replicas
            .as_ref()
            .map_or(0, |r| r.value)
            .max(env.classification.posture.min_replicas)
            .max(1);
        let key = (env.cluster.clone(), namespace.clone());
        let stack = by_key.entry(key).or_insert_with(|| {
            let image = if dedicated {
                workload.spec.odoo.image.value.clone()
            } else {
                settings
                    .shared_images
                    .get(&version)
                    .cloned()
                    .unwrap_or_else(|| workload.spec.odoo.image.value.clone())
            };
            Stack {
                cluster: env.cluster.clone(),
                // Resolved once, so the vault connects to the service rendered here.
                db_cluster: env.database.cluster.clone(),
                namespace: namespace.clone(),
                hosting: env.classification.hosting,
                stage: env.stage,
                tenant: if dedicated {
                    env.tenant.clone()
                } else {
                    "shared".into()
                },
                odoo_version: version.clone(),
                image,
                tier: env.classification.tier,
                posture: env.classification.posture.clone(),
                members: Vec::new(),
                recovery_cluster: None,
                cpu_millicores: 0,
                memory_bytes: 0,
                replicas: 0,
                database_bytes: 0,
                filestore_bytes: 0,
                redis_sessions: false,
                data_class: String::new(),
            }
        });
        if env.classification.tier < stack.tier {
            stack.tier = env.classification.tier;
            let before = stack.posture.clone();
            stack.posture = env.classification.posture.clone();
            merge_cadences(&mut stack.posture, &before);
        } else {
            merge_cadences(&mut stack.posture, &env.classification.posture);
        }
        if stack.recovery_cluster.is_none() {
            stack.recovery_cluster = env.recovery_cluster.clone();
        }
        stack.cpu_millicores = stack.cpu_millicores.max(size.cpu.value.0);
        stack.memory_bytes = stack.memory_bytes.max(size.memory.value.bytes);
        stack.replicas = stack.replicas.max(replicas);
        stack.database_bytes += size.database.value.bytes;
        stack.filestore_bytes += size.filestore.value.bytes;
        stack.redis_sessions |= workload.spec.redis.sessions;
        let class = workload
            .spec
            .classification
            .data_sensitivity
            .value
            .to_string();
        if stack.data_class.is_empty()
            || sensitivity_rank(&class) > sensitivity_rank(&stack.data_class)
        {
            stack.data_class = class;
        }
        stack.members.push(member);
    }
    let mut out: Vec<Stack<'e>> = by_key.into_values().collect();
    for s in &mut out {
        s.members.sort_by_key(|m| m.env.address());
    }
    Ok(out)
}

/// A shared stack's cluster serves every member: it archives, backs up and keeps history
/// as its most demanding member asks.
fn merge_cadences(stack: &mut DrPosture, member: &DrPosture) {
    stack.backup_interval = stack.backup_interval.min(member.backup_interval);
    stack.base_backup_interval = stack.base_backup_interval.min(member.base_backup_interval);
    stack.archive_timeout = stack.archive_timeout.min(member.archive_timeout);
    stack.pitr_window = stack.pitr_window.max(member.pitr_window);
}

/// The RPO a stack's recovery answers to: the shortest of its members', where a
/// production member binds its workload's RPO and other stages their tier's.
pub fn stack_rpo(s: &Stack<'_>) -> ward_estate::units::Duration {
    s.members
        .iter()
        .map(|m| {
            if m.env.stage == Stage::Production {
                m.workload.spec.classification.rpo.value
            } else {
                ward_estate::classify::tier_rpo(m.env.classification.tier)
            }
        })
        .min()
        .unwrap_or_else(|| ward_estate::classify::tier_rpo(s.tier))
}

fn sensitivity_rank(s: &str) -> u8 {
    match s {
        "phi" => 3,
        "confidential" => 2,
        "internal" => 1,
        _ => 0,
    }
}

/// A Kubernetes quantity for a byte count: whole GiB or MiB, rounded up.
pub fn quantity(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}Gi", bytes / GIB)
    } else {
        format!("{}Mi", bytes.div_ceil(MIB).max(1))
    }
}

/// A CPU quantity from millicores.
pub fn cpu_quantity(millicores: u32) -> String {
    if millicores.is_multiple_of(1000) {
        format!("{}", millicores / 1000)
    } else {
        format!("{millicores}m")
    }
}

/// Bounded object names: one function for every name Ward shortens, owned by
/// `ward-estate` because the database cluster's name is decided there.
pub use ward_estate::resolve::bounded_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_bounded_and_stay_distinct() {
        let a = bounded_name(&format!("{}-prod", "a".repeat(70)), 63);
        let b = bounded_name(&format!("{}-test", "a".repeat(70)), 63);
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert_eq!(bounded_name("billing-prod", 63), "billing-prod");
    }

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(quantity(8 << 30), "8Gi");
        assert_eq!(quantity(1536 << 20), "1536Mi");
        assert_eq!(cpu_quantity(4000), "4");
        assert_eq!(cpu_quantity(500), "500m");
    }
}
