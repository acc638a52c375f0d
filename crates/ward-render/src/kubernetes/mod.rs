//! Kubernetes objects for each stack. Typed objects only (`k8s-openapi` for core kinds,
//! [`crate::crd`] for custom resources), turned into JSON values at the end. This module
//! holds the shared builders and the order a stack is rendered in; each seam is a file:
//! `access` (namespace, policies, quota, RBAC), `secrets`, `workloads` (Odoo, ingress),
//! `data` (PostgreSQL, object stores, Redis), `jobs` (Ward's jobs), `observability`,
//! `gitops` (Argo CD) and `control_plane` (Ward itself, `ward-system`).

use crate::crd::*;
use crate::odoo::{self, HTTP_PORT, Role as OdooRole, WEBSOCKET_PORT};
use crate::schedule;
use crate::stack::{
    CNPG_NAMESPACE, MONITORING_NAMESPACE, Member, Settings, Stack, bounded_name, cpu_quantity,
    quantity,
};
use crate::{Object, RenderError};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    HTTPGetAction, KeyToPath, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceQuota,
    ResourceQuotaSpec, ResourceRequirements, SeccompProfile, SecretProjection, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint,
    Volume, VolumeMount, VolumeProjection, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use ward_estate::Estate;
use ward_estate::decode::Choice;
use ward_estate::model::{Role as AdminRole, Stage};
use ward_estate::resolve::{DRILL_DATABASE_HEX_DIGITS, DRILL_DATABASE_PREFIX};

mod access;
mod control_plane;
mod data;
mod gitops;
mod jobs;
mod observability;
mod recovery;
mod secrets;
mod workloads;

/// The PostgreSQL major of an image, as CloudNativePG reads it (compose reads it too).
pub use data::postgres_major;

use access::*;
use control_plane::*;
pub use control_plane::{
    API_PORT, JOB_GRACE_SECONDS, METRICS_PORT, SERVER_NAME, STORE_APP_SECRET, STORE_CLUSTER,
    STORE_DATABASE, STORE_OWNER,
};
use data::*;
use gitops::*;
use jobs::*;

pub use jobs::{BACKUP_SIGNING_KEYS_ANNOTATION, DRILL_CLUSTER_LABEL};
use observability::*;
pub use recovery::{NEVER_SCHEDULE, RUN_COMMAND_ANNOTATION};
use secrets::*;
use workloads::*;

/// The label every rendered object carries, so that nothing else is pruned by mistake.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "ward");
const BARMAN_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";
/// Odoo's user and group in the upstream image.
const ODOO_UID: i64 = 101;
/// Redis runs as a high UID, so that it shares no UID with a host account (checkov
/// CKV_K8S_40): the image needs no account of its own, its data folder is a volume whose
/// group is the pod's fsGroup.
const REDIS_UID: i64 = 10_999;
/// Why Odoo keeps the image's UID 101 rather than a high one, for checkov's skip
/// annotation on the Odoo Deployments (`docs/rendering.md`, "checkov").
const ODOO_UID_WAIVER: (&str, &str) = (
    "checkov.io/skip1",
    "CKV_K8S_40=Odoo runs as the upstream image's own user 101: the filestore's files and folders are 101's (RWX classes such as EFS and NFS do not apply fsGroup, so another UID could not write there), Ward's backup jobs read it through group 101, and 101 is the only non-root account the image's passwd knows. Non-root, no capabilities, read-only root, no privilege escalation",
);
/// Private ranges: egress to integrations goes to the internet, never into the cluster
/// or to another tenant's pods.
const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
];

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Argo CD's per-object sync options, and the value every stateful object carries:
/// never pruned when its file leaves the tree, never deleted with its Application. A
/// PHI database is removed by a person, on purpose, not by a deleted file.
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";
pub const STATEFUL_SYNC_OPTIONS: &str = "Prune=false,Delete=false";

/// Objects whose deletion loses data: (apiVersion group, kind). CloudNativePG deletes a
/// cluster's volumes with the `Cluster`; a namespace takes everything in it.
pub const STATEFUL_KINDS: &[(&str, &str)] = &[
    ("postgresql.cnpg.io", "Cluster"),
    ("", "PersistentVolumeClaim"),
    ("", "Namespace"),
];

/// Whether an object of this `apiVersion` and `kind` holds data (see [`STATEFUL_KINDS`]).
pub fn is_stateful(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    STATEFUL_KINDS.contains(&(group, kind))
}

struct Out<'a> {
    cluster: String,
    folder: String,
    owners: crate::Owners,
    tier: u8,
    stage: Stage,
    /// Where each object goes as soon as it is made (see [`render`]).
    objects: &'a mut dyn FnMut(Object),
    /// The remote keys the ExternalSecrets pushed so far name, by store: what the
    /// namespace's own `SecretStore` may reach (see [`secrets::secret_stores`]).
    remote_keys: BTreeMap<String, BTreeSet<String>>,
}

