//! The `Workload` document: an Odoo application with the inputs of its classification,
//! its environments (size, database, backup keys) and its integrations.

use super::readers::{flag, list, mapping, opt, req, strings};
use super::secret_ref::{SecretRef, secret_ref};
use crate::decode::{Cx, choice};
use crate::source::Spanned;
use crate::units::{Bytes, Duration, Millicores, Percent};
use crate::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

choice!(
    /// How sensitive the workload's data is, least to most.
    DataSensitivity { Public = "public", Internal = "internal", Confidential = "confidential", Phi = "phi" }
);
choice!(
    /// How much depends on the workload's integrations, least to most.
    Criticality { Low = "low", Medium = "medium", High = "high" }
);
choice!(
    /// The life-cycle stage of an environment, least to most strict.
    Stage { Development = "development", Test = "test", Production = "production" }
);
choice!(
    /// How a workload environment shares infrastructure.
    HostingModel { MultiTenant = "multi-tenant", Dedicated = "dedicated" }
);
choice!(
    /// What the workload does when an integration fails.
    FailureBehaviour { Queue = "queue", Degrade = "degrade", Block = "block" }
);

choice!(
    /// libpq's `sslmode` for Ward's connections to an environment's database, weakest to
    /// strongest (`allow` is not offered): see docs/vault.md, "TLS to PostgreSQL".
    DbSslMode {
        Disable = "disable",
        Prefer = "prefer",
        Require = "require",
        VerifyCa = "verify-ca",
        VerifyFull = "verify-full",
    }
);

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    pub owner: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Spanned<String>>,
    pub classification: ClassificationSpec,
    pub odoo: OdooSpec,
    pub redis: RedisSpec,
    pub environments: Vec<Environment>,
    pub integrations: Vec<Integration>,
    pub services: Vec<Spanned<String>>,
}

/// The inputs of classification, as the application team declares them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassificationSpec {
    pub data_sensitivity: Spanned<DataSensitivity>,
    pub integration_criticality: Spanned<Criticality>,
    pub uptime: Spanned<Percent>,
    pub rpo: Spanned<Duration>,
    pub rto: Spanned<Duration>,
    pub contractual_isolation: Spanned<bool>,
    /// A request for dedicated hosting; it can only make hosting stricter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosting: Option<Spanned<HostingModel>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OdooSpec {
    pub version: Spanned<String>,
    pub image: Spanned<String>,
    pub modules: Vec<Spanned<String>>,
}

/// Whether the workload keeps HTTP sessions in Redis (read by the `session_redis`
/// server-wide module, which the image must ship).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RedisSpec {
    pub sessions: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub name: Spanned<String>,
    pub stage: Spanned<Stage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Spanned<String>>,
    pub hosts: Vec<Spanned<String>>,
    pub size: Size,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Spanned<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_from: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_store: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseTarget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filestore: Option<Spanned<String>>,
    /// This environment's own credential per integration name, in place of the
    /// integration's `credentialRef` (which production uses): a non-production
    /// environment may not mount a production credential (see `validate`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub integration_credentials: BTreeMap<String, SecretRef>,
    /// How this environment's backups are authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<EnvironmentBackup>,
}

/// `backup:` of an environment.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentBackup {
    /// The public halves of the backup signing keys (`ed25519:<base64>`) a snapshot of this
    /// environment must be signed with; the first is the one new backups use, the others are
    /// still accepted (a rotation). A change here is a change that needs approvals.
    pub signing_keys: Vec<Spanned<String>>,
}

/// Why `text` is not a backup signing public key (`ed25519:` and 32 bytes in standard
/// base64, 44 characters with one `=`). The Ed25519 point itself is checked by the vault.
pub fn check_signing_key(text: &str) -> Result<(), String> {
    let b64 = text
        .strip_prefix("ed25519:")
        .ok_or("a backup signing key starts with `ed25519:`")?;
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    let ok = b64.len() == 44 && b64.ends_with('=') && b64[..43].chars().all(alphabet);
    if ok {
        Ok(())
    } else {
        Err("after `ed25519:` comes the 32-byte public key in base64 (44 characters)".into())
    }
}

impl Environment {
    /// The credential this environment mounts for `integration`: its own
    /// `integrationCredentials` entry, else the integration's `credentialRef`.
    pub fn integration_credential<'a>(
        &'a self,
        integration: &'a Integration,
    ) -> Option<&'a SecretRef> {
        self.integration_credentials
            .get(&integration.name.value)
            .or(integration.credential_ref.as_ref())
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Size {
    pub cpu: Spanned<Millicores>,
    pub memory: Spanned<Bytes>,
    pub database: Spanned<Bytes>,
    pub filestore: Spanned<Bytes>,
}

