//! The `Platform` document: clusters, object and secret stores, the baseline, per-tier
//! objectives, prices, rendering settings, how changes are trusted and where Ward itself
//! runs (`controlPlane`, in `control_plane.rs`).

use super::control_plane::{ControlPlaneSpec, decode_control_plane};
use super::readers::{flag, list, mapping, opt, req, strings};
use super::secret_ref::{SecretRef, secret_ref};
use crate::decode::{Cx, Fields, choice};
use crate::source::Spanned;
use crate::units::Duration;
use crate::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

choice!(
    /// What a Kubernetes cluster is for.
    ClusterRole { Shared = "shared", Dedicated = "dedicated", Recovery = "recovery" }
);
choice!(StoreKind { Local = "local", S3 = "s3" });
choice!(
    /// S3 Object Lock modes: `compliance` cannot be shortened by anyone, `governance` by
    /// holders of a special permission.
    LockMode { Governance = "governance", Compliance = "compliance" }
);

choice!(SecretStoreKind { ClusterSecretStore = "ClusterSecretStore", SecretStore = "SecretStore" });

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    pub clusters: Vec<Cluster>,
    pub object_stores: Vec<ObjectStore>,
    pub secret_stores: Vec<SecretStore>,
    pub baseline: Baseline,
    pub tier_objectives: TierObjectives,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prices: Option<Prices>,
    /// The break-glass age recipient that every backup is also encrypted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_glass_recipient: Option<Spanned<String>>,
    /// Settings the renderer needs that are not about risk (GitOps repo, ingress, images).
    pub rendering: RenderingSpec,
    /// How changes to the estate are trusted (`spec.changes`).
    pub changes: ChangesSpec,
    /// Ward itself (`spec.controlPlane`): `ward serve` in `ward-system`.
    pub control_plane: ControlPlaneSpec,
}

/// `spec.changes` of the platform: what `ward apply` asks of a change's commits.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesSpec {
    /// Every commit of a change carries an SSH signature by a `Team` key of the reviewed
    /// state; its signer, not the self-asserted Git author, is who wrote it.
    pub require_signed_commits: bool,
}

/// `spec.rendering` of the platform: where the deploy tree lives and the cluster add-ons
/// rendered objects refer to. Every field is optional; `docs/estate.md` gives the defaults.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderingSpec {
    /// Git URL of the deploy repository Argo CD syncs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_repository: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argocd_namespace: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traefik_namespace: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Spanned<String>>,
    /// The cert-manager `ClusterIssuer` that signs every certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_issuer: Option<Spanned<String>>,
    /// The S3 object store PostgreSQL archives WAL and base backups to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_store: Option<Spanned<String>>,
    /// The S3 object store Ward's in-cluster jobs (backup, drill, prune) use for an
    /// environment whose own `objectStore` is not S3: in-cluster jobs never write to a
    /// `local` store, which would be a volume beside the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_object_store: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ward_image: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_image: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_image: Option<Spanned<String>>,
    /// The storage class of PostgreSQL's volumes (data and WAL) and of other
    /// single-writer volumes: block storage, `ReadWriteOnce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_storage_class: Option<Spanned<String>>,
    /// The storage class of the volumes several pods share (the Odoo filestore, Ward's
    /// state): it must offer `ReadWriteMany`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filestore_storage_class: Option<Spanned<String>>,
    /// The image of the shared (multi-tenant) Odoo deployment, per Odoo version.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub shared_images: BTreeMap<String, Spanned<String>>,
    /// HTTPS Git URL of the estate itself, which Ward's CronJobs clone before each run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estate_repository: Option<Spanned<String>>,
    /// The branch or tag of the estate those jobs follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estate_revision: Option<Spanned<String>>,
    /// `<username>:<token>` for cloning the estate over HTTPS, when it is not public.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estate_credentials: Option<SecretRef>,
    /// Where the stacks' drill identities are: each stack's age identity, which restore
    /// drills decrypt with, is at `<key>/<cluster>/<namespace>` of this reference
    /// (`resolve::drill_identity_ref`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill_identity: Option<SecretRef>,
    /// Each stack's drill recipient (`age1…`), by stack (`<cluster>/<namespace>`): added
    /// to the backups of that stack's environments only, so that one stack's drill
    /// identity opens no other stack's backups.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub drill_recipients: BTreeMap<String, Spanned<String>>,
    /// The Prometheus Pushgateway Ward's jobs push their results to, for the alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushgateway: Option<Spanned<String>>,
    /// How the platform's Prometheus scrapes exporters that report on other objects
    /// (kube-state-metrics, cert-manager, the Pushgateway): with `honorLabels: true` their
    /// own `namespace` and `job` labels are kept; with `false` (Prometheus's default) they
    /// become `exported_namespace` and `exported_job`. The rendered alerts select on the
    /// names this gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_honor_labels: Option<Spanned<bool>>,
    /// The mail servers Odoo talks to (`rendering.mail`).
    pub mail: MailSpec,
}

