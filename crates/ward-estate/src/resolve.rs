//! Resolution: each workload environment classified and placed, with its defaults filled
//! in, ready for rendering, controls and backups.
//!
//! Naming conventions shared by the renderer and the vault (database host and name) are
//! decided here, once.

use crate::classify::{Classification, ClassificationInputs, classify};
use crate::decode::Cx;
use crate::load::Estate;
use crate::model::{ClusterRole, HostingModel, SecretRef, Stage};
use crate::source::{Location, Span, Spanned};
use serde::Serialize;

/// One workload environment with everything downstream needs to know about it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedEnvironment {
    pub workload: String,
    pub tenant: String,
    pub environment: String,
    pub stage: Stage,
    pub classification: Classification,
    /// The cluster it runs on.
    pub cluster: String,
    /// The cluster it recovers to, in another region where the platform has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_cluster: Option<String>,
    pub object_store: String,
    pub database: DatabaseEndpoint,
    /// Odoo's filestore folder for this environment's database.
    pub filestore: String,
    /// Where the environment is declared.
    pub location: Location,
}

impl ResolvedEnvironment {
    /// `workload/environment`, the address people type.
    pub fn address(&self) -> String {
        format!("{}/{}", self.workload, self.environment)
    }
}

/// Where the environment's PostgreSQL database is reached.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseEndpoint {
    pub host: String,
    pub port: u32,
    pub name: String,
    pub user: String,
    /// The `passwordRef` the estate declares, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretRef>,
    /// Where the password is read from: the declared `passwordRef`, else
    /// `<first secret store>:odoo/<workload>/<environment>#db_password`. The rendered
    /// ExternalSecret and `ward backup` both use this one reference.
    pub password_secret: SecretRef,
}

/// The classification inputs of one environment of one workload.
pub fn inputs(spec: &crate::model::WorkloadSpec, stage: Stage) -> ClassificationInputs {
    let c = &spec.classification;
    ClassificationInputs {
        data_sensitivity: c.data_sensitivity.value,
        integration_criticality: c.integration_criticality.value,
        uptime: c.uptime.value,
        rpo: c.rpo.value,
        rto: c.rto.value,
        contractual_isolation: c.contractual_isolation.value,
        hosting_request: c.hosting.as_ref().map(|h| h.value),
        stage,
    }
}

pub(crate) fn resolve(estate: &Estate, cx: &mut Cx) -> Vec<ResolvedEnvironment> {
    let Some(platform) = &estate.platform else {
        return Vec::new();
    };
    let p = &platform.spec;
    let first_of = |role| p.clusters.iter().find(|c| c.role.value == role);
    let default_store = p
        .object_stores
        .first()
        .map(|s| s.name.value.clone())
        .unwrap_or_default();
    let default_secret_store = p
        .secret_stores
        .first()
        .map_or_else(|| "default".to_string(), |s| s.name.value.clone());
    let mut out = Vec::new();
    for w in &estate.workloads {
        let tenant = w
            .metadata
            .tenant
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        for env in &w.spec.environments {
            let classification = classify(&inputs(&w.spec, env.stage.value), &p.tier_objectives);
            let wanted = match classification.hosting {
                HostingModel::Dedicated => ClusterRole::Dedicated,
                HostingModel::MultiTenant => ClusterRole::Shared,
            };
            let cluster = match &env.cluster {
                Some(c) => p.clusters.iter().find(|k| k.name.value == c.value),
                None => first_of(wanted),
            };
            let Some(cluster) = cluster else {
                cx.error(env.name.span,
                    format!("environment `{}/{}` is {} but the platform has no {} cluster", w.name(), env.name, classification.hosting, wanted),
                    format!("add a cluster with `role: {wanted}` to the platform, or set `cluster:` on this environment"));
                continue;
            };
            let recovery_cluster = (classification.tier <= 2)
                .then(|| {
                    let recovery = || {
                        p.clusters
                            .iter()
                            .filter(|c| c.role.value == ClusterRole::Recovery)
                    };
                    recovery()
                        .find(|c| c.region.value != cluster.region.value)
                        .or_else(|| recovery().next())
                        .map(|c| c.name.value.clone())
                })
                .flatten();
            let db = env.database.as_ref();
            let pick = |f: Option<&Spanned<String>>, default: String| {
                f.map_or(default, |s| s.value.clone())
            };
            // Dedicated: its own CloudNativePG cluster `<workload>-<env>-db`. Multi-tenant:
            // the shared cluster, where Odoo's `dbfilter = ^%h$` picks the database named
            // after the request's host, and each environment has its own role.
            let (default_host, default_name, default_user) = match classification.hosting {
                HostingModel::Dedicated => (
                    format!("{}-{}-db-rw", w.name(), env.name),
                    format!("{}-{}", w.name(), env.name),
                    w.name().to_string(),
                ),
                HostingModel::MultiTenant => (
                    "shared-db-rw".to_string(),
                    env.hosts
                        .first()
                        .map_or_else(|| format!("{}-{}", w.name(), env.name), |h| h.value.clone()),
                    format!("{}-{}", w.name(), env.name),
                ),
            };
            let db_name = pick(db.and_then(|d| d.name.as_ref()), default_name);
            let database = DatabaseEndpoint {
                host: pick(db.and_then(|d| d.host.as_ref()), default_host),
                port: db.and_then(|d| d.port.as_ref()).map_or(5432, |p| p.value),
                user: pick(db.and_then(|d| d.user.as_ref()), default_user),
                password_ref: db.and_then(|d| d.password_ref.clone()),
                password_secret: db.and_then(|d| d.password_ref.clone()).unwrap_or_else(|| {
                    let detached = |v: String| Spanned::new(v, Span::NONE);
                    SecretRef {
                        store: detached(default_secret_store.clone()),
                        key: detached(format!("odoo/{}/{}", w.name(), env.name.value)),
                        property: Some(detached("db_password".into())),
                    }
                }),
                name: db_name.clone(),
            };
            out.push(ResolvedEnvironment {
                workload: w.name().to_string(),
                tenant: tenant.clone(),
                environment: env.name.value.clone(),
                stage: env.stage.value,
                classification,
                cluster: cluster.name.value.clone(),
                recovery_cluster,
                object_store: env
                    .object_store
                    .as_ref()
                    .map_or_else(|| default_store.clone(), |s| s.value.clone()),
                database,
                filestore: env.filestore.as_ref().map_or_else(
                    || format!("/var/lib/odoo/filestore/{db_name}"),
                    |f| f.value.clone(),
                ),
                location: estate.sources.location(env.name.span),
            });
        }
    }
    out
}
