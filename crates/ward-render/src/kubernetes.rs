//! Kubernetes objects for each stack: namespace and access, Odoo, ingress and TLS, data,
//! Ward's own jobs, observability and GitOps. Typed objects only (`k8s-openapi` for core
//! kinds, [`crate::crd`] for custom resources), turned into JSON values at the end.

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
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction, KeyToPath,
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, SecretProjection, SecretVolumeSource, SecurityContext,
    Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint, Volume,
    VolumeMount, VolumeProjection, VolumeResourceRequirements,
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

/// The label every rendered object carries, so that nothing else is pruned by mistake.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "ward");
const BARMAN_PLUGIN: &str = "barman-cloud.cloudnative-pg.io";
/// Odoo's user and group in the upstream image.
const ODOO_UID: i64 = 101;
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

struct Out<'a> {
    cluster: String,
    folder: String,
    owners: crate::Owners,
    tier: u8,
    stage: Stage,
    /// Where each object goes as soon as it is made (see [`render`]).
    objects: &'a mut dyn FnMut(Object),
}

impl Out<'_> {
    fn push<T: Serialize>(&mut self, object: &T) -> Result<(), RenderError> {
        let body = serde_json::to_value(object).map_err(RenderError::Serialize)?;
        let field = |k: &str| {
            body.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let kind = field("kind");
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
    if s.redis_sessions || s.redis_queues {
        redis(&mut out, settings, s, &common)?;
    }

    // ---- Ward's own jobs ---------------------------------------------------------------
    ward_jobs(&mut out, settings, s, &common)?;

    // ---- observability -----------------------------------------------------------------
    observability(&mut out, s, &common)?;

    if let (Some(recovery), 1) = (&s.recovery_cluster, s.tier) {
        replica_cluster(objects, settings, s, recovery)?;
    }
    Ok(())
}

fn network_policies(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let policy = |name: &str, spec: NetworkPolicySpec| NetworkPolicy {
        metadata: meta(name, ns, common),
        spec: Some(spec),
    };
    out.push(&policy(
        "default-deny",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..Default::default()
        },
    ))?;
    out.push(&policy(
        "allow-dns",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(selector(&[(
                        "kubernetes.io/metadata.name",
                        "kube-system",
                    )])),
                    pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
                    ..Default::default()
                }]),
                ports: Some(vec![
                    NetworkPolicyPort {
                        port: Some(IntOrString::Int(53)),
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                    tcp(53),
                ]),
            }]),
            ..Default::default()
        },
    ))?;
    out.push(&policy(
        "allow-ingress-from-traefik",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[ODOO_POD, WEB])),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![namespace_peer(&settings.traefik_namespace)]),
                ports: Some(vec![
                    tcp(i32::from(HTTP_PORT)),
                    tcp(i32::from(WEBSOCKET_PORT)),
                ]),
            }]),
            ..Default::default()
        },
    ))?;
    // Odoo reaches PostgreSQL, Redis, and the declared integrations, nothing else.
    let pg = ("cnpg.io/cluster", s.db_cluster.as_str());
    let mut egress = vec![NetworkPolicyEgressRule {
        to: Some(vec![pods(&[pg])]),
        ports: Some(vec![tcp(5432)]),
    }];
    if s.redis_sessions || s.redis_queues {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![pods(&[REDIS_POD])]),
            ports: Some(vec![tcp(6379)]),
        });
    }
    let integration_ports: BTreeSet<i32> = s
        .members
        .iter()
        .flat_map(|m| m.workload.spec.integrations.iter())
        .map(|i| url_port(&i.endpoint.value))
        .collect();
    if !integration_ports.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![internet()]),
            ports: Some(integration_ports.into_iter().map(tcp).collect()),
        });
    }
    let integrations: Vec<String> = s
        .members
        .iter()
        .flat_map(|m| m.workload.spec.integrations.iter())
        .map(|i| url_host(&i.endpoint.value))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut odoo_egress = policy(
        "allow-odoo-egress",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[ODOO_POD])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(egress),
            ..Default::default()
        },
    );
    if !integrations.is_empty() {
        // NetworkPolicy cannot name hosts; the list is kept for review and for an
        // FQDN-aware policy engine or egress proxy to enforce.
        odoo_egress.metadata.annotations = Some(labels(&[(
            "ward.dev/integrations",
            &integrations.join(","),
        )]));
    }
    out.push(&odoo_egress)?;
    // Ward's jobs reach PostgreSQL, the estate's Git server and the S3 backup stores of
    // their environments (DNS is `allow-dns`), on public addresses only, like Odoo.
    let (mut job_ports, mut job_hosts) = ward_job_destinations(settings, s);
    let mut job_rules = vec![NetworkPolicyEgressRule {
        to: Some(vec![pods(&[pg])]),
        ports: Some(vec![tcp(5432)]),
    }];
    // The Pushgateway the results go to: a cluster service by its namespace, else like
    // any outside host.
    if let Some(url) = &settings.pushgateway {
        match service_namespace(url) {
            Some(ns) => job_rules.push(NetworkPolicyEgressRule {
                to: Some(vec![namespace_peer(&ns)]),
                ports: Some(vec![tcp(url_port(url))]),
            }),
            None => {
                job_ports.insert(url_port(url));
                job_hosts.insert(url_host(url));
            }
        }
    }
    job_rules.push(NetworkPolicyEgressRule {
        to: Some(vec![internet()]),
        ports: Some(job_ports.into_iter().map(tcp).collect()),
    });
    let mut jobs_egress = policy(
        "allow-ward-jobs-egress",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[WARD_JOB])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(job_rules),
            ..Default::default()
        },
    );
    // As for integrations: the hosts, for review and for an FQDN-aware engine.
    jobs_egress.metadata.annotations = Some(labels(&[(
        "ward.dev/egress-hosts",
        &job_hosts.into_iter().collect::<Vec<_>>().join(","),
    )]));
    out.push(&jobs_egress)?;
    out.push(&policy(
        "allow-postgres",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[pg])),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![pods(&[ODOO_POD]), pods(&[WARD_JOB])]),
                    ports: Some(vec![tcp(5432)]),
                },
                // Replication between instances, and the operator's status checks.
                NetworkPolicyIngressRule {
                    from: Some(vec![pods(&[pg]), namespace_peer(CNPG_NAMESPACE)]),
                    ports: Some(vec![tcp(5432), tcp(8000)]),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![namespace_peer(MONITORING_NAMESPACE)]),
                    ports: Some(vec![tcp(9187)]),
                },
            ]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![pods(&[pg])]),
                    ports: Some(vec![tcp(5432), tcp(8000)]),
                },
                // The instance manager talks to the API server; WAL goes to object storage.
                NetworkPolicyEgressRule {
                    to: None,
                    ports: Some(vec![tcp(443), tcp(6443)]),
                },
            ]),
        },
    ))?;
    if s.redis_sessions || s.redis_queues {
        out.push(&policy(
            "allow-redis",
            NetworkPolicySpec {
                pod_selector: Some(selector(&[REDIS_POD])),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![pods(&[ODOO_POD])]),
                    ports: Some(vec![tcp(6379)]),
                }]),
                ..Default::default()
            },
        ))?;
    }
    Ok(())
}

/// The ports and hosts Ward's jobs of a stack connect to outside the namespace: the
/// estate repository and each member's S3 backup store (AWS's regional endpoint when the
/// store names none).
fn ward_job_destinations(settings: &Settings, s: &Stack<'_>) -> (BTreeSet<i32>, BTreeSet<String>) {
    let mut ports = BTreeSet::from([url_port(&settings.estate_repository)]);
    let mut hosts = BTreeSet::from([url_host(&settings.estate_repository)]);
    for m in &s.members {
        let Some(store) = settings.object_stores.get(&m.env.object_store) else {
            continue;
        };
        if store.kind.value != ward_estate::model::StoreKind::S3 {
            continue;
        }
        match &store.endpoint {
            Some(e) => {
                ports.insert(url_port(&e.value));
                hosts.insert(url_host(&e.value));
            }
            None => {
                ports.insert(443);
                let region = store
                    .region
                    .as_ref()
                    .map_or("us-east-1", |r| r.value.as_str());
                hosts.insert(format!("s3.{region}.amazonaws.com"));
            }
        }
    }
    (ports, hosts)
}

/// The namespace of an in-cluster service URL, `http://<service>.<namespace>.svc[…]`.
fn service_namespace(url: &str) -> Option<String> {
    let host = url_host(url);
    let mut labels = host.split('.');
    let (_service, namespace, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (svc == "svc" && !namespace.is_empty()).then(|| namespace.to_string())
}

/// The TCP port of an integration endpoint URL (443 for https unless written).
pub fn url_port(url: &str) -> i32 {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some((_, port)) = authority.rsplit_once(':')
        && let Ok(p) = port.parse::<i32>()
    {
        return p;
    }
    if scheme == "http" { 80 } else { 443 }
}

fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    authority.split(':').next().unwrap_or_default().to_string()
}

struct Budget {
    web_cpu: u32,
    web_memory: u64,
    pg_cpu: u32,
    pg_memory: u64,
    max_web: u32,
}

fn budget(s: &Stack<'_>) -> Budget {
    Budget {
        web_cpu: s.cpu_millicores.max(250),
        web_memory: s.memory_bytes.max(512 << 20),
        pg_cpu: (s.cpu_millicores / 2).max(500),
        pg_memory: (s.memory_bytes / 2).max(1 << 30),
        max_web: if s.tier == 1 {
            s.replicas * 2
        } else {
            s.replicas
        },
    }
}