/// `rendering.mail`: the relay Odoo sends through, and the server it fetches from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MailSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing: Option<MailRelay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming: Option<MailServer>,
}

/// Where a mail server is on the network. NetworkPolicy cannot name hosts: without
/// `cidr`, the egress rule admits the port on public addresses only.
#[derive(Clone, Debug, Serialize)]
pub struct MailServer {
    pub host: Spanned<String>,
    pub port: Spanned<u32>,
    /// The addresses the host resolves to, when it is not on the public internet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Spanned<String>>,
}

/// The outgoing relay: a server, and the login Odoo sends with (STARTTLS always).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailRelay {
    pub server: MailServer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretRef>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: Spanned<String>,
    pub role: Spanned<ClusterRole>,
    pub region: Spanned<String>,
    pub zones: Vec<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStore {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<StoreKind>,
    /// For `local`: a folder, relative to the state folder unless absolute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    pub versioning: bool,
    /// Another object store this one replicates to (cross-region copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicate_to: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<SecretRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObjectLock {
    pub mode: Spanned<LockMode>,
    pub days: Spanned<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SecretStore {
    pub name: Spanned<String>,
    pub kind: Spanned<SecretStoreKind>,
    /// The secret manager behind the store, when Ward renders the store itself: one
    /// namespaced `SecretStore` per stack namespace whose provider login reaches only that
    /// namespace's keys. Without it the store is the platform's and Ward only names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<SecretProvider>,
}

/// A secret manager Ward renders namespaced stores for.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretProvider {
    /// HashiCorp Vault (or OpenBao) with a KV engine and Kubernetes auth: each namespace
    /// logs in with its own service account to its own Vault role, whose policy grants
    /// `read` on exactly the keys that namespace's ExternalSecrets name.
    Vault(VaultProvider),
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// `https://vault.example:8200`.
    pub server: Spanned<String>,
    /// The KV engine's mount path (`secret`).
    pub path: Spanned<String>,
    /// The KV engine's version, `v1` or `v2` (default `v2`).
    pub version: Spanned<String>,
    /// Where the Kubernetes auth method is mounted (default `kubernetes`; one mount per
    /// cluster, as each cluster has its own token issuer).
    pub auth_mount_path: Spanned<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    pub odoo_versions: Vec<Spanned<String>>,
    pub registries: Vec<Spanned<String>>,
}

/// Per-tier numbers the platform sets stricter than Ward's defaults.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TierObjectives {
    pub tier1: Option<TierObjective>,
    pub tier2: Option<TierObjective>,
    pub tier3: Option<TierObjective>,
}