/// Where the environment's database is, for backups run outside the cluster.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseTarget {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Spanned<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretRef>,
    /// How long `ward backup`, `restore` and `drill` wait for the server to accept the
    /// connection and the login (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Spanned<Duration>>,
    /// How long one statement, or a wait for a table lock, may take (default 5m).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_timeout: Option<Spanned<Duration>>,
    /// How `ward backup`, `restore` and `drill` protect the connection when no
    /// `--db-url` says: see [`crate::resolve::DatabaseEndpoint::sslmode`] for the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sslmode: Option<Spanned<DbSslMode>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub endpoint: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_owner: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_ref: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Spanned<FailureBehaviour>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HealthCheck {
    pub url: Spanned<String>,
    pub interval: Spanned<Duration>,
}

pub(crate) fn decode_workload(cx: &mut Cx, node: &Node) -> Option<WorkloadSpec> {
    mapping(cx, node, "spec", |cx, f| {
        let owner = req(cx, f, "owner", |cx, n, p| cx.name(n, p));
        let description = opt(cx, f, "description", |cx, n, p| cx.string(n, p));
        let classification = req(cx, f, "classification", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let ds = req(cx, f, "dataSensitivity", |cx, n, p| cx.choice(n, p));
                let ic = req(cx, f, "integrationCriticality", |cx, n, p| cx.choice(n, p));
                let uptime = req(cx, f, "uptime", |cx, n, p| cx.percent(n, p));
                let rpo = req(cx, f, "rpo", |cx, n, p| cx.duration(n, p));
                let rto = req(cx, f, "rto", |cx, n, p| cx.duration(n, p));
                let ci = opt(cx, f, "contractualIsolation", |cx, n, p| cx.bool(n, p))
                    .unwrap_or_else(|| Spanned::new(false, f.node.span));
                let hosting = opt(cx, f, "hosting", |cx, n, p| cx.choice(n, p));
                Some(ClassificationSpec {
                    data_sensitivity: ds?,
                    integration_criticality: ic?,
                    uptime: uptime?,
                    rpo: rpo?,
                    rto: rto?,
                    contractual_isolation: ci,
                    hosting,
                })
            })
        });
        let odoo = req(cx, f, "odoo", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let version = req(cx, f, "version", |cx, n, p| cx.string(n, p));
                let image = req(cx, f, "image", |cx, n, p| cx.string(n, p));
                let modules = strings(cx, f, "modules");
                for m in &modules {
                    // Odoo module names are Python package names; the upgrade passes
                    // them to `odoo --init/--update` as a comma-separated list.
                    let ok = !m.value.is_empty()
                        && m.value
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if !ok {
                        cx.error(
                            m.span,
                            format!(
                                "`{}` is not an Odoo module name: `{}`",
                                f.at("modules"),
                                crate::decode::escape(&m.value)
                            ),
                            "write the module's technical name, e.g. `account` or `l10n_generic_coa`",
                        );
                    }
                }
                Some(OdooSpec {
                    version: version?,
                    image: image?,
                    modules,
                })
            })
        });
        let redis = opt(cx, f, "redis", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                if let Some(queues) = f.opt("queues") {
                    cx.error(
                        queues.span,
                        format!("`{}` is not read by anything", f.at("queues")),
                        "remove it: queue_job keeps its queue in PostgreSQL, and Ward renders Redis for `sessions` only",
                    );
                }
                Some(RedisSpec {
                    sessions: flag(cx, f, "sessions"),
                })
            })
        })
        .unwrap_or_default();
        let environments = list(cx, f, "environments", decode_environment);
        if f.opt("environments").is_none() {
            f.req(cx, "environments");
        }
        let integrations = list(cx, f, "integrations", decode_integration);
        let services = strings(cx, f, "services");
        Some(WorkloadSpec {
            owner: owner?,
            description,
            classification: classification?,
            odoo: odoo?,
            redis,
            environments,
            integrations,
            services,
        })
    })
}