fn quota(
    out: &mut Out<'_>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let b = budget(s);
    let pg = s.posture.postgres_instances;
    let members = u32::try_from(s.members.len()).unwrap_or(u32::MAX);
    // Web at its autoscaling maximum, one cron pod, PostgreSQL, Redis and a job, plus a
    // fifth for rolling updates.
    let cpu = u64::from(b.web_cpu) * u64::from(b.max_web + 1)
        + u64::from(b.pg_cpu) * u64::from(pg)
        + 1500;
    let memory = b.web_memory * u64::from(b.max_web + 1) + b.pg_memory * u64::from(pg) + (2 << 30);
    let cpu = cpu + cpu / 5;
    let memory = memory + memory / 5;
    let storage =
        s.database_bytes * u64::from(pg) + s.filestore_bytes + WARD_STATE_BYTES + (2 << 30);
    let hard: BTreeMap<String, Quantity> = [
        (
            "requests.cpu",
            q(cpu_quantity(u32::try_from(cpu).unwrap_or(u32::MAX))),
        ),
        (
            "limits.cpu",
            q(cpu_quantity(u32::try_from(cpu).unwrap_or(u32::MAX))),
        ),
        ("requests.memory", q(quantity(memory))),
        ("limits.memory", q(quantity(memory))),
        ("requests.storage", q(quantity(storage))),
        // PostgreSQL's, the filestore, Ward's state, Redis's queue and one spare.
        ("persistentvolumeclaims", q((pg + 4).to_string())),
        // Each environment has its own backup and drill jobs.
        ("pods", q((b.max_web + pg + 8 + 2 * members).to_string())),
        ("services.loadbalancers", q("0")),
        ("services.nodeports", q("0")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    out.push(&ResourceQuota {
        metadata: meta("stack-quota", &s.namespace, common),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    let max_cpu = b.web_cpu.max(b.pg_cpu);
    let max_mem = b.web_memory.max(b.pg_memory);
    let map = |cpu: String, mem: String| -> BTreeMap<String, Quantity> {
        [("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))].into()
    };
    out.push(&LimitRange {
        metadata: meta("container-limits", &s.namespace, common),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(map("500m".into(), "512Mi".into())),
                default_request: Some(map("100m".into(), "128Mi".into())),
                max: Some(map(cpu_quantity(max_cpu), quantity(max_mem))),
                ..Default::default()
            }],
        }),
    })?;
    Ok(())
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        verbs: v(verbs),
        ..Default::default()
    }
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The namespaced rules of each admin role. Secrets are readable by no one: External
/// Secrets writes them and pods mount them.
pub fn role_rules(role: AdminRole) -> Vec<PolicyRule> {
    let workloads = [
        rule(
            &[""],
            &[
                "pods",
                "services",
                "configmaps",
                "persistentvolumeclaims",
                "serviceaccounts",
            ],
            WRITE,
        ),
        rule(
            &["apps"],
            &["deployments", "replicasets", "statefulsets"],
            WRITE,
        ),
        rule(&["batch"], &["jobs", "cronjobs"], WRITE),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["networking.k8s.io"], &["networkpolicies"], WRITE),
        rule(&["traefik.io"], &["ingressroutes", "middlewares"], WRITE),
        rule(&["cert-manager.io"], &["certificates"], WRITE),
        rule(&["external-secrets.io"], &["externalsecrets"], WRITE),
        rule(
            &["postgresql.cnpg.io"],
            &[
                "clusters",
                "scheduledbackups",
                "backups",
                "databases",
                "poolers",
            ],
            WRITE,
        ),
        rule(&["barmancloud.cnpg.io"], &["objectstores"], WRITE),
        rule(
            &["monitoring.coreos.com"],
            &["prometheusrules", "servicemonitors"],
            WRITE,
        ),
        rule(&[""], &["pods/log", "events"], READ),
    ];
    match role {
        AdminRole::PlatformOps => workloads.to_vec(),
        AdminRole::Dba => vec![
            rule(
                &["postgresql.cnpg.io"],
                &[
                    "clusters",
                    "scheduledbackups",
                    "backups",
                    "databases",
                    "poolers",
                ],
                WRITE,
            ),
            rule(&["barmancloud.cnpg.io"], &["objectstores"], READ),
            // Backup jobs: read them, and start one from its CronJob.
            rule(
                &["batch"],
                &["jobs", "cronjobs"],
                &["get", "list", "watch", "create"],
            ),
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "persistentvolumeclaims",
                    "services",
                    "events",
                ],
                READ,
            ),
            // `kubectl port-forward` to the PostgreSQL service for psql; no exec into pods.
            rule(&[""], &["pods/portforward"], &["create"]),
        ],
        AdminRole::SecurityReviewer => {
            let mut rules: Vec<PolicyRule> = workloads
                .iter()
                .map(|r| PolicyRule {
                    verbs: READ.iter().map(|s| (*s).to_string()).collect(),
                    ..r.clone()
                })
                .collect();
            rules.push(rule(
                &["rbac.authorization.k8s.io"],
                &["roles", "rolebindings"],
                READ,
            ));
            rules.push(rule(&[""], &["resourcequotas", "limitranges"], READ));
            rules
        }
        AdminRole::AppSupport => vec![
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "services",
                    "events",
                    "persistentvolumeclaims",
                ],
                READ,
            ),
            rule(&["apps"], &["deployments", "replicasets"], READ),
            rule(&["batch"], &["jobs", "cronjobs"], READ),
            rule(&["traefik.io"], &["ingressroutes"], READ),
        ],
    }
}

/// Identity-provider groups bound to `role` in a stack: teams that own a member workload,
/// and teams that own no workload at all (the platform's own teams).
fn groups_for(
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    s: &Stack<'_>,
    role: AdminRole,
) -> Vec<String> {
    let owners = owning_teams;
    let members: BTreeSet<&str> = s
        .members
        .iter()
        .map(|m| m.workload.spec.owner.value.as_str())
        .collect();
    let mut groups: BTreeSet<String> = BTreeSet::new();
    for team in &estate.teams {
        let name = team.name();
        if (members.contains(name) || !owners.contains(name))
            && let Some(g) = team.spec.groups.get(role.name())
        {
            groups.insert(g.value.clone());
        }
    }
    groups.into_iter().collect()
}

fn rbac(
    out: &mut Out<'_>,
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    for role in [
        AdminRole::PlatformOps,
        AdminRole::Dba,
        AdminRole::SecurityReviewer,
        AdminRole::AppSupport,
    ] {
        let name = format!("ward-{}", role.name());
        out.push(&Role {
            metadata: meta(&name, &s.namespace, common),
            rules: Some(role_rules(role)),
        })?;
        let groups = groups_for(estate, owning_teams, s, role);
        if groups.is_empty() {
            continue;
        }
        out.push(&RoleBinding {
            metadata: meta(&name, &s.namespace, common),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.clone(),
            },
            subjects: Some(
                groups
                    .into_iter()
                    .map(|g| Subject {
                        api_group: Some("rbac.authorization.k8s.io".into()),
                        kind: "Group".into(),
                        name: g,
                        ..Default::default()
                    })
                    .collect(),
            ),
        })?;
    }
    Ok(())
}

/// Where External Secrets fetches a secret reference from.
fn remote_ref(r: &ward_estate::model::SecretRef) -> RemoteRef {
    RemoteRef {
        key: r.key.value.clone(),
        property: r.property.as_ref().map(|p| p.value.clone()),
    }
}

/// A database role's password for CloudNativePG (and for Ward's jobs), as the
/// `kubernetes.io/basic-auth` Secret a managed role's `passwordSecret` names: the password
/// is the ExternalSecret's `db_password`.
fn basic_auth(username: &str) -> ExternalSecretTemplate {
    ExternalSecretTemplate {
        engine_version: "v2",
        secret_type: Some("kubernetes.io/basic-auth".into()),
        data: [
            ("username".to_string(), username.to_string()),
            ("password".to_string(), "{{ .db_password }}".to_string()),
        ]
        .into(),
    }
}

/// The basic-auth Secret of a tenant's own role on a shared stack.
fn tenant_credentials_secret(m: &Member<'_>) -> String {
    bounded_name(&format!("db-{}-credentials", m.slug()), 63)
}

/// The Secret holding the drill role's password on a stack's PostgreSQL cluster: the
/// managed role's `passwordSecret`, and the file the drill jobs read it from.
const DRILL_CREDENTIALS_SECRET: &str = "db-ward-drill-credentials";

/// The remote key of an environment's Odoo credentials and the property of each. The
/// database password is the environment's one resolved reference (`password_secret`),
/// the same `ward` reads at run time.
fn credential_refs(m: &Member<'_>) -> (String, Vec<ExternalSecretData>) {
    let pw = &m.env.database.password_secret;
    let base = format!("odoo/{}/{}", m.env.workload, m.env.environment);
    (
        pw.store.value.clone(),
        vec![
            ExternalSecretData {
                secret_key: "admin_passwd".into(),
                remote_ref: RemoteRef {
                    key: base,
                    property: Some("admin_passwd".into()),
                },
            },
            ExternalSecretData {
                secret_key: "db_password".into(),
                remote_ref: remote_ref(pw),
            },
        ],
    )
}

fn external_secret(
    ns: &str,
    name: &str,
    store: &str,
    settings: &Settings,
    template: Option<ExternalSecretTemplate>,
    data: Vec<ExternalSecretData>,
    common: &BTreeMap<String, String>,
) -> CustomResource<ExternalSecretSpec> {
    cr(
        "external-secrets.io/v1",
        "ExternalSecret",
        meta(name, ns, common),
        ExternalSecretSpec {
            refresh_interval: "1h".into(),
            secret_store_ref: SecretStoreRef {
                name: store.to_string(),
                kind: settings.store_kind(store),
            },
            target: ExternalSecretTarget {
                name: name.to_string(),
                creation_policy: "Owner",
                deletion_policy: "Retain",
                template,
            },
            data,
        },
    )
}