impl TierObjectives {
    pub fn get(&self, tier: u8) -> Option<&TierObjective> {
        match tier {
            1 => self.tier1.as_ref(),
            2 => self.tier2.as_ref(),
            _ => self.tier3.as_ref(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierObjective {
    /// How often CloudNativePG takes a base backup (`ScheduledBackup`).
    pub base_backup_interval: Option<Spanned<Duration>>,
    /// How often Ward's logical snapshots run.
    pub backup_interval: Option<Spanned<Duration>>,
    pub drill_every: Option<Spanned<Duration>>,
    pub min_replicas: Option<Spanned<u32>>,
    pub min_zones: Option<Spanned<u32>>,
    pub postgres_instances: Option<Spanned<u32>>,
    pub retention: Option<RetentionSpec>,
}

/// Snapshot retention as pgBackRest and restic users know it: counts per period.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSpec {
    pub keep_last: Option<Spanned<u32>>,
    pub hourly: Option<Spanned<u32>>,
    pub daily: Option<Spanned<u32>>,
    pub weekly: Option<Spanned<u32>>,
    pub monthly: Option<Spanned<u32>>,
}

/// Monthly price per environment by tier, and the surcharge for dedicated hosting.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub currency: Spanned<String>,
    pub tier1: Spanned<u32>,
    pub tier2: Spanned<u32>,
    pub tier3: Spanned<u32>,
    pub dedicated_surcharge: Spanned<u32>,
}

/// `provider: { vault: { server, path, version, authMountPath } }`.
fn decode_secret_provider(cx: &mut Cx, node: &Node, path: &str) -> Option<SecretProvider> {
    mapping(cx, node, path, |cx, f| {
        let vault = req(cx, f, "vault", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let server = req(cx, f, "server", |cx, n, p| cx.string(n, p));
                let mount = req(cx, f, "path", |cx, n, p| cx.string(n, p));
                let here = f.node.span;
                let default = |v: &str| Spanned::new(v.to_string(), here);
                let version = opt(cx, f, "version", |cx, n, p| cx.string(n, p))
                    .unwrap_or_else(|| default("v2"));
                if version.value != "v1" && version.value != "v2" {
                    cx.error(
                        version.span,
                        format!("`{}` is `{}`", f.at("version"), version.value),
                        "write `v1` or `v2`, the version of the KV secrets engine",
                    );
                }
                let auth_mount_path = opt(cx, f, "authMountPath", |cx, n, p| cx.string(n, p))
                    .unwrap_or_else(|| default("kubernetes"));
                let server = server?;
                if !server.value.starts_with("https://") {
                    cx.error(
                        server.span,
                        format!("`{}` is not an https URL", f.at("server")),
                        "write the Vault address with its scheme, as `https://vault.example:8200`",
                    );
                }
                Some(VaultProvider {
                    server,
                    path: mount?,
                    version,
                    auth_mount_path,
                })
            })
        });
        Some(SecretProvider::Vault(vault?))
    })
}