fn decode_environment(cx: &mut Cx, node: &Node, path: &str) -> Option<Environment> {
    mapping(cx, node, path, |cx, f| {
        let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
        let stage = req(cx, f, "stage", |cx, n, p| cx.choice(n, p));
        let cluster = opt(cx, f, "cluster", |cx, n, p| cx.name(n, p));
        let hosts = strings(cx, f, "hosts");
        let size = req(cx, f, "size", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let cpu = req(cx, f, "cpu", |cx, n, p| cx.cpu(n, p));
                let memory = req(cx, f, "memory", |cx, n, p| cx.bytes(n, p));
                let database = req(cx, f, "database", |cx, n, p| cx.bytes(n, p));
                let filestore = req(cx, f, "filestore", |cx, n, p| cx.bytes(n, p));
                Some(Size {
                    cpu: cpu?,
                    memory: memory?,
                    database: database?,
                    filestore: filestore?,
                })
            })
        });
        let replicas = opt(cx, f, "replicas", |cx, n, p| cx.uint(n, p, 100));
        let refresh_from = opt(cx, f, "refreshFrom", |cx, n, p| cx.name(n, p));
        let object_store = opt(cx, f, "objectStore", |cx, n, p| cx.name(n, p));
        let database = opt(cx, f, "database", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                Some(DatabaseTarget {
                    host: opt(cx, f, "host", |cx, n, p| cx.string(n, p)),
                    port: opt(cx, f, "port", |cx, n, p| cx.uint(n, p, 65_535)),
                    name: opt(cx, f, "name", |cx, n, p| cx.string(n, p)),
                    user: opt(cx, f, "user", |cx, n, p| cx.string(n, p)),
                    password_ref: opt(cx, f, "passwordRef", secret_ref),
                    connect_timeout: opt(cx, f, "connectTimeout", |cx, n, p| cx.duration(n, p)),
                    statement_timeout: opt(cx, f, "statementTimeout", |cx, n, p| cx.duration(n, p)),
                    sslmode: opt(cx, f, "sslmode", |cx, n, p| cx.choice(n, p)),
                })
            })
        });
        let filestore = opt(cx, f, "filestore", |cx, n, p| cx.string(n, p));
        let integration_credentials = opt(cx, f, "integrationCredentials", |cx, n, p| {
            mapping(cx, n, p, |cx, mf| {
                let mut out = BTreeMap::new();
                for (k, v) in mf.node_entries() {
                    let key = k.as_str().unwrap_or_default().to_string();
                    let path = mf.at(&key);
                    if let Some(r) = secret_ref(cx, v, &path) {
                        out.insert(key, r);
                    }
                }
                Some(out)
            })
        })
        .unwrap_or_default();
        let backup = opt(cx, f, "backup", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let signing_keys = list(cx, f, "signingKeys", |cx, n, p| {
                    let s = cx.string(n, p)?;
                    match check_signing_key(&s.value) {
                        Ok(()) => Some(s),
                        Err(why) => {
                            cx.error(
                                s.span,
                                format!("`{p}` is not a backup signing key: {why}"),
                                "paste the line `ward backup keygen <workload>/<env>` prints",
                            );
                            None
                        }
                    }
                });
                Some(EnvironmentBackup { signing_keys })
            })
        });
        Some(Environment {
            backup,
            name: name?,
            stage: stage?,
            cluster,
            hosts,
            size: size?,
            replicas,
            refresh_from,
            object_store,
            database,
            filestore,
            integration_credentials,
        })
    })
}

fn decode_integration(cx: &mut Cx, node: &Node, path: &str) -> Option<Integration> {
    mapping(cx, node, path, |cx, f| {
        let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
        let kind = req(cx, f, "kind", |cx, n, p| cx.name(n, p));
        let endpoint = req(cx, f, "endpoint", |cx, n, p| cx.string(n, p));
        let credential_owner = opt(cx, f, "credentialOwner", |cx, n, p| cx.name(n, p));
        let credential_ref = opt(cx, f, "credentialRef", secret_ref);
        let on_failure = opt(cx, f, "onFailure", |cx, n, p| cx.choice(n, p));
        let health_check = opt(cx, f, "healthCheck", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let url = req(cx, f, "url", |cx, n, p| cx.string(n, p));
                let interval = opt(cx, f, "interval", |cx, n, p| cx.duration(n, p))
                    .unwrap_or_else(|| Spanned::new(Duration::minutes(1), f.node.span));
                Some(HealthCheck {
                    url: url?,
                    interval,
                })
            })
        });
        Some(Integration {
            name: name?,
            kind: kind?,
            endpoint: endpoint?,
            credential_owner,
            credential_ref,
            on_failure,
            health_check,
        })
    })
}