fn odoo_conf(s: &Stack<'_>, role: OdooRole, db_user: &str) -> String {
    let sizing = odoo::sizing(s.cpu_millicores, s.memory_bytes);
    let host = ward_estate::resolve::rw_service(&s.db_cluster);
    let db_name = if s.dedicated() {
        s.members.first().map(|m| m.database.as_str())
    } else {
        None
    };
    let dbfilter = s.dbfilter();
    let mut modules = vec!["base", "web"];
    if s.members.iter().any(|m| {
        m.workload
            .spec
            .odoo
            .modules
            .iter()
            .any(|x| x.value == "queue_job")
    }) {
        modules.push("queue_job");
    }
    odoo::conf(&odoo::ConfInput {
        role,
        sizing: &sizing,
        db_host: &host,
        db_port: 5432,
        db_user,
        db_name,
        dbfilter: &dbfilter,
        db_sslmode: "require",
        admin_passwd_ref: "{{ .admin_passwd }}",
        db_password_ref: "{{ .db_password }}",
        server_wide_modules: &modules,
    })
}

/// The PostgreSQL role the Odoo processes log in as.
fn odoo_db_user(s: &Stack<'_>) -> String {
    match (s.dedicated(), s.members.first()) {
        (true, Some(m)) => m.role.clone(),
        _ => "odoo".to_string(),
    }
}

fn secrets(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let user = odoo_db_user(s);
    // Odoo's configuration is a template: the Secret is assembled by External Secrets in
    // the cluster, so credentials never pass through Git.
    let (store, data) = match (s.dedicated(), s.members.first()) {
        (true, Some(m)) => credential_refs(m),
        _ => {
            let base = format!("odoo/shared/{}/{}", s.cluster, ns);
            (
                settings.default_secret_store.clone(),
                ["admin_passwd", "db_password"]
                    .iter()
                    .map(|k| ExternalSecretData {
                        secret_key: (*k).to_string(),
                        remote_ref: RemoteRef {
                            key: base.clone(),
                            property: Some((*k).to_string()),
                        },
                    })
                    .collect(),
            )
        }
    };
    let template = ExternalSecretTemplate {
        engine_version: "v2",
        secret_type: None,
        data: [
            (
                "odoo-web.conf".to_string(),
                odoo_conf(s, OdooRole::Web, &user),
            ),
            (
                "odoo-cron.conf".to_string(),
                odoo_conf(s, OdooRole::Cron, &user),
            ),
        ]
        .into(),
    };
    out.push(&external_secret(
        ns,
        "odoo-config",
        &store,
        settings,
        Some(template),
        data.clone(),
        common,
    ))?;
    // The database role's password for CloudNativePG, as a basic-auth Secret.
    let db_only: Vec<ExternalSecretData> = data
        .into_iter()
        .filter(|d| d.secret_key == "db_password")
        .collect();
    out.push(&external_secret(
        ns,
        "db-odoo-credentials",
        &store,
        settings,
        Some(basic_auth(&user)),
        db_only,
        common,
    ))?;
    if !s.dedicated() {
        let all_owners = out.owners.clone();
        for m in &s.members {
            // A tenant's own objects belong to its environment only.
            out.owners = vec![m.env.address()].into();
            let (store, data) = credential_refs(m);
            let db_only: Vec<ExternalSecretData> = data
                .into_iter()
                .filter(|d| d.secret_key == "db_password")
                .collect();
            let name = tenant_credentials_secret(m);
            out.push(&external_secret(
                ns,
                &name,
                &store,
                settings,
                Some(basic_auth(&m.role)),
                db_only,
                common,
            ))?;
        }
        out.owners = all_owners;
    }
    // The drill role's password: one role per PostgreSQL cluster, so one reference per
    // stack (every member resolves the same one, see `ward_estate::resolve::DrillAccess`).
    if let Some(m) = s.members.first() {
        let drill = &m.env.database.drill;
        out.push(&external_secret(
            ns,
            DRILL_CREDENTIALS_SECRET,
            &drill.password_secret.store.value,
            settings,
            Some(basic_auth(&drill.user)),
            vec![ExternalSecretData {
                secret_key: "db_password".into(),
                remote_ref: remote_ref(&drill.password_secret),
            }],
            common,
        ))?;
    }
    // Integration credentials, one key per integration, mounted read-only into Odoo.
    let mut by_store: BTreeMap<String, Vec<ExternalSecretData>> = BTreeMap::new();
    for m in &s.members {
        for i in &m.workload.spec.integrations {
            if let Some(r) = &i.credential_ref {
                let key = if s.dedicated() {
                    i.name.value.clone()
                } else {
                    format!("{}-{}", m.slug(), i.name.value)
                };
                by_store
                    .entry(r.store.value.clone())
                    .or_default()
                    .push(ExternalSecretData {
                        secret_key: key,
                        remote_ref: remote_ref(r),
                    });
            }
        }
    }
    for (i, (store, data)) in by_store.into_iter().enumerate() {
        let name = if i == 0 {
            "integration-credentials".to_string()
        } else {
            format!("integration-credentials-{store}")
        };
        out.push(&external_secret(
            ns, &name, &store, settings, None, data, common,
        ))?;
    }
    if let Some(r) = settings
        .archive_store
        .as_ref()
        .and_then(|a| a.credentials.as_ref())
    {
        out.push(&archive_credentials(ns, settings, r, common))?;
    }
    Ok(())
}

fn archive_credentials(
    ns: &str,
    settings: &Settings,
    r: &ward_estate::model::SecretRef,
    common: &BTreeMap<String, String>,
) -> CustomResource<ExternalSecretSpec> {
    let data = ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]
        .iter()
        .zip(["access_key_id", "secret_access_key"])
        .map(|(k, p)| ExternalSecretData {
            secret_key: (*k).to_string(),
            remote_ref: RemoteRef {
                key: r.key.value.clone(),
                property: Some(p.to_string()),
            },
        })
        .collect();
    external_secret(
        ns,
        "archive-credentials",
        &r.store.value,
        settings,
        None,
        data,
        common,
    )
}