pub(crate) fn decode_platform(cx: &mut Cx, node: &Node) -> Option<PlatformSpec> {
    mapping(cx, node, "spec", |cx, f| {
        let clusters = list(cx, f, "clusters", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
                let role = req(cx, f, "role", |cx, n, p| cx.choice(n, p));
                let region = req(cx, f, "region", |cx, n, p| cx.string(n, p));
                let zones = strings(cx, f, "zones");
                let kubernetes_version =
                    opt(cx, f, "kubernetesVersion", |cx, n, p| cx.string(n, p));
                Some(Cluster {
                    name: name?,
                    role: role?,
                    region: region?,
                    zones,
                    kubernetes_version,
                })
            })
        });
        let object_stores = list(cx, f, "objectStores", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
                let kind = req(cx, f, "type", |cx, n, p| cx.choice(n, p));
                let path = opt(cx, f, "path", |cx, n, p| cx.string(n, p));
                let endpoint = opt(cx, f, "endpoint", |cx, n, p| cx.string(n, p));
                let bucket = opt(cx, f, "bucket", |cx, n, p| cx.string(n, p));
                let region = opt(cx, f, "region", |cx, n, p| cx.string(n, p));
                let prefix = opt(cx, f, "prefix", |cx, n, p| cx.string(n, p));
                let object_lock = opt(cx, f, "objectLock", |cx, n, p| {
                    mapping(cx, n, p, |cx, f| {
                        let mode = req(cx, f, "mode", |cx, n, p| cx.choice(n, p));
                        let days = req(cx, f, "days", |cx, n, p| cx.uint(n, p, 36_500));
                        Some(ObjectLock {
                            mode: mode?,
                            days: days?,
                        })
                    })
                });
                let versioning = flag(cx, f, "versioning");
                let replicate_to = opt(cx, f, "replicateTo", |cx, n, p| cx.name(n, p));
                let credentials = opt(cx, f, "credentials", secret_ref);
                let kind: Spanned<StoreKind> = kind?;
                if kind.value == StoreKind::S3 && bucket.is_none() {
                    cx.error(
                        f.node.span,
                        format!("`{}` is an s3 store without a bucket", f.at("bucket")),
                        "add `bucket: <name>`",
                    );
                }
                if kind.value == StoreKind::Local && path.is_none() {
                    cx.error(
                        f.node.span,
                        format!("`{}` is a local store without a path", f.at("path")),
                        "add `path: vault` (relative to the state folder) or an absolute folder",
                    );
                }
                Some(ObjectStore {
                    name: name?,
                    kind,
                    path,
                    endpoint,
                    bucket,
                    region,
                    prefix,
                    object_lock,
                    versioning,
                    replicate_to,
                    credentials,
                })
            })
        });
        let secret_stores = list(cx, f, "secretStores", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
                let kind = req(cx, f, "kind", |cx, n, p| cx.choice(n, p));
                let provider = opt(cx, f, "provider", decode_secret_provider);
                Some(SecretStore {
                    name: name?,
                    kind: kind?,
                    provider,
                })
            })
        });
        let control_plane = {
            let stores: Vec<&str> = secret_stores
                .iter()
                .map(|s| s.name.value.as_str())
                .collect();
            let check =
                |cx: &mut Cx, store: &Spanned<String>| check_secret_store(cx, store, &stores);
            opt(cx, f, "controlPlane", |cx, n, p| {
                decode_control_plane(cx, n, p, &clusters, &check)
            })
            .unwrap_or_default()
        };
        let baseline = opt(cx, f, "baseline", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                Some(Baseline {
                    odoo_versions: strings(cx, f, "odooVersions"),
                    registries: strings(cx, f, "registries"),
                })
            })
        })
        .unwrap_or_default();
        let tier_objectives = opt(cx, f, "tierObjectives", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                Some(TierObjectives {
                    tier1: opt(cx, f, "tier1", decode_objective),
                    tier2: opt(cx, f, "tier2", decode_objective),
                    tier3: opt(cx, f, "tier3", decode_objective),
                })
            })
        })
        .unwrap_or_default();
        let prices = opt(cx, f, "prices", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let currency = req(cx, f, "currency", |cx, n, p| cx.string(n, p));
                let t1 = req(cx, f, "tier1", |cx, n, p| cx.uint(n, p, u32::MAX));
                let t2 = req(cx, f, "tier2", |cx, n, p| cx.uint(n, p, u32::MAX));
                let t3 = req(cx, f, "tier3", |cx, n, p| cx.uint(n, p, u32::MAX));
                let ded = req(cx, f, "dedicatedSurcharge", |cx, n, p| {
                    cx.uint(n, p, u32::MAX)
                });
                Some(Prices {
                    currency: currency?,
                    tier1: t1?,
                    tier2: t2?,
                    tier3: t3?,
                    dedicated_surcharge: ded?,
                })
            })
        });
        let break_glass_recipient = opt(cx, f, "breakGlassRecipient", |cx, n, p| cx.string(n, p));
        let rendering = opt(cx, f, "rendering", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let mut text = |key: &'static str| opt(cx, f, key, |cx, n, p| cx.string(n, p));
                let mut spec = RenderingSpec {
                    git_repository: text("gitRepository"),
                    git_revision: text("gitRevision"),
                    argocd_namespace: text("argocdNamespace"),
                    traefik_namespace: text("traefikNamespace"),
                    entry_point: text("entryPoint"),
                    cluster_issuer: text("clusterIssuer"),
                    archive_store: text("archiveStore"),
                    job_object_store: text("jobObjectStore"),
                    ward_image: text("wardImage"),
                    redis_image: text("redisImage"),
                    postgres_image: text("postgresImage"),
                    database_storage_class: text("databaseStorageClass"),
                    filestore_storage_class: text("filestoreStorageClass"),
                    shared_images: BTreeMap::new(),
                    estate_repository: text("estateRepository"),
                    estate_revision: text("estateRevision"),
                    estate_credentials: None,
                    drill_identity: None,
                    drill_recipients: BTreeMap::new(),
                    pushgateway: text("pushgateway"),
                    prometheus_honor_labels: None,
                    mail: MailSpec::default(),
                };
                spec.prometheus_honor_labels =
                    opt(cx, f, "prometheusHonorLabels", |cx, n, p| cx.bool(n, p));
                if let Some(url) = &spec.estate_repository {
                    check_estate_repository(cx, url, &f.at("estateRepository"));
                }
                if let Some(url) = &spec.pushgateway {
                    check_pushgateway(cx, url, &f.at("pushgateway"));
                }
                if let Some(rev) = &spec.estate_revision {
                    check_estate_revision(cx, rev, &f.at("estateRevision"));
                }
                // The stores are known here already, so a misspelt one is caught at load.
                let stores: Vec<&str> = secret_stores
                    .iter()
                    .map(|s| s.name.value.as_str())
                    .collect();
                let mut reference = |cx: &mut Cx, key: &'static str| {
                    let r = opt(cx, f, key, secret_ref)?;
                    check_secret_store(cx, &r.store, &stores);
                    Some(r)
                };
                spec.estate_credentials = reference(cx, "estateCredentials");
                spec.drill_identity = reference(cx, "drillIdentity");
                spec.mail = opt(cx, f, "mail", |cx, n, p| decode_mail(cx, n, p, &stores))
                    .unwrap_or_default();
                spec.drill_recipients = opt(cx, f, "drillRecipients", |cx, n, p| {
                    mapping(cx, n, p, |cx, mf| {
                        let mut out = BTreeMap::new();
                        for (k, v) in mf.node_entries() {
                            let key = k.as_str().unwrap_or_default().to_string();
                            let path = mf.at(&key);
                            if let Some(v) = cx.string(v, &path) {
                                if !v.value.starts_with("age1") {
                                    cx.error(
                                        v.span,
                                        format!("`{path}` is not an age recipient"),
                                        "write the stack's drill recipient as age-keygen prints it: age1…",
                                    );
                                }
                                out.insert(key, v);
                            }
                        }
                        Some(out)
                    })
                })
                .unwrap_or_default();
                spec.shared_images = opt(cx, f, "sharedImages", |cx, n, p| {
                    mapping(cx, n, p, |cx, mf| {
                        let mut out = BTreeMap::new();
                        for (k, v) in mf.node_entries() {
                            let key = k.as_str().unwrap_or_default().to_string();
                            let path = mf.at(&key);
                            if let Some(v) = cx.string(v, &path) {
                                out.insert(key, v);
                            }
                        }
                        Some(out)
                    })
                })
                .unwrap_or_default();
                Some(spec)
            })
        })
        .unwrap_or_default();
        let changes = opt(cx, f, "changes", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                Some(ChangesSpec {
                    require_signed_commits: flag(cx, f, "requireSignedCommits"),
                })
            })
        })
        .unwrap_or_default();
        Some(PlatformSpec {
            clusters,
            object_stores,
            secret_stores,
            baseline,
            tier_objectives,
            prices,
            break_glass_recipient,
            rendering,
            changes,
            control_plane,
        })
    })
}

