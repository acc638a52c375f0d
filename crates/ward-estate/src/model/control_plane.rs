//! `spec.controlPlane` of the platform: where `ward serve` runs, how many replicas, its
//! store's volume, whether it or the rendered CronJobs schedule backups and drills, how
//! often it polls the estate, and the OpenID provider people log in with.

use super::platform::{Cluster, ClusterRole};
use super::readers::{flag_or, mapping, opt, req};
use super::secret_ref::{SecretRef, secret_ref};
use crate::decode::{Cx, choice};
use crate::source::Spanned;
use crate::units::{Bytes, Duration};
use crate::yaml::Node;
use serde::Serialize;

choice!(
    /// Who runs the scheduled backups and drills: the server's scheduler, or the
    /// CronJobs rendered in each stack's namespace.
    Scheduler { CronJobs = "cronjobs", Server = "server" }
);

/// The server's replicas when the platform does not say: two, so that a drain, a node
/// loss or a rolling update always leaves one serving (the PodDisruptionBudget keeps one).
pub const DEFAULT_REPLICAS: u32 = 2;
/// The most replicas accepted: the store, not the replicas, is what scales.
pub const MAX_REPLICAS: u32 = 10;
/// The store's volume when the platform does not say: runs, schedules, tokens, reviews
/// and the served ledger are small rows.
pub const DEFAULT_STORAGE: u64 = 10 << 30;
/// The server container's memory when the platform does not say is this, plus
/// [`MEMORY_PER_ENVIRONMENT`] for every environment: the server itself holds about 300 MiB,
/// and the child process that evaluates each new commit grows with the estate (1.9 GiB at
/// its peak for 6,000 environments, docs/BENCHMARKS.md). Both count against the limit.
pub const BASE_MEMORY: u64 = 768 << 20;
/// See [`BASE_MEMORY`].
pub const MEMORY_PER_ENVIRONMENT: u64 = 384 << 10;
/// The least memory accepted for the server container.
pub const MIN_MEMORY: u64 = 512 << 20;
/// How often the server fetches the estate when the platform does not say.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::minutes(1);

/// `spec.controlPlane`: Ward itself, as `ward render` deploys it in `ward-system`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneSpec {
    /// `false`: the platform does not run `ward serve`; nothing of `ward-system` is
    /// rendered and the CronJobs schedule.
    pub enabled: bool,
    /// The cluster `ward-system` goes to (see [`ControlPlaneSpec::cluster_name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Spanned<u32>>,
    /// The store's PostgreSQL volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Spanned<Bytes>>,
    /// Each server container's memory (its request and limit), which its commit
    /// evaluations run within (see [`ControlPlaneSpec::memory_bytes`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Spanned<Bytes>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Spanned<Scheduler>>,
    /// How often the server fetches `rendering.estateRepository`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Spanned<Duration>>,
    /// The `https://` address people reach the server at, behind the platform's ingress;
    /// the OpenID provider sends logins back to `<url>/auth/callback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,
}

impl Default for ControlPlaneSpec {
    /// What a platform without `controlPlane` gets: the server rendered with defaults,
    /// the CronJobs scheduling.
    fn default() -> Self {
        ControlPlaneSpec {
            enabled: true,
            cluster: None,
            replicas: None,
            storage: None,
            memory: None,
            scheduler: None,
            poll_interval: None,
            url: None,
            oidc: None,
        }
    }
}

/// The OpenID Connect provider the server's API and dashboard log people in with.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcSpec {
    /// `https://…`, the issuer whose `/.well-known/openid-configuration` the server reads.
    pub issuer: Spanned<String>,
    pub client_id: Spanned<String>,
    /// The client's secret, for a confidential client; none for a public one (PKCE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretRef>,
    /// Put before each of the provider's groups before it is matched with a Team's
    /// `groups`, as kube-apiserver's `--oidc-groups-prefix` (e.g. `idp:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_prefix: Option<Spanned<String>>,
}