fn odoo_container(s: &Stack<'_>, role: OdooRole, has_integrations: bool) -> Container {
    let b = budget(s);
    let (cpu, memory) = match role {
        OdooRole::Web => (cpu_quantity(b.web_cpu), quantity(b.web_memory)),
        OdooRole::Cron => (
            cpu_quantity((b.web_cpu / 2).max(500)),
            quantity((b.web_memory / 2).max(1 << 30)),
        ),
    };
    let probe = |period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/web/health".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Default::default()
    };
    let mut mounts = vec![
        VolumeMount {
            name: "config".into(),
            mount_path: "/etc/odoo".into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount {
            name: "filestore".into(),
            mount_path: odoo::DATA_DIR.into(),
            ..Default::default()
        },
        // Odoo writes temporary files (uploads, report rendering) under /tmp.
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        },
    ];
    if has_integrations {
        mounts.push(VolumeMount {
            name: "integrations".into(),
            mount_path: "/run/secrets/integrations".into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let mut env = Vec::new();
    if s.redis_sessions {
        env.push(EnvVar {
            name: "ODOO_SESSION_REDIS".into(),
            value: Some("1".into()),
            ..Default::default()
        });
        env.push(EnvVar {
            name: "ODOO_SESSION_REDIS_HOST".into(),
            value: Some("redis".into()),
            ..Default::default()
        });
    }
    if s.redis_queues {
        env.push(EnvVar {
            name: "ODOO_QUEUE_REDIS_URL".into(),
            value: Some("redis://redis:6379/1".into()),
            ..Default::default()
        });
    }
    Container {
        name: "odoo".into(),
        image: Some(s.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["odoo".into()]),
        args: Some(vec!["--config=/etc/odoo/odoo.conf".into()]),
        ports: Some(vec![
            ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(HTTP_PORT),
                protocol: Some("TCP".into()),
                ..Default::default()
            },
            ContainerPort {
                name: Some("websocket".into()),
                container_port: i32::from(WEBSOCKET_PORT),
                protocol: Some("TCP".into()),
                ..Default::default()
            },
        ]),
        env: (!env.is_empty()).then_some(env),
        readiness_probe: Some(probe(10, 3)),
        liveness_probe: Some(probe(20, 6)),
        startup_probe: Some(probe(10, 30)),
        resources: Some(resources(&cpu, &memory)),
        security_context: Some(restricted_container(true)),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

fn odoo_workloads(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let has_integrations = s.members.iter().any(|m| {
        m.workload
            .spec
            .integrations
            .iter()
            .any(|i| i.credential_ref.is_some())
    });
    let zones_spread = s.tier == 1 || s.posture.min_zones > 1;
    for role in [OdooRole::Web, OdooRole::Cron] {
        let component = match role {
            OdooRole::Web => WEB,
            OdooRole::Cron => CRON,
        };
        let name = format!("odoo-{}", component.1);
        let pod_labels = labels(&[ODOO_POD, component, ("app.kubernetes.io/instance", ns)]);
        let mut volumes = vec![
            secret_file_volume(
                "config",
                "odoo-config",
                &format!("odoo-{}.conf", component.1),
                "odoo.conf",
                0o440,
            ),
            claim_volume("filestore", "odoo-filestore", false),
            empty_dir_volume("tmp", q("1Gi")),
        ];
        if has_integrations {
            volumes.push(Volume {
                name: "integrations".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some("integration-credentials".into()),
                    default_mode: Some(0o440),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let web = role == OdooRole::Web;
        let spread = (web && zones_spread).then(|| {
            vec![
                TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: "topology.kubernetes.io/zone".into(),
                    when_unsatisfiable: "DoNotSchedule".into(),
                    label_selector: Some(selector(&[
                        ODOO_POD,
                        component,
                        ("app.kubernetes.io/instance", ns),
                    ])),
                    ..Default::default()
                },
                TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: "kubernetes.io/hostname".into(),
                    when_unsatisfiable: "ScheduleAnyway".into(),
                    label_selector: Some(selector(&[
                        ODOO_POD,
                        component,
                        ("app.kubernetes.io/instance", ns),
                    ])),
                    ..Default::default()
                },
            ]
        });
        let replicas = if web { s.replicas } else { 1 };
        let strategy = if web {
            DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }
        } else {
            // Never two cron runners at once during a rollout.
            DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }
        };
        let mut deployment_labels = common.clone();
        deployment_labels.extend(pod_labels.clone());
        out.push(&Deployment {
            metadata: meta(&name, ns, &deployment_labels),
            spec: Some(DeploymentSpec {
                // The HPA owns the replica count of a tier-1 web deployment.
                replicas: Some(i32::try_from(replicas).unwrap_or(1)),
                revision_history_limit: Some(5),
                selector: selector(&[ODOO_POD, component, ("app.kubernetes.io/instance", ns)]),
                strategy: Some(strategy),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        service_account_name: Some("odoo".into()),
                        automount_service_account_token: Some(false),
                        enable_service_links: Some(false),
                        security_context: Some(restricted_pod(ODOO_UID)),
                        containers: vec![odoo_container(s, role, has_integrations)],
                        volumes: Some(volumes),
                        topology_spread_constraints: spread,
                        termination_grace_period_seconds: Some(if web { 60 } else { 300 }),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }
    for (name, port_name, port) in [
        ("odoo-http", "http", HTTP_PORT),
        ("odoo-websocket", "websocket", WEBSOCKET_PORT),
    ] {
        out.push(&Service {
            metadata: meta(name, ns, common),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(labels(&[ODOO_POD, WEB, ("app.kubernetes.io/instance", ns)])),
                ports: Some(vec![ServicePort {
                    name: Some(port_name.into()),
                    port: i32::from(port),
                    target_port: Some(IntOrString::String(port_name.into())),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }
    out.push(&PersistentVolumeClaim {
        metadata: meta("odoo-filestore", ns, common),
        spec: Some(PersistentVolumeClaimSpec {
            // Web replicas and the cron pod share the filestore.
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: settings.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), q(quantity(s.filestore_bytes)))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    if s.tier == 1 {
        out.push(&PodDisruptionBudget {
            metadata: meta("odoo-web", ns, common),
            spec: Some(PodDisruptionBudgetSpec {
                min_available: Some(IntOrString::Int(
                    i32::try_from(s.replicas.saturating_sub(1).max(1)).unwrap_or(1),
                )),
                selector: Some(selector(&[
                    ODOO_POD,
                    WEB,
                    ("app.kubernetes.io/instance", ns),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        })?;
        out.push(&HorizontalPodAutoscaler {
            metadata: meta("odoo-web", ns, common),
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: "Deployment".into(),
                    name: "odoo-web".into(),
                },
                min_replicas: Some(i32::try_from(s.replicas).unwrap_or(2)),
                max_replicas: i32::try_from(budget(s).max_web).unwrap_or(4),
                metrics: Some(vec![MetricSpec {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".into(),
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(70),
                            ..Default::default()
                        },
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }
    Ok(())
}

fn ingress(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let mw = |name: &str, spec: MiddlewareSpec| {
        cr(
            "traefik.io/v1alpha1",
            "Middleware",
            meta(name, ns, common),
            spec,
        )
    };
    out.push(&mw(
        "security-headers",
        MiddlewareSpec {
            headers: Some(HeadersMiddleware {
                sts_seconds: 63_072_000,
                sts_include_subdomains: true,
                sts_preload: true,
                force_sts_header: true,
                frame_deny: true,
                content_type_nosniff: true,
                referrer_policy: "strict-origin-when-cross-origin".into(),
                permissions_policy: "camera=(), microphone=(), geolocation=()".into(),
                custom_response_headers: labels(&[
                    ("X-Robots-Tag", "noindex, nofollow"),
                    ("Server", ""),
                ]),
            }),
            ..Default::default()
        },
    ))?;
    out.push(&mw(
        "body-limit",
        MiddlewareSpec {
            // Attachments up to 100 MiB; larger uploads are refused at the edge.
            buffering: Some(BufferingMiddleware {
                max_request_body_bytes: 100 << 20,
            }),
            ..Default::default()
        },
    ))?;
    let mut chain = vec![
        LocalRef {
            name: "security-headers".into(),
        },
        LocalRef {
            name: "body-limit".into(),
        },
    ];
    if s.tier == 1 {
        out.push(&mw(
            "rate-limit",
            MiddlewareSpec {
                rate_limit: Some(RateLimitMiddleware {
                    average: 100,
                    burst: 200,
                    period: "1s".into(),
                }),
                ..Default::default()
            },
        ))?;
        chain.push(LocalRef {
            name: "rate-limit".into(),
        });
    }
    let all_owners = out.owners.clone();
    for m in &s.members {
        // A tenant's own objects belong to its environment only.
        out.owners = vec![m.env.address()].into();
        if m.spec.hosts.is_empty() {
            continue;
        }
        let name = if s.dedicated() {
            "odoo".to_string()
        } else {
            bounded_name(&m.slug(), 63)
        };
        let hosts: Vec<String> = m
            .spec
            .hosts
            .iter()
            .map(|h| format!("Host(`{}`)", h.value))
            .collect();
        let host_rule = hosts.join(" || ");
        let tls_secret = bounded_name(&format!("{name}-tls"), 63);
        out.push(&cr(
            "traefik.io/v1alpha1",
            "IngressRoute",
            meta(&name, ns, common),
            IngressRouteSpec {
                entry_points: vec![settings.entry_point.clone()],
                routes: vec![
                    TraefikRoute {
                        kind: "Rule",
                        rule: format!("({host_rule}) && PathPrefix(`/websocket`)"),
                        priority: 100,
                        middlewares: chain.clone(),
                        services: vec![TraefikService {
                            name: "odoo-websocket".into(),
                            port: u32::from(WEBSOCKET_PORT),
                        }],
                    },
                    TraefikRoute {
                        kind: "Rule",
                        rule: host_rule.clone(),
                        priority: 10,
                        middlewares: chain.clone(),
                        services: vec![TraefikService {
                            name: "odoo-http".into(),
                            port: u32::from(HTTP_PORT),
                        }],
                    },
                ],
                tls: TraefikTls {
                    secret_name: tls_secret.clone(),
                },
            },
        ))?;
        out.push(&cr(
            "cert-manager.io/v1",
            "Certificate",
            meta(&name, ns, common),
            CertificateSpec {
                secret_name: tls_secret,
                dns_names: m.spec.hosts.iter().map(|h| h.value.clone()).collect(),
                issuer_ref: IssuerRef {
                    name: settings.cluster_issuer.clone(),
                    kind: "ClusterIssuer",
                    group: "cert-manager.io",
                },
                private_key: PrivateKey {
                    algorithm: "ECDSA",
                    size: 256,
                    rotation_policy: "Always",
                },
                duration: "2160h".into(),
                renew_before: "720h".into(),
            },
        ))?;
    }
    out.owners = all_owners;
    Ok(())
}

fn archive_path(settings: &Settings, cluster: &str, ns: &str) -> (String, Option<String>) {
    match &settings.archive_store {
        Some(store) => {
            let bucket = store
                .bucket
                .as_ref()
                .map_or("ward-archive", |b| b.value.as_str());
            let prefix = store
                .prefix
                .as_ref()
                .map_or(String::new(), |p| format!("{}/", p.value.trim_matches('/')));
            (
                format!("s3://{bucket}/{prefix}{cluster}/{ns}"),
                store.endpoint.as_ref().map(|e| e.value.clone()),
            )
        }
        None => (format!("s3://ward-archive/{cluster}/{ns}"), None),
    }
}

fn object_store(
    settings: &Settings,
    s: &Stack<'_>,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> CustomResource<ObjectStoreSpec> {
    let (destination_path, endpoint_url) = archive_path(settings, &s.cluster, ns);
    let r = s.posture.retention;
    let days = r.daily.max(r.weekly * 7).max(r.monthly * 30).max(1);
    cr(
        "barmancloud.cnpg.io/v1",
        "ObjectStore",
        meta("archive", ns, common),
        ObjectStoreSpec {
            configuration: BarmanConfiguration {
                destination_path,
                endpoint_url,
                s3_credentials: S3Credentials {
                    access_key_id: SecretKeyRef {
                        name: "archive-credentials".into(),
                        key: "ACCESS_KEY_ID".into(),
                    },
                    secret_access_key: SecretKeyRef {
                        name: "archive-credentials".into(),
                        key: "ACCESS_SECRET_KEY".into(),
                    },
                    region: None,
                },
                wal: BarmanCompression {
                    compression: "gzip",
                },
                data: BarmanCompression {
                    compression: "gzip",
                },
            },
            retention_policy: format!("{days}d"),
        },
    )
}

fn barman_plugin(archiver: bool, server_name: Option<&str>) -> PgPlugin {
    let mut parameters = BTreeMap::from([("barmanObjectName".to_string(), "archive".to_string())]);
    if let Some(n) = server_name {
        parameters.insert("serverName".into(), n.to_string());
    }
    PgPlugin {
        name: BARMAN_PLUGIN.into(),
        is_wal_archiver: archiver.then_some(true),
        parameters,
    }
}

fn pg_resources(s: &Stack<'_>) -> ResourceRequirements {
    let b = budget(s);
    resources(&cpu_quantity(b.pg_cpu), &quantity(b.pg_memory))
}

fn pg_parameters(s: &Stack<'_>) -> BTreeMap<String, String> {
    let mem = budget(s).pg_memory;
    BTreeMap::from([
        ("max_connections".to_string(), "200".to_string()),
        ("shared_buffers".to_string(), quantity_pg(mem / 4)),
        ("effective_cache_size".to_string(), quantity_pg(mem / 4 * 3)),
        ("log_min_duration_statement".to_string(), "1000".to_string()),
        (
            "password_encryption".to_string(),
            "scram-sha-256".to_string(),
        ),
    ])
}

/// PostgreSQL memory settings in whole MB.
fn quantity_pg(bytes: u64) -> String {
    format!("{}MB", (bytes >> 20).max(128))
}

/// The managed role restore drills log in as: it may create databases (its scratch
/// copies, which it then owns and drops) and nothing else. No superuser, no role creation,
/// no replication or RLS bypass (CloudNativePG's defaults), a member of no role.
/// `inherit` stays on: since PostgreSQL 15 a database's `public` schema belongs to
/// `pg_database_owner`, which the owner of a scratch database is a member of only
/// implicitly; without inheriting, the restore cannot create tables there (shown by
/// `ward-cli`'s drill test). Being a member of nothing else, it inherits nothing else.
fn drill_role(drill: &ward_estate::DrillAccess) -> PgRole {
    PgRole {
        name: drill.user.clone(),
        ensure: "present",
        login: true,
        inherit: true,
        superuser: false,
        createdb: true,
        createrole: false,
        in_roles: Vec::new(),
        password_secret: Some(LocalRef {
            name: DRILL_CREDENTIALS_SECRET.into(),
        }),
        comment: Some("Ward's restore drills: scratch databases ward_drill_<hex> only".into()),
    }
}

/// The PostgreSQL major of CloudNativePG's default image, used when the platform sets no
/// `rendering.postgresImage`: the CRDs Ward renders against (`tests/crds/`) are
/// CloudNativePG 1.27's, whose default image is PostgreSQL 17 (18 from 1.27.2).
const CNPG_DEFAULT_POSTGRES_MAJOR: u32 = 17;

/// The first PostgreSQL major whose pg_hba reads a database name starting with `/` as a
/// regular expression; before it, the same text is a literal (and never matching) name.
const PG_HBA_REGEX_MAJOR: u32 = 16;

/// The PostgreSQL major the stack's clusters run, read as CloudNativePG reads it: from the
/// image tag, which starts with the major (`…/postgresql:16.4-bookworm@sha256:…`). `None`
/// when the image is pinned by digest alone, so its major cannot be known here.
fn postgres_major(image: Option<&str>) -> Option<u32> {
    let Some(image) = image else {
        return Some(CNPG_DEFAULT_POSTGRES_MAJOR);
    };
    let name = image.split('@').next().unwrap_or_default();
    // A tag is what follows the last `:` after the last `/` (a registry may have a port).
    let last = name.rsplit('/').next().unwrap_or_default();
    let (_, tag) = last.split_once(':')?;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// pg_hba lines for the drill role: it reaches the maintenance database, to create and
/// drop its scratch databases, and those scratch databases, and nothing else.
///
/// On PostgreSQL 16 and later that is an allow-list: the scratch names as a regular
/// expression, then a reject of everything else. PostgreSQL 15 and earlier (and an image
/// whose major cannot be read) have no pattern in pg_hba and cannot list random names,
/// so there the role is rejected on every database the stack's environments own and on
/// `template1`, and may connect elsewhere: to databases that do not exist but for its own
/// scratch copies (a database created outside Ward would be reachable, with only what
/// PUBLIC is granted there).
///
/// The lines that admit are `hostssl`, like the tenants': Ward's connections negotiate TLS
/// as libpq does (`sslmode=prefer`), so a drill arrives encrypted. The lines that reject
/// are `host`, which matches with and without TLS; the PostgreSQL 15 form ends with such a
/// reject too, so that a login without TLS never falls through to CloudNativePG's own
/// final `host all all all` line.
fn drill_hba(
    drill: &ward_estate::DrillAccess,
    major: Option<u32>,
    tenant_databases: &[&str],
) -> Vec<String> {
    let user = &drill.user;
    let mut lines = vec![format!(
        "hostssl \"{}\" \"{user}\" all scram-sha-256",
        drill.database
    )];
    if major.is_some_and(|m| m >= PG_HBA_REGEX_MAJOR) {
        // Unquoted, as PostgreSQL's documentation writes patterns; it has no comma or
        // space, which would split the field.
        lines.push(format!(
            "hostssl /^{DRILL_DATABASE_PREFIX}[0-9a-f]{{{DRILL_DATABASE_HEX_DIGITS}}}$ \"{user}\" all scram-sha-256"
        ));
    } else {
        for database in std::iter::once("template1").chain(tenant_databases.iter().copied()) {
            lines.push(format!("host \"{database}\" \"{user}\" all reject"));
        }
        lines.push(format!("hostssl all \"{user}\" all scram-sha-256"));
    }
    lines.push(format!("host all \"{user}\" all reject"));
    lines
}

fn postgres(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    out.push(&object_store(settings, s, ns, common))?;
    let p = &s.posture;
    let mut config = PgConfig {
        parameters: pg_parameters(s),
        pg_hba: Vec::new(),
        synchronous: p.synchronous_replication.then_some(PgSynchronous {
            method: "any",
            number: 1,
            data_durability: "required",
        }),
    };
    let drill_role = s.members.first().map(|m| drill_role(&m.env.database.drill));
    let (bootstrap, managed) = if s.dedicated() {
        let m = s.members.first();
        (
            m.map(|m| PgBootstrap {
                initdb: Some(PgInitdb {
                    database: m.database.clone(),
                    owner: m.role.clone(),
                    secret: LocalRef {
                        name: "db-odoo-credentials".into(),
                    },
                    data_checksums: true,
                }),
                recovery: None,
            }),
            drill_role.map(|role| PgManaged { roles: vec![role] }),
        )
    } else {
        // One role per tenant, owning its database; pg_hba lets each role reach only its
        // own database. The shared Odoo role is a member of every tenant role (Odoo holds
        // one connection identity): see docs/hosting-models.md.
        let mut roles = vec![PgRole {
            name: "odoo".into(),
            ensure: "present",
            login: true,
            inherit: true,
            superuser: false,
            createdb: false,
            createrole: false,
            in_roles: s.members.iter().map(|m| m.role.clone()).collect(),
            password_secret: Some(LocalRef {
                name: "db-odoo-credentials".into(),
            }),
            comment: Some("the shared Odoo deployment".into()),
        }];
        for m in &s.members {
            roles.push(PgRole {
                name: m.role.clone(),
                ensure: "present",
                login: true,
                inherit: true,
                superuser: false,
                createdb: false,
                createrole: false,
                in_roles: Vec::new(),
                password_secret: Some(LocalRef {
                    name: tenant_credentials_secret(m),
                }),
                comment: Some(format!("tenant {} ({})", m.env.tenant, m.env.address())),
            });
            config.pg_hba.push(format!(
                "hostssl \"{}\" \"{}\" all scram-sha-256",
                m.database, m.role
            ));
        }
        for m in &s.members {
            config
                .pg_hba
                .push(format!("host all \"{}\" all reject", m.role));
        }
        roles.extend(drill_role);
        (None, Some(PgManaged { roles }))
    };
    // The drill role's lines come after the tenants': pg_hba is first-match, but no line
    // above names `ward-drill`, so the order between the two groups changes nothing;
    // within the drill's own lines the allows precede its final reject.
    if let Some(m) = s.members.first() {
        let databases: Vec<&str> = s.members.iter().map(|m| m.database.as_str()).collect();
        config.pg_hba.extend(drill_hba(
            &m.env.database.drill,
            postgres_major(settings.postgres_image.as_deref()),
            &databases,
        ));
    }
    let zones = p.min_zones > 1;
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "Cluster",
        meta(&s.db_cluster, ns, common),
        PgClusterSpec {
            instances: p.postgres_instances.max(1),
            image_name: settings.postgres_image.clone(),
            description: Some(format!("PostgreSQL for {}", s.addresses().join(", "))),
            enable_superuser_access: false,
            postgresql: config,
            storage: PgStorage {
                size: quantity(s.database_bytes),
                storage_class: settings.storage_class.clone(),
            },
            bootstrap,
            plugins: vec![barman_plugin(true, None)],
            replica: None,
            external_clusters: Vec::new(),
            managed,
            affinity: Some(PgAffinity {
                topology_key: if zones {
                    "topology.kubernetes.io/zone"
                } else {
                    "kubernetes.io/hostname"
                }
                .into(),
                enable_pod_anti_affinity: true,
                pod_anti_affinity_type: if zones { "required" } else { "preferred" },
            }),
            resources: Some(pg_resources(s)),
        },
    ))?;
    if !s.dedicated() {
        let all_owners = out.owners.clone();
        for m in &s.members {
            // A tenant's own objects belong to its environment only.
            out.owners = vec![m.env.address()].into();
            out.push(&cr(
                "postgresql.cnpg.io/v1",
                "Database",
                meta(&bounded_name(&m.slug(), 63), ns, common),
                PgDatabaseSpec {
                    name: m.database.clone(),
                    owner: m.role.clone(),
                    cluster: LocalRef {
                        name: s.db_cluster.clone(),
                    },
                    ensure: "present",
                },
            ))?;
        }
        out.owners = all_owners;
    }
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "ScheduledBackup",
        meta(&s.db_cluster, ns, common),
        ScheduledBackupSpec {
            schedule: schedule::every_with_seconds(p.backup_interval, ns),
            cluster: LocalRef {
                name: s.db_cluster.clone(),
            },
            method: "plugin",
            plugin_configuration: PluginConfiguration {
                name: BARMAN_PLUGIN.into(),
            },
            backup_owner_reference: "self",
            immediate: true,
        },
    ))?;
    // A Service for the instances' metrics exporter, for the ServiceMonitor.
    out.push(&Service {
        metadata: meta(&format!("{}-metrics", s.db_cluster), ns, common),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels(&[("cnpg.io/cluster", s.db_cluster.as_str())])),
            ports: Some(vec![ServicePort {
                name: Some("metrics".into()),
                port: 9187,
                target_port: Some(IntOrString::Int(9187)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    Ok(())
}

fn replica_cluster(
    objects: &mut dyn FnMut(Object),
    settings: &Settings,
    s: &Stack<'_>,
    recovery: &str,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let mut out = Out {
        cluster: recovery.to_string(),
        folder: ns.to_string(),
        owners: s.addresses().into(),
        tier: s.tier,
        stage: s.stage,
        objects,
    };
    let common = labels(&[("ward.dev/stack", ns), ("ward.dev/role", "recovery")]);
    let mut ns_labels = labels(&[
        ("ward.dev/tenant", s.tenant.as_str()),
        ("ward.dev/stage", s.stage.name()),
        ("ward.dev/data-class", s.data_class.as_str()),
        ("pod-security.kubernetes.io/enforce", "restricted"),
        ("pod-security.kubernetes.io/enforce-version", "latest"),
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
    let pg = ("cnpg.io/cluster", s.db_cluster.as_str());
    out.push(&NetworkPolicy {
        metadata: meta("default-deny", ns, &common),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..Default::default()
        }),
    })?;
    out.push(&NetworkPolicy {
        metadata: meta("allow-postgres", ns, &common),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&[pg])),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![pods(&[pg]), namespace_peer(CNPG_NAMESPACE)]),
                ports: Some(vec![tcp(5432), tcp(8000)]),
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![pods(&[pg])]),
                    ports: Some(vec![tcp(5432), tcp(8000)]),
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(selector(&[(
                            "kubernetes.io/metadata.name",
                            "kube-system",
                        )])),
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
                },
                NetworkPolicyEgressRule {
                    to: None,
                    ports: Some(vec![tcp(443), tcp(6443)]),
                },
            ]),
        }),
    })?;
    if let Some(r) = settings
        .archive_store
        .as_ref()
        .and_then(|a| a.credentials.as_ref())
    {
        out.push(&archive_credentials(ns, settings, r, &common))?;
    }
    // The replica reads the primary's archive: same path, the primary's server name.
    let mut store = object_store(settings, s, ns, &common);
    let (path, _) = archive_path(settings, &s.cluster, ns);
    store.spec.configuration.destination_path = path;
    out.push(&store)?;
    let source = format!("{}-primary", s.db_cluster);
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "Cluster",
        meta(&s.db_cluster, ns, &common),
        PgClusterSpec {
            instances: s.posture.postgres_instances.clamp(1, 2),
            image_name: settings.postgres_image.clone(),
            description: Some(format!(
                "Standby of {}/{} in the recovery region",
                s.cluster, s.db_cluster
            )),
            enable_superuser_access: false,
            postgresql: PgConfig {
                parameters: pg_parameters(s),
                ..Default::default()
            },
            storage: PgStorage {
                size: quantity(s.database_bytes),
                storage_class: settings.storage_class.clone(),
            },
            bootstrap: Some(PgBootstrap {
                initdb: None,
                recovery: Some(PgRecovery {
                    source: source.clone(),
                }),
            }),
            plugins: Vec::new(),
            replica: Some(PgReplica {
                enabled: true,
                source: source.clone(),
            }),
            external_clusters: vec![PgExternalCluster {
                name: source,
                plugin: barman_plugin(false, Some(&s.db_cluster)),
            }],
            managed: None,
            affinity: None,
            resources: Some(pg_resources(s)),
        },
    ))?;
    Ok(())
}

fn redis(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let pod_labels = labels(&[REDIS_POD, ("app.kubernetes.io/instance", ns)]);
    let mut dl = common.clone();
    dl.extend(pod_labels.clone());
    // Sessions can be lost (users log in again); queues are kept on disk.
    let args: Vec<String> = if s.redis_queues {
        vec![
            "--appendonly".into(),
            "yes".into(),
            "--dir".into(),
            "/data".into(),
        ]
    } else {
        vec![
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ]
    };
    out.push(&Deployment {
        metadata: meta("redis", ns, &dl),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: selector(&[REDIS_POD, ("app.kubernetes.io/instance", ns)]),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(restricted_pod(999)),
                    containers: vec![Container {
                        name: "redis".into(),
                        image: Some(settings.redis_image.clone()),
                        args: Some(args),
                        ports: Some(vec![ContainerPort {
                            name: Some("redis".into()),
                            container_port: 6379,
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        }]),
                        readiness_probe: Some(Probe {
                            tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
                                port: IntOrString::String("redis".into()),
                                ..Default::default()
                            }),
                            period_seconds: Some(10),
                            ..Default::default()
                        }),
                        resources: Some(resources("250m", "256Mi")),
                        security_context: Some(restricted_container(true)),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "data".into(),
                            mount_path: "/data".into(),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "data".into(),
                        empty_dir: (!s.redis_queues).then(EmptyDirVolumeSource::default),
                        persistent_volume_claim: s.redis_queues.then(|| {
                            PersistentVolumeClaimVolumeSource {
                                claim_name: "redis-data".into(),
                                ..Default::default()
                            }
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })?;
    if s.redis_queues {
        out.push(&PersistentVolumeClaim {
            metadata: meta("redis-data", ns, common),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: settings.storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some([("storage".to_string(), q("2Gi"))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }
    out.push(&Service {
        metadata: meta("redis", ns, common),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels(&[REDIS_POD, ("app.kubernetes.io/instance", ns)])),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: 6379,
                target_port: Some(IntOrString::String("redis".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    Ok(())
}

/// Where Ward's jobs find what `ward` reads: the estate (a fresh clone), the state folder
/// (ledger, lease, cached tenant keys), the secrets folder (`<store>/<key>[/<property>]`,
/// the layout `ward` resolves secret references in) and the drill's identity.
const JOB_ESTATE: &str = "/estate";
/// Where the clone step mounts the estate volume. It clones into a folder of it, which git
/// creates as the job's user, because git refuses a repository whose top folder another
/// user owns (an `emptyDir`'s root belongs to root); `ward` mounts that folder as
/// `JOB_ESTATE`.
const JOB_CLONE: &str = "/clone";
const CLONE_FOLDER: &str = "estate";
const JOB_STATE: &str = "/var/lib/ward";
const JOB_SECRETS: &str = "/var/run/ward/secrets";
const JOB_GIT: &str = "/var/run/ward/git";
const JOB_IDENTITY: &str = "/var/run/ward/identity";
const JOB_IDENTITY_FILE: &str = "key.txt";
/// The ward image's non-root user.
const WARD_UID: i64 = 65_532;
/// The state folder holds a ledger, a lease and a few keys; backups go to object storage.
const WARD_STATE_BYTES: u64 = 1 << 30;
/// Secret files only the job's user (through the pod's fsGroup) may read.
const SECRET_MODE: i32 = 0o400;

/// The ExternalSecret name of an object store's credentials for Ward's jobs.
fn store_secret_name(store: &str) -> String {
    bounded_name(&format!("ward-objectstore-{store}"), 63)
}

const ESTATE_GIT_SECRET: &str = "ward-estate-git";
const DRILL_IDENTITY_SECRET: &str = "ward-drill-identity";

/// Git's configuration for cloning the estate with a token: an `Authorization` header
/// sent only to the estate's repository URL. External Secrets fills in `<user>:<token>`
/// in the cluster, so the token never passes through the deploy tree.
fn estate_git_config(repository: &str) -> String {
    let scope = repository.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "[http \"{scope}\"]\n    extraHeader = Authorization: Basic {{{{ .credentials | b64enc }}}}\n"
    )
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn empty_dir_volume(name: &str, size_limit: Quantity) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(size_limit),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn claim_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.to_string(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: read_only.then_some(true),
        }),
        ..Default::default()
    }
}

/// A volume holding one key of a Secret as one file.
fn secret_file_volume(name: &str, secret: &str, key: &str, path: &str, mode: i32) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            items: Some(vec![KeyToPath {
                key: key.to_string(),
                path: path.to_string(),
                ..Default::default()
            }]),
            default_mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// The secrets one job of an environment reads, as projections of the Secrets that hold
/// them, each at the file of the secrets folder its reference names: the password it logs
/// in to PostgreSQL with (a backup: the environment's role's, which the ExternalSecret for
/// that role already fetches; a drill: the drill role's, and not the environment's, which
/// it does not use) and, for an S3 backup store, that store's keys.
fn job_secret_items(
    settings: &Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
    job: WardJob,
) -> Vec<SecretProjection> {
    let mut by_secret: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let (credentials, pw) = match job {
        WardJob::Backup if s.dedicated() => (
            "db-odoo-credentials".to_string(),
            &m.env.database.password_secret,
        ),
        WardJob::Backup => (
            tenant_credentials_secret(m),
            &m.env.database.password_secret,
        ),
        WardJob::Drill => (
            DRILL_CREDENTIALS_SECRET.to_string(),
            &m.env.database.drill.password_secret,
        ),
    };
    by_secret
        .entry(credentials)
        .or_default()
        .insert(pw.file(), "password".into());
    if let Some((name, r)) = job_store_credentials(settings, m) {
        // The key pair's two values are files of the key's folder (`property` is not used).
        let keys = ward_estate::model::SecretRef {
            property: None,
            ..r.clone()
        };
        for part in S3_PARTS {
            let file = format!("{}/{part}", keys.file());
            by_secret
                .entry(store_secret_name(&name))
                .or_default()
                .insert(file, part.to_string());
        }
    }
    by_secret
        .into_iter()
        .map(|(name, items)| SecretProjection {
            name,
            items: Some(
                items
                    .into_iter()
                    .map(|(path, key)| KeyToPath {
                        key,
                        path,
                        ..Default::default()
                    })
                    .collect(),
            ),
            optional: None,
        })
        .collect()
}

/// The two files `ward` reads S3 credentials from, under `<store>/<key>/`.
const S3_PARTS: [&str; 2] = ["access_key_id", "secret_access_key"];

/// The environment's backup store, when it is S3 with credentials: its name and the
/// reference to its keys.
fn job_store_credentials<'s>(
    settings: &'s Settings,
    m: &Member<'_>,
) -> Option<(String, &'s ward_estate::model::SecretRef)> {
    let store = settings.object_stores.get(&m.env.object_store)?;
    if store.kind.value != ward_estate::model::StoreKind::S3 {
        return None;
    }
    store
        .credentials
        .as_ref()
        .map(|r| (store.name.value.clone(), r))
}

/// The ExternalSecrets and the state volume Ward's jobs share within a namespace.
fn ward_job_support(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let all_owners = out.owners.clone();
    // One ExternalSecret per S3 backup store the namespace's environments use, owned by
    // those environments.
    let mut stores: BTreeMap<String, (&ward_estate::model::SecretRef, Vec<String>)> =
        BTreeMap::new();
    for m in &s.members {
        if let Some((name, r)) = job_store_credentials(settings, m) {
            stores
                .entry(name)
                .or_insert_with(|| (r, Vec::new()))
                .1
                .push(m.env.address());
        }
    }
    for (name, (r, owners)) in stores {
        out.owners = owners.into();
        let data = S3_PARTS
            .iter()
            .map(|part| ExternalSecretData {
                secret_key: (*part).to_string(),
                remote_ref: RemoteRef {
                    key: r.key.value.clone(),
                    property: Some((*part).to_string()),
                },
            })
            .collect();
        out.push(&external_secret(
            ns,
            &store_secret_name(&name),
            &r.store.value,
            settings,
            None,
            data,
            common,
        ))?;
    }
    out.owners = all_owners;
    if let Some(r) = &settings.estate_credentials {
        let template = ExternalSecretTemplate {
            engine_version: "v2",
            secret_type: None,
            data: [(
                "gitconfig".to_string(),
                estate_git_config(&settings.estate_repository),
            )]
            .into(),
        };
        out.push(&external_secret(
            ns,
            ESTATE_GIT_SECRET,
            &r.store.value,
            settings,
            Some(template),
            vec![ExternalSecretData {
                secret_key: "credentials".into(),
                remote_ref: remote_ref(r),
            }],
            common,
        ))?;
    }
    if let Some(r) = &settings.drill_identity {
        out.push(&external_secret(
            ns,
            DRILL_IDENTITY_SECRET,
            &r.store.value,
            settings,
            None,
            vec![ExternalSecretData {
                secret_key: "identity".into(),
                remote_ref: remote_ref(r),
            }],
            common,
        ))?;
    }
    out.push(&PersistentVolumeClaim {
        metadata: meta("ward-state", ns, common),
        spec: Some(PersistentVolumeClaimSpec {
            // ReadWriteMany: a backup and a drill (and, in a shared namespace, other
            // tenants' jobs) may run at once on different nodes; the ledger's file lock and
            // the vault's lease order what must not overlap. The storage class already
            // offers it for the filestore.
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: settings.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), q(quantity(WARD_STATE_BYTES)))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    Ok(())
}

/// What differs between the two jobs of an environment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WardJob {
    Backup,
    Drill,
}

impl WardJob {
    fn name(self) -> &'static str {
        match self {
            WardJob::Backup => "backup",
            WardJob::Drill => "drill",
        }
    }
}

/// The pod of one of Ward's jobs: an init container clones the estate, then `ward` runs
/// with the estate, its state, its secrets folder and (backup) the filestore or (drill)
/// the identity mounted.
fn ward_job_pod(
    settings: &Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
    job: WardJob,
    args: Vec<String>,
    actor: String,
) -> PodSpec {
    let mut volumes = vec![
        empty_dir_volume("estate", q("1Gi")),
        claim_volume("state", "ward-state", false),
        Volume {
            name: "secrets".into(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(SECRET_MODE),
                sources: Some(
                    job_secret_items(settings, s, m, job)
                        .into_iter()
                        .map(|secret| VolumeProjection {
                            secret: Some(secret),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        },
        // A drill restores the filestore into its temporary folder: bounded by the
        // environment's declared filestore, so a drill cannot fill the node's disk.
        empty_dir_volume(
            "tmp",
            q(quantity(match job {
                WardJob::Backup => 1 << 30,
                WardJob::Drill => m.spec.size.filestore.value.bytes + (1 << 30),
            })),
        ),
    ];
    // git writes nothing outside the clone, but reads `$HOME`; the root is read-only.
    let mut clone_env = vec![env("HOME", "/tmp"), env("GIT_TERMINAL_PROMPT", "0")];
    let mut clone_mounts = vec![
        mount("estate", JOB_CLONE, false),
        mount("tmp", "/tmp", false),
    ];
    if settings.estate_credentials.is_some() {
        volumes.push(secret_file_volume(
            "estate-git",
            ESTATE_GIT_SECRET,
            "gitconfig",
            "gitconfig",
            SECRET_MODE,
        ));
        clone_mounts.push(mount("estate-git", JOB_GIT, true));
        clone_env.push(env("GIT_CONFIG_GLOBAL", format!("{JOB_GIT}/gitconfig")));
    }
    let clone = Container {
        name: "estate".into(),
        image: Some(settings.ward_image.clone()),
        command: Some(vec!["git".into()]),
        args: Some(vec![
            "clone".into(),
            "--quiet".into(),
            "--depth=1".into(),
            "--single-branch".into(),
            format!("--branch={}", settings.estate_revision),
            "--".into(),
            settings.estate_repository.clone(),
            format!("{JOB_CLONE}/{CLONE_FOLDER}"),
        ]),
        env: Some(clone_env),
        resources: Some(resources("500m", "512Mi")),
        security_context: Some(restricted_container(true)),
        volume_mounts: Some(clone_mounts),
        ..Default::default()
    };
    let mut env_vars = vec![
        env("WARD_ACTOR", actor),
        env("WARD_ESTATE", JOB_ESTATE),
        env("WARD_STATE", JOB_STATE),
        env("WARD_SECRETS_DIR", JOB_SECRETS),
        env("HOME", "/tmp"),
    ];
    if let Some(url) = &settings.pushgateway {
        // The rendered backup and drill alerts read what the jobs push there.
        env_vars.push(env("WARD_PUSHGATEWAY", url.clone()));
    }
    let mut mounts = vec![
        VolumeMount {
            sub_path: Some(CLONE_FOLDER.into()),
            ..mount("estate", JOB_ESTATE, true)
        },
        mount("state", JOB_STATE, false),
        mount("secrets", JOB_SECRETS, true),
        mount("tmp", "/tmp", false),
    ];
    let mut pod_security = restricted_pod(WARD_UID);
    // The state volume is small; checking its root is enough between runs.
    pod_security.fs_group_change_policy = Some("OnRootMismatch".into());
    match job {
        WardJob::Backup => {
            // Odoo writes the filestore under `<data_dir>/filestore/<database>` of the
            // claim (a shared stack's claim holds every tenant's folder); the job sees only
            // this environment's folder, read-only, where the estate says it is.
            // Read-only at the volume too: the backup can never change the filestore,
            // and the kubelet leaves its ownership alone.
            volumes.push(claim_volume("filestore", "odoo-filestore", true));
            mounts.push(VolumeMount {
                name: "filestore".into(),
                mount_path: m.env.filestore.clone(),
                sub_path: Some(format!("filestore/{}", m.database)),
                read_only: Some(true),
                ..Default::default()
            });
            // Odoo's files belong to its group; the job reads them as a member of it.
            pod_security.supplemental_groups = Some(vec![ODOO_UID]);
        }
        WardJob::Drill => {
            if settings.drill_identity.is_some() {
                volumes.push(secret_file_volume(
                    "identity",
                    DRILL_IDENTITY_SECRET,
                    "identity",
                    JOB_IDENTITY_FILE,
                    SECRET_MODE,
                ));
                mounts.push(mount("identity", JOB_IDENTITY, true));
                env_vars.push(env(
                    "WARD_IDENTITY",
                    format!("{JOB_IDENTITY}/{JOB_IDENTITY_FILE}"),
                ));
            }
        }
    }
    PodSpec {
        service_account_name: Some("ward-jobs".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        restart_policy: Some("Never".into()),
        security_context: Some(pod_security),
        init_containers: Some(vec![clone]),
        containers: vec![Container {
            name: "ward".into(),
            image: Some(settings.ward_image.clone()),
            args: Some(args),
            env: Some(env_vars),
            resources: Some(resources("500m", "512Mi")),
            security_context: Some(restricted_container(true)),
            volume_mounts: Some(mounts),
            ..Default::default()
        }],
        volumes: Some(volumes),
        ..Default::default()
    }
}

fn ward_jobs(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    ward_job_support(out, settings, s, common)?;
    let all_owners = out.owners.clone();
    for m in &s.members {
        // A tenant's own objects belong to its environment only.
        out.owners = vec![m.env.address()].into();
        let address = m.env.address();
        let posture = &m.env.classification.posture;
        for (job, cron, args, deadline) in [
            (
                WardJob::Backup,
                schedule::every(
                    posture.backup_interval.min(s.posture.backup_interval),
                    &address,
                ),
                vec!["backup".to_string(), "run".into(), address.clone()],
                3600,
            ),
            (
                WardJob::Drill,
                schedule::every(posture.drill_every, &address),
                vec!["drill".to_string(), address.clone()],
                4 * 3600,
            ),
        ] {
            let what = job.name();
            // CronJob names are limited to 52 characters (the Job name adds a suffix).
            let name = bounded_name(&format!("ward-{what}-{}", m.slug()), 52);
            let pod_labels = labels(&[
                WARD_JOB,
                ("ward.dev/job", what),
                ("ward.dev/environment", &bounded_name(&m.slug(), 63)),
            ]);
            let mut cl = common.clone();
            cl.extend(pod_labels.clone());
            let actor = format!("cronjob/{ns}/{name}");
            out.push(&CronJob {
                metadata: meta(&name, ns, &cl),
                spec: Some(CronJobSpec {
                    schedule: cron,
                    time_zone: Some("Etc/UTC".into()),
                    concurrency_policy: Some("Forbid".into()),
                    starting_deadline_seconds: Some(600),
                    successful_jobs_history_limit: Some(3),
                    failed_jobs_history_limit: Some(3),
                    job_template: JobTemplateSpec {
                        metadata: None,
                        spec: Some(JobSpec {
                            backoff_limit: Some(1),
                            active_deadline_seconds: Some(deadline),
                            template: PodTemplateSpec {
                                metadata: Some(ObjectMeta {
                                    labels: Some(pod_labels),
                                    ..Default::default()
                                }),
                                spec: Some(ward_job_pod(settings, s, m, job, args, actor)),
                            },
                            ..Default::default()
                        }),
                    },
                    ..Default::default()
                }),
                ..Default::default()
            })?;
        }
    }
    out.owners = all_owners;
    Ok(())
}

fn alert(name: &str, expr: String, for_: &str, severity: &str, summary: String) -> AlertRule {
    AlertRule {
        alert: name.to_string(),
        expr,
        for_: for_.to_string(),
        labels: labels(&[("severity", severity)]),
        annotations: labels(&[("summary", &summary)]),
    }
}

fn observability(
    out: &mut Out<'_>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let severity = if s.tier == 1 { "critical" } else { "warning" };
    let p95 = if s.tier == 1 { "1.5" } else { "3" };
    let lag = if s.tier == 1 { 10 } else { 60 };
    let backup_limit = s.posture.backup_interval.as_secs() * 3 / 2;
    let traefik_service = format!("{ns}-odoo-http-8069@kubernetescrd");
    let mut rules = vec![
        alert(
            "OdooDown",
            format!(
                "sum(kube_deployment_status_replicas_available{{namespace=\"{ns}\", deployment=\"odoo-web\"}}) < 1"
            ),
            "2m",
            severity,
            format!("No Odoo web pod is available in {ns}"),
        ),
        alert(
            "OdooHigh5xxRate",
            format!(
                "sum(rate(traefik_service_requests_total{{service=\"{traefik_service}\", code=~\"5..\"}}[5m]))\n  / sum(rate(traefik_service_requests_total{{service=\"{traefik_service}\"}}[5m])) > 0.05"
            ),
            "5m",
            severity,
            format!("More than 5% of requests to Odoo in {ns} fail with a 5xx"),
        ),
        alert(
            "OdooSlowP95",
            format!(
                "histogram_quantile(0.95, sum by (le) (rate(traefik_service_request_duration_seconds_bucket{{service=\"{traefik_service}\"}}[5m]))) > {p95}"
            ),
            "10m",
            "warning",
            format!("95th percentile latency of Odoo in {ns} is above {p95}s"),
        ),
        alert(
            "PostgresReplicationLag",
            format!("max(cnpg_pg_replication_lag{{namespace=\"{ns}\"}}) > {lag}"),
            "5m",
            severity,
            format!("A PostgreSQL standby in {ns} is more than {lag}s behind"),
        ),
        alert(
            "BackupTooOld",
            format!(
                "time() - max(cnpg_collector_last_available_backup_timestamp{{namespace=\"{ns}\"}}) > {backup_limit}"
            ),
            "10m",
            severity,
            format!(
                "The last base backup in {ns} is older than the posture allows ({})",
                s.posture.backup_interval
            ),
        ),
        alert(
            "CertificateExpiringSoon",
            format!(
                "min(certmanager_certificate_expiration_timestamp_seconds{{exported_namespace=\"{ns}\"}}) - time() < 21 * 86400"
            ),
            "1h",
            "warning",
            format!("A TLS certificate in {ns} expires within 21 days"),
        ),
    ];
    for m in &s.members {
        let limit = m.env.classification.posture.drill_every.as_secs() * 11 / 10;
        let address = m.env.address();
        let mut r = alert(
            "RestoreDrillOverdue",
            format!(
                "time() - max(ward_drill_last_success_timestamp_seconds{{environment=\"{address}\"}}) > {limit}"
            ),
            "1h",
            "warning",
            format!(
                "The last successful restore drill of {address} is older than the posture allows ({})",
                m.env.classification.posture.drill_every
            ),
        );
        r.labels.insert("environment".into(), address);
        rules.push(r);
    }
    out.push(&cr(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        meta("odoo-alerts", ns, common),
        PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: format!("ward.{ns}"),
                rules,
            }],
        },
    ))?;
    out.push(&cr(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        meta("postgres", ns, common),
        ServiceMonitorSpec {
            selector: selector(&[(MANAGED_BY.0, MANAGED_BY.1), ("ward.dev/stack", ns)]),
            endpoints: vec![MonitorEndpoint {
                port: "metrics".into(),
                path: "/metrics".into(),
                interval: "30s".into(),
            }],
        },
    ))?;
    Ok(())
}

/// Per (cluster, namespace): the Argo CD project, tier, stage and owners.
type NamespaceIndex = BTreeMap<(String, String), (String, u8, Stage, Vec<String>)>;
/// Per (cluster, project): tier, stage, namespaces and owners.
type ProjectIndex = BTreeMap<(String, String), (u8, Stage, BTreeSet<String>, Vec<String>)>;

fn render_gitops(
    settings: &Settings,
    stacks: &[Stack<'_>],
    objects: &mut dyn FnMut(Object),
) -> Result<(), RenderError> {
    // Every (cluster, namespace) that has objects gets an Application; each tenant an
    // AppProject per cluster that admits only its own namespaces.
    let mut namespaces: NamespaceIndex = BTreeMap::new();
    for s in stacks {
        let project = if s.dedicated() {
            s.tenant.clone()
        } else {
            format!("shared-{}", s.stage)
        };
        let entry = (project.clone(), s.tier, s.stage, s.addresses());
        namespaces.insert((s.cluster.clone(), s.namespace.clone()), entry.clone());
        if let (Some(recovery), 1) = (&s.recovery_cluster, s.tier) {
            namespaces.insert((recovery.clone(), s.namespace.clone()), entry);
        }
    }
    let argo_ns = settings.argocd_namespace.as_str();
    let mut projects: ProjectIndex = BTreeMap::new();
    for ((cluster, ns), (project, tier, stage, owners)) in &namespaces {
        let project_name = bounded_name(&format!("{project}-{cluster}"), 63);
        let app_name = bounded_name(&format!("{cluster}-{ns}"), 63);
        let mut out = Out {
            cluster: cluster.clone(),
            folder: argo_ns.to_string(),
            owners: owners.clone().into(),
            tier: *tier,
            stage: *stage,
            objects,
        };
        out.push(&cr(
            "argoproj.io/v1alpha1",
            "Application",
            meta(&app_name, argo_ns, &BTreeMap::new()),
            ApplicationSpec {
                project: project_name.clone(),
                source: ApplicationSource {
                    repo_url: settings.git_repository.clone(),
                    target_revision: settings.git_revision.clone(),
                    path: format!("{cluster}/{ns}"),
                },
                destination: ApplicationDestination {
                    name: cluster.clone(),
                    namespace: ns.clone(),
                },
                sync_policy: SyncPolicy {
                    automated: Automated {
                        prune: true,
                        self_heal: true,
                    },
                    sync_options: vec!["ServerSideApply=true".into(), "PruneLast=true".into()],
                },
            },
        ))?;
        let e = projects
            .entry((cluster.clone(), project_name))
            .or_insert_with(|| (*tier, *stage, BTreeSet::new(), Vec::new()));
        e.0 = e.0.min(*tier);
        e.1 = e.1.max(*stage);
        e.2.insert(ns.clone());
        e.3.extend(owners.iter().cloned());
    }
    for ((cluster, project), (tier, stage, nss, mut owners)) in projects {
        owners.sort();
        owners.dedup();
        let owners: crate::Owners = owners.into();
        let mut out = Out {
            cluster: cluster.clone(),
            folder: argo_ns.to_string(),
            owners,
            tier,
            stage,
            objects,
        };
        out.push(&cr(
            "argoproj.io/v1alpha1",
            "AppProject",
            meta(&project, argo_ns, &BTreeMap::new()),
            AppProjectSpec {
                description: format!(
                    "Namespaces of {project} on cluster {cluster}, managed by Ward"
                ),
                source_repos: vec![settings.git_repository.clone()],
                destinations: nss
                    .into_iter()
                    .map(|namespace| ApplicationDestination {
                        name: cluster.clone(),
                        namespace,
                    })
                    .collect(),
                cluster_resource_whitelist: vec![GroupKind {
                    group: String::new(),
                    kind: "Namespace".into(),
                }],
            },
        ))?;
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