/// The estate repository is cloned by `git` inside the cluster: an HTTPS URL (the Ward
/// image need not ship an SSH client), and nothing that could break out of the argument
/// or of the Git configuration its credentials are scoped to.
fn check_estate_repository(cx: &mut Cx, url: &Spanned<String>, path: &str) {
    let v = url.value.as_str();
    let host = v
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let clean = !v
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '{' | '}'));
    match host {
        Some(h) if !h.is_empty() && !h.contains('@') && clean => {}
        Some(h) if h.contains('@') => cx.error(
            url.span,
            format!("`{path}` names a user in the URL"),
            "drop the user from the URL; give `estateCredentials: { store, key }` instead",
        ),
        _ => cx.error(
            url.span,
            format!(
                "`{path}` must be an https:// Git URL, found `{}`",
                crate::decode::escape(v)
            ),
            "write e.g. `https://git.example.com/platform/estate.git`; Ward's jobs clone it over HTTPS",
        ),
    }
}

/// The Pushgateway's base URL, as `ward --pushgateway` takes it.
fn check_pushgateway(cx: &mut Cx, url: &Spanned<String>, path: &str) {
    let v = url.value.as_str();
    let host = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    let clean = !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if !matches!(host, Some(h) if !h.is_empty() && !h.contains('@') && clean) {
        cx.error(
            url.span,
            format!(
                "`{path}` must be an http:// or https:// URL without a user, found `{}`",
                crate::decode::escape(v)
            ),
            "write e.g. `http://pushgateway.monitoring.svc:9091`",
        );
    }
}

/// A branch or tag name, as `git clone --branch` takes it.
fn check_estate_revision(cx: &mut Cx, rev: &Spanned<String>, path: &str) {
    let v = rev.value.as_str();
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        && !v.starts_with(['-', '/', '.'])
        && !v.ends_with(['/', '.'])
        && !v.contains("..")
        && !v.contains("//")
        && !v.ends_with(".lock");
    if !ok {
        cx.error(
            rev.span,
            format!(
                "`{path}` is not a branch or tag name: `{}`",
                crate::decode::escape(v)
            ),
            "write a branch or tag such as `main` or `release/2026-11`",
        );
    }
}