impl ControlPlaneSpec {
    /// The cluster `ward-system` is rendered in: the declared one, else the first
    /// `shared` cluster (where the platform's own services run), else the first cluster
    /// that is not a recovery cluster. `None` when disabled or when there is none.
    pub fn cluster_name<'c>(&'c self, clusters: &'c [Cluster]) -> Option<&'c str> {
        if !self.enabled {
            return None;
        }
        if let Some(c) = &self.cluster {
            return Some(c.value.as_str());
        }
        clusters
            .iter()
            .find(|c| c.role.value == ClusterRole::Shared)
            .or_else(|| {
                clusters
                    .iter()
                    .find(|c| c.role.value != ClusterRole::Recovery)
            })
            .map(|c| c.name.value.as_str())
    }

    pub fn replicas(&self) -> u32 {
        self.replicas.as_ref().map_or(DEFAULT_REPLICAS, |r| r.value)
    }

    pub fn storage_bytes(&self) -> u64 {
        self.storage
            .as_ref()
            .map_or(DEFAULT_STORAGE, |s| s.value.bytes)
    }

    /// Each server container's memory: `memory`, else [`BASE_MEMORY`] plus
    /// [`MEMORY_PER_ENVIRONMENT`] for each of the estate's `environments`, rounded up to
    /// a whole MiB.
    pub fn memory_bytes(&self, environments: usize) -> u64 {
        const MIB: u64 = 1 << 20;
        self.memory.as_ref().map_or_else(
            || {
                let per = MEMORY_PER_ENVIRONMENT.saturating_mul(environments as u64);
                BASE_MEMORY.saturating_add(per).div_ceil(MIB) * MIB
            },
            |m| m.value.bytes,
        )
    }

    /// Who schedules backups and drills; the CronJobs unless the platform says `server`.
    pub fn scheduler(&self) -> Scheduler {
        match (&self.scheduler, self.enabled) {
            (Some(s), true) => s.value,
            _ => Scheduler::CronJobs,
        }
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
            .as_ref()
            .map_or(DEFAULT_POLL_INTERVAL, |d| d.value)
    }
}