impl Out<'_> {
    fn push<T: Serialize>(&mut self, object: &T) -> Result<(), RenderError> {
        let mut body = serde_json::to_value(object).map_err(RenderError::Serialize)?;
        let stateful = is_stateful(
            body.get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            body.get("kind")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
        );
        if stateful && let Some(metadata) = body.get_mut("metadata") {
            let annotations = metadata.as_object_mut().map(|m| {
                m.entry("annotations")
                    .or_insert_with(|| serde_json::json!({}))
            });
            if let Some(serde_json::Value::Object(a)) = annotations {
                a.insert(SYNC_OPTIONS_ANNOTATION.into(), STATEFUL_SYNC_OPTIONS.into());
            }
        }
        let field = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let kind = field("kind");
        if kind == "ExternalSecret" {
            let spec = &body["spec"];
            if let Some(store) = spec["secretStoreRef"]["name"].as_str() {
                let keys = self.remote_keys.entry(store.to_string()).or_default();
                for d in spec["data"].as_array().into_iter().flatten() {
                    if let Some(k) = d["remoteRef"]["key"].as_str() {
                        keys.insert(k.to_string());
                    }
                }
            }
        }
        let name = body
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        (self.objects)(Object {
            cluster: self.cluster.clone(),
            folder: self.folder.clone(),
            kind,
            name,
            owners: self.owners.clone(),
            tier: self.tier,
            stage: self.stage,
            body,
        });
        Ok(())
    }
}

fn meta(name: &str, namespace: &str, extra: &BTreeMap<String, String>) -> ObjectMeta {
    let mut l = extra.clone();
    l.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(l),
        ..Default::default()
    }
}

fn cr<S>(
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: S,
) -> CustomResource<S> {
    CustomResource {
        api_version,
        kind,
        metadata,
        spec,
    }
}

fn q(s: impl Into<String>) -> Quantity {
    Quantity(s.into())
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        ..Default::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn pods(pairs: &[(&str, &str)]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(selector(pairs)),
        ..Default::default()
    }
}

fn namespace_peer(ns: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(selector(&[("kubernetes.io/metadata.name", ns)])),
        ..Default::default()
    }
}

fn internet() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: "0.0.0.0/0".into(),
            except: Some(PRIVATE_RANGES.iter().map(|s| (*s).to_string()).collect()),
        }),
        ..Default::default()
    }
}

/// A CloudNativePG cluster's instances replicate to each other, and the operator checks
/// their status: the ingress every cluster's policy admits.
fn cnpg_instance_ingress(pg: (&str, &str)) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(vec![pods(&[pg]), namespace_peer(CNPG_NAMESPACE)]),
        ports: Some(vec![tcp(5432), tcp(8000)]),
    }
}

/// The instances' side of [`cnpg_instance_ingress`]: replication to their peers.
fn cnpg_instance_egress(pg: (&str, &str)) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![pods(&[pg])]),
        ports: Some(vec![tcp(5432), tcp(8000)]),
    }
}

/// Prometheus in the monitoring namespace scrapes the instances' exporter.
fn postgres_metrics_ingress() -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(vec![namespace_peer(MONITORING_NAMESPACE)]),
        ports: Some(vec![tcp(9187)]),
    }
}

/// Name lookups: kube-dns in `kube-system`, TCP and UDP 53.
fn kube_dns_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(selector(&[("kubernetes.io/metadata.name", "kube-system")])),
            pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
            ..Default::default()
        }]),
        ports: Some(vec![
            tcp(53),
            NetworkPolicyPort {
                port: Some(IntOrString::Int(53)),
                protocol: Some("UDP".into()),
                ..Default::default()
            },
        ]),
    }
}

/// The instance manager talks to the API server (and WAL goes to object storage).
fn api_server_egress() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: None,
        ports: Some(vec![tcp(443), tcp(6443)]),
    }
}

const ODOO_POD: (&str, &str) = ("app.kubernetes.io/name", "odoo");
const WEB: (&str, &str) = ("app.kubernetes.io/component", "web");
const CRON: (&str, &str) = ("app.kubernetes.io/component", "cron");
const WARD_JOB: (&str, &str) = ("app.kubernetes.io/name", "ward-job");
const REDIS_POD: (&str, &str) = ("app.kubernetes.io/name", "redis");

fn restricted_pod(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn restricted_container(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        read_only_root_filesystem: Some(read_only_root),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn resources(cpu: &str, memory: &str) -> ResourceRequirements {
    let both: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), q(cpu)),
        ("memory".to_string(), q(memory)),
    ]
    .into();
    ResourceRequirements {
        // Requests equal limits: Guaranteed QoS, so Odoo workers are the last to be evicted.
        limits: Some(both.clone()),
        requests: Some(both),
        ..Default::default()
    }
}