/// `rendering.mail`: `outgoing` (the relay) and `incoming` (IMAP or POP), each a host,
/// a port and optionally the CIDR it lives in.
fn decode_mail(cx: &mut Cx, node: &Node, path: &str, stores: &[&str]) -> Option<MailSpec> {
    mapping(cx, node, path, |cx, f| {
        let outgoing = opt(cx, f, "outgoing", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let s = decode_mail_server(cx, f);
                let user = opt(cx, f, "user", |cx, n, p| cx.string(n, p));
                let password_ref = opt(cx, f, "passwordRef", secret_ref);
                if let Some(r) = &password_ref {
                    check_secret_store(cx, &r.store, stores);
                }
                if user.is_some() != password_ref.is_some() {
                    cx.error(
                        f.node.span,
                        format!(
                            "`{}` and `{}` go together",
                            f.at("user"),
                            f.at("passwordRef")
                        ),
                        "give the relay's login as `user:` and its password as `passwordRef: { store, key }`, or neither",
                    );
                }
                if let Some(p) = s.as_ref().map(|s| &s.port)
                    && p.value == 465
                {
                    cx.error(
                        p.span,
                        format!(
                            "`{}`: Odoo's configuration speaks STARTTLS, not implicit TLS (465)",
                            f.at("port")
                        ),
                        "use the relay's submission port, 587 (or 25), with STARTTLS",
                    );
                }
                Some(MailRelay {
                    server: s?,
                    user,
                    password_ref,
                })
            })
        });
        let incoming = opt(cx, f, "incoming", |cx, n, p| {
            mapping(cx, n, p, decode_mail_server)
        });
        Some(MailSpec { outgoing, incoming })
    })
}

fn decode_mail_server(cx: &mut Cx, f: &mut Fields<'_>) -> Option<MailServer> {
    let host = req(cx, f, "host", |cx, n, p| cx.string(n, p));
    let port = req(cx, f, "port", |cx, n, p| cx.uint(n, p, 65_535));
    let cidr = opt(cx, f, "cidr", |cx, n, p| cx.string(n, p));
    if let Some(host) = &host
        && (host.value.is_empty() || host.value.contains(['/', ':', '@', ' ']))
    {
        cx.error(
            host.span,
            format!("`{}` must be a host name or address", f.at("host")),
            "write the host alone, e.g. `smtp.example.org`; the port goes in `port`",
        );
    }
    if let Some(c) = &cidr
        && !is_ipv4_cidr(&c.value)
    {
        cx.error(
            c.span,
            format!(
                "`{}` is not an IPv4 CIDR: `{}`",
                f.at("cidr"),
                crate::decode::escape(&c.value)
            ),
            "write e.g. `10.20.0.25/32`, the addresses the host resolves to",
        );
    }
    Some(MailServer {
        host: host?,
        port: port?,
        cidr,
    })
}

/// `a.b.c.d/n` with each part in range.
fn is_ipv4_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    ip.parse::<std::net::Ipv4Addr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 32)
}

fn check_secret_store(cx: &mut Cx, store: &Spanned<String>, known: &[&str]) {
    if known.contains(&store.value.as_str()) {
        return;
    }
    let hint = "declare it under the platform's `secretStores`";
    let hint = match crate::decode::closest(&store.value, known) {
        Some(best) => format!("did you mean `{best}`? ({hint})"),
        None => hint.to_string(),
    };
    cx.error(
        store.span,
        format!(
            "unknown secret store `{}`",
            crate::decode::escape(&store.value)
        ),
        hint,
    );
}

fn decode_objective(cx: &mut Cx, node: &Node, path: &str) -> Option<TierObjective> {
    mapping(cx, node, path, |cx, f| {
        Some(TierObjective {
            base_backup_interval: opt(cx, f, "baseBackupInterval", |cx, n, p| cx.duration(n, p)),
            backup_interval: opt(cx, f, "backupInterval", |cx, n, p| cx.duration(n, p)),
            drill_every: opt(cx, f, "drillEvery", |cx, n, p| cx.duration(n, p)),
            min_replicas: opt(cx, f, "minReplicas", |cx, n, p| cx.uint(n, p, 100)),
            min_zones: opt(cx, f, "minZones", |cx, n, p| cx.uint(n, p, 10)),
            postgres_instances: opt(cx, f, "postgresInstances", |cx, n, p| cx.uint(n, p, 10)),
            retention: opt(cx, f, "retention", |cx, n, p| {
                mapping(cx, n, p, |cx, f| {
                    Some(RetentionSpec {
                        keep_last: opt(cx, f, "keepLast", |cx, n, p| cx.uint(n, p, 10_000)),
                        hourly: opt(cx, f, "hourly", |cx, n, p| cx.uint(n, p, 10_000)),
                        daily: opt(cx, f, "daily", |cx, n, p| cx.uint(n, p, 10_000)),
                        weekly: opt(cx, f, "weekly", |cx, n, p| cx.uint(n, p, 10_000)),
                        monthly: opt(cx, f, "monthly", |cx, n, p| cx.uint(n, p, 10_000)),
                    })
                })
            }),
        })
    })
}