/// Decodes `controlPlane`, checking it against the clusters already read and the
/// secret stores references may name (`check_store` reports an unknown one).
pub(super) fn decode_control_plane(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    clusters: &[Cluster],
    check_store: &dyn Fn(&mut Cx, &Spanned<String>),
) -> Option<ControlPlaneSpec> {
    mapping(cx, node, path, |cx, f| {
        let enabled = flag_or(cx, f, "enabled", true);
        let cluster = opt(cx, f, "cluster", |cx, n, p| cx.name(n, p));
        let replicas = opt(cx, f, "replicas", |cx, n, p| cx.uint(n, p, MAX_REPLICAS));
        let storage = opt(cx, f, "storage", |cx, n, p| cx.bytes(n, p));
        let memory = opt(cx, f, "memory", |cx, n, p| cx.bytes(n, p));
        let scheduler = opt(cx, f, "scheduler", |cx, n, p| cx.choice(n, p));
        let poll_interval = opt(cx, f, "pollInterval", |cx, n, p| cx.duration(n, p));
        let url = opt(cx, f, "url", |cx, n, p| cx.string(n, p));
        if let Some(u) = &url {
            check_https(cx, u, &f.at("url"), "https://ward.care.example");
        }
        let oidc = opt(cx, f, "oidc", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let issuer = req(cx, f, "issuer", |cx, n, p| cx.string(n, p));
                let client_id = req(cx, f, "clientId", |cx, n, p| cx.string(n, p));
                let client_secret_ref = opt(cx, f, "clientSecretRef", secret_ref);
                let groups_prefix = opt(cx, f, "groupsPrefix", |cx, n, p| cx.string(n, p));
                if let Some(i) = &issuer {
                    check_https(
                        cx,
                        i,
                        &f.at("issuer"),
                        "https://login.example.org/realms/ward",
                    );
                }
                if let Some(id) = &client_id
                    && (id.value.is_empty()
                        || id
                            .value
                            .chars()
                            .any(|c| c.is_whitespace() || c.is_control()))
                {
                    cx.error(
                        id.span,
                        format!("`{}` must be a client id without spaces", f.at("clientId")),
                        "write the id the OpenID provider gave Ward's client, e.g. `ward`",
                    );
                }
                if let Some(r) = &client_secret_ref {
                    check_store(cx, &r.store);
                }
                Some(OidcSpec {
                    issuer: issuer?,
                    client_id: client_id?,
                    client_secret_ref,
                    groups_prefix,
                })
            })
        });
        if let (Some(o), None) = (&oidc, &url) {
            cx.error(
                o.issuer.span,
                format!(
                    "`{}` needs `{}`: the provider sends each login back to <url>/auth/callback",
                    f.at("oidc"),
                    f.at("url")
                ),
                "write the https:// address people reach the server at, e.g. `url: https://ward.care.example`",
            );
        }
        if let Some(c) = &cluster {
            match clusters.iter().find(|k| k.name.value == c.value) {
                Some(k) if k.role.value == ClusterRole::Recovery => cx.error(
                    c.span,
                    format!("`{}`: `{}` is a recovery cluster", f.at("cluster"), c.value),
                    "run the control plane in a shared or dedicated cluster, where the workloads it serves run",
                ),
                Some(_) => {}
                None => {
                    let names: Vec<&str> = clusters.iter().map(|k| k.name.value.as_str()).collect();
                    let hint = match crate::decode::closest(&c.value, &names) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "name a cluster from the platform's `clusters`".to_string(),
                    };
                    cx.error(
                        c.span,
                        format!("unknown cluster `{}`", crate::decode::escape(&c.value)),
                        hint,
                    );
                }
            }
        }
        if let Some(r) = &replicas
            && r.value < DEFAULT_REPLICAS
        {
            cx.error(
                r.span,
                format!("`{}` must be at least {DEFAULT_REPLICAS}", f.at("replicas")),
                "two replicas keep the API and the scheduler up through a drain, a node loss or a rolling update; to run no server, write `enabled: false`",
            );
        }
        if let Some(s) = &storage
            && s.value.bytes < 1 << 30
        {
            cx.error(
                s.span,
                format!("`{}` must be at least 1Gi", f.at("storage")),
                "write e.g. `10Gi`",
            );
        }
        if let Some(m) = &memory
            && m.value.bytes < MIN_MEMORY
        {
            cx.error(
                m.span,
                format!("`{}` must be at least 512Mi", f.at("memory")),
                "leave it out to have it sized for the estate, or write e.g. `4Gi`",
            );
        }
        if let Some(d) = &poll_interval
            && !(10..=86_400).contains(&d.value.as_secs())
        {
            cx.error(
                d.span,
                format!("`{}` must be between 10s and 24h", f.at("pollInterval")),
                "write e.g. `1m`; the server fetches the estate this often",
            );
        }
        if let Some(s) = &scheduler
            && !enabled
            && s.value == Scheduler::Server
        {
            cx.error(
                s.span,
                format!(
                    "`{}: server` with `enabled: false`: no server would schedule the backups",
                    f.at("scheduler")
                ),
                "write `scheduler: cronjobs`, or enable the control plane",
            );
        }
        Some(ControlPlaneSpec {
            enabled,
            cluster,
            replicas,
            storage,
            memory,
            scheduler,
            poll_interval,
            url,
            oidc,
        })
    })
}

/// The issuer is fetched, and the server's address browsed, over HTTPS; a user or a query
/// there is a mistake.
fn check_https(cx: &mut Cx, issuer: &Spanned<String>, path: &str, example: &str) {
    let v = issuer.value.as_str();
    let host = v
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let clean = !v
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'));
    if !matches!(host, Some(h) if !h.is_empty() && !h.contains('@') && clean) {
        cx.error(
            issuer.span,
            format!(
                "`{path}` must be an https:// URL without a user or query, found `{}`",
                crate::decode::escape(v)
            ),
            format!("write e.g. `{example}`"),
        );
    }
}