/// Renders every stack of the estate.
///
/// Each object goes through `lay` as soon as it is made, on the thread rendering its
/// stack, so a caller that only needs an object's text (see
/// [`crate::tree::TreeFile::lay_out`]) never holds many values at once: for 2,000 × 3
/// environments they take about 1 GB, their text a tenth of it.
pub fn render<T: Send>(
    estate: &Estate,
    settings: &Settings,
    stacks: &[Stack<'_>],
    lay: impl Fn(Object) -> T + Sync,
) -> Result<Vec<T>, RenderError> {
    let mut laid = Vec::new();
    // Teams that own a workload; the others are the platform's own teams.
    let owning_teams: BTreeSet<&str> = estate
        .workloads
        .iter()
        .map(|w| w.spec.owner.value.as_str())
        .collect();
    // Stacks are independent: render them on every core, then join them in order.
    let per_stack = crate::tree::parallel_map(stacks.iter().collect(), |stack| {
        let mut out = Vec::new();
        let rendered = render_stack(estate, &owning_teams, settings, stack, &mut |o| {
            out.push(lay(o));
        });
        rendered.map(|()| out)
    });
    for rendered in per_stack {
        laid.extend(rendered?);
    }
    render_control_plane(estate, &owning_teams, settings, stacks, &mut |o| {
        laid.push(lay(o));
    })?;
    render_gitops(settings, stacks, &mut |o| laid.push(lay(o)))?;
    Ok(laid)
}

fn render_stack(
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    settings: &Settings,
    s: &Stack<'_>,
    objects: &mut dyn FnMut(Object),
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let mut out = Out {
        cluster: s.cluster.clone(),
        folder: ns.to_string(),
        owners: s.addresses().into(),
        tier: s.tier,
        stage: s.stage,
        objects,
        remote_keys: BTreeMap::new(),
    };
    let tier = s.tier.to_string();
    let workload_label = if s.dedicated() {
        s.members
            .first()
            .map_or("shared", |m| m.env.workload.as_str())
    } else {
        "shared"
    };
    let common = labels(&[("ward.dev/stack", ns)]);

    // ---- namespace and access --------------------------------------------------------
    let mut ns_labels = labels(&[
        ("ward.dev/tenant", s.tenant.as_str()),
        ("ward.dev/workload", workload_label),
        ("ward.dev/stage", s.stage.name()),
        ("ward.dev/tier", tier.as_str()),
        ("ward.dev/data-class", s.data_class.as_str()),
        ("ward.dev/hosting", s.hosting.name()),
        ("pod-security.kubernetes.io/enforce", "restricted"),
        ("pod-security.kubernetes.io/enforce-version", "latest"),
        ("pod-security.kubernetes.io/audit", "restricted"),
        ("pod-security.kubernetes.io/warn", "restricted"),
    ]);
    ns_labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    out.push(&Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            labels: Some(ns_labels),
            ..Default::default()
        },
        ..Default::default()
    })?;
    network_policies(&mut out, settings, s, &common)?;
    quota(&mut out, s, &common)?;
    rbac(&mut out, estate, owning_teams, s, &common)?;
    for sa in ["odoo", "ward-jobs"] {
        out.push(&ServiceAccount {
            metadata: meta(sa, ns, &common),
            // Neither Odoo nor Ward's jobs talk to the Kubernetes API.
            automount_service_account_token: Some(false),
            ..Default::default()
        })?;
    }

    // ---- secrets (references only) ---------------------------------------------------
    secrets(&mut out, settings, s, &common)?;

    // ---- Odoo ------------------------------------------------------------------------
    odoo_workloads(&mut out, settings, s, &common)?;

    // ---- ingress and TLS -------------------------------------------------------------
    ingress(&mut out, settings, s, &common)?;

    // ---- data ------------------------------------------------------------------------
    postgres(&mut out, settings, s, &common)?;
    if s.redis_sessions {
        redis(&mut out, settings, s, &common)?;
    }

    // ---- Ward's own jobs ---------------------------------------------------------------
    ward_jobs(&mut out, settings, s, &common)?;

    // ---- observability -----------------------------------------------------------------
    observability(&mut out, settings, s, &common)?;

    // ---- the namespace's own secret stores, last: they reach what was referenced -------
    secret_stores(&mut out, settings, ns, &common)?;

    if let (Some(recovery), 1) = (&s.recovery_cluster, s.tier) {
        replica_cluster(objects, settings, s, recovery)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_major_is_read_from_the_image_tag_as_cloudnativepg_reads_it() {
        let digest = "@sha256:5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b";
        for (image, major) in [
            (
                "ghcr.io/cloudnative-pg/postgresql:16.4".to_string(),
                Some(16),
            ),
            (
                format!("registry:5000/postgresql:15.8-bookworm{digest}"),
                Some(15),
            ),
            (format!("registry:5000/postgresql{digest}"), None),
            ("postgresql:latest".to_string(), None),
            ("postgresql".to_string(), None),
        ] {
            assert_eq!(postgres_major(Some(&image)), major, "{image}");
        }
        assert_eq!(postgres_major(None), Some(CNPG_DEFAULT_POSTGRES_MAJOR));
    }
}
