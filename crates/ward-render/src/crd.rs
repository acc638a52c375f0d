//! Typed serde structs for the custom resources the platform runs (CloudNativePG,
//! barman-cloud, Traefik, cert-manager, External Secrets, Argo CD, prometheus-operator).
//!
//! Only the fields Ward sets are modelled; tests check each kind against its upstream CRD.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use std::collections::BTreeMap;

/// Any custom resource: the usual envelope around a typed `spec`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomResource<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

/// A reference to one key of a Kubernetes Secret.
#[derive(Clone, Debug, Serialize)]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct LocalRef {
    pub name: String,
}

// ---- CloudNativePG ---------------------------------------------------------------------

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgClusterSpec {
    pub instances: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enable_superuser_access: bool,
    pub postgresql: PgConfig,
    pub storage: PgStorage,
    /// A volume of its own for `pg_wal`: WAL piling up while the archive is down never
    /// fills the data volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_storage: Option<PgStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<PgBootstrap>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PgPlugin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<PgReplica>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_clusters: Vec<PgExternalCluster>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<PgManaged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<PgAffinity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgConfig {
    pub parameters: BTreeMap<String, String>,
    #[serde(rename = "pg_hba", skip_serializing_if = "Vec::is_empty")]
    pub pg_hba: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronous: Option<PgSynchronous>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgSynchronous {
    /// `any` (quorum) or `first` (priority).
    pub method: &'static str,
    pub number: u32,
    /// `required`: a commit waits for the standby, so no acknowledged write is lost.
    pub data_durability: &'static str,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgStorage {
    pub size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgBootstrap {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initdb: Option<PgInitdb>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<PgRecovery>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgInitdb {
    pub database: String,
    pub owner: String,
    /// The owner's basic-auth Secret; without it CloudNativePG generates one,
    /// `<cluster>-app`, with a connection `uri` (the control plane's store uses that).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalRef>,
    pub data_checksums: bool,
    /// Run once, as the superuser, in the `postgres` database after `initdb`.
    #[serde(rename = "postInitSQL", skip_serializing_if = "Vec::is_empty")]
    pub post_init_sql: Vec<String>,
    /// Run once, as the superuser, in the new application database.
    #[serde(
        rename = "postInitApplicationSQL",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub post_init_application_sql: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PgRecovery {
    pub source: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgPlugin {
    pub name: String,
    #[serde(rename = "isWALArchiver", skip_serializing_if = "Option::is_none")]
    pub is_wal_archiver: Option<bool>,
    pub parameters: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PgReplica {
    pub enabled: bool,
    pub source: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PgExternalCluster {
    pub name: String,
    pub plugin: PgPlugin,
}

#[derive(Clone, Debug, Serialize)]
pub struct PgManaged {
    pub roles: Vec<PgRole>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgRole {
    pub name: String,
    pub ensure: &'static str,
    pub login: bool,
    pub inherit: bool,
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<LocalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PgAffinity {
    pub topology_key: String,
    pub enable_pod_anti_affinity: bool,
    pub pod_anti_affinity_type: &'static str,
}

/// `postgresql.cnpg.io/v1` `Database`: one database of a (shared) cluster.
#[derive(Clone, Debug, Serialize)]
pub struct PgDatabaseSpec {
    pub name: String,
    pub owner: String,
    pub cluster: LocalRef,
    pub ensure: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBackupSpec {
    /// Six fields: CloudNativePG's cron has seconds.
    pub schedule: String,
    pub cluster: LocalRef,
    pub method: &'static str,
    pub plugin_configuration: PluginConfiguration,
    pub backup_owner_reference: &'static str,
    pub immediate: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PluginConfiguration {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStoreSpec {
    pub configuration: BarmanConfiguration,
    pub retention_policy: String,
    /// The barman-cloud sidecar the plugin injects into every instance pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_sidecar_configuration: Option<InstanceSidecarConfiguration>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InstanceSidecarConfiguration {
    pub resources: k8s_openapi::api::core::v1::ResourceRequirements,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BarmanConfiguration {
    pub destination_path: String,
    #[serde(rename = "endpointURL", skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    pub s3_credentials: S3Credentials,
    pub wal: BarmanCompression,
    pub data: BarmanCompression,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Credentials {
    pub access_key_id: SecretKeyRef,
    pub secret_access_key: SecretKeyRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<SecretKeyRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BarmanCompression {
    pub compression: &'static str,
}

// ---- Traefik ----------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRouteSpec {
    pub entry_points: Vec<String>,
    pub routes: Vec<TraefikRoute>,
    pub tls: TraefikTls,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraefikRoute {
    pub kind: &'static str,
    #[serde(rename = "match")]
    pub rule: String,
    pub priority: u32,
    pub middlewares: Vec<LocalRef>,
    pub services: Vec<TraefikService>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TraefikService {
    pub name: String,
    pub port: u32,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikTls {
    pub secret_name: String,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MiddlewareSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeadersMiddleware>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffering: Option<BufferingMiddleware>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitMiddleware>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadersMiddleware {
    pub sts_seconds: u64,
    pub sts_include_subdomains: bool,
    pub sts_preload: bool,
    #[serde(rename = "forceSTSHeader")]
    pub force_sts_header: bool,
    pub custom_frame_options_value: String,
    pub content_security_policy: String,
    pub content_type_nosniff: bool,
    pub referrer_policy: String,
    pub permissions_policy: String,
    pub custom_response_headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BufferingMiddleware {
    pub max_request_body_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RateLimitMiddleware {
    pub average: u32,
    pub burst: u32,
    pub period: String,
}

// ---- cert-manager -----------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    pub secret_name: String,
    pub dns_names: Vec<String>,
    pub issuer_ref: IssuerRef,
    pub private_key: PrivateKey,
    pub duration: String,
    pub renew_before: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct IssuerRef {
    pub name: String,
    pub kind: &'static str,
    pub group: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateKey {
    pub algorithm: &'static str,
    pub size: u32,
    pub rotation_policy: &'static str,
}

// ---- External Secrets -------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretSpec {
    pub refresh_interval: String,
    pub secret_store_ref: SecretStoreRef,
    pub target: ExternalSecretTarget,
    pub data: Vec<ExternalSecretData>,
}

/// External Secrets' namespaced `SecretStore` (`external-secrets.io/v1`), Vault only.
#[derive(Clone, Debug, Serialize)]
pub struct SecretStoreSpec {
    pub provider: SecretStoreProvider,
}

#[derive(Clone, Debug, Serialize)]
pub struct SecretStoreProvider {
    pub vault: VaultStoreProvider,
}

#[derive(Clone, Debug, Serialize)]
pub struct VaultStoreProvider {
    pub server: String,
    pub path: String,
    pub version: String,
    pub auth: VaultAuth,
}

#[derive(Clone, Debug, Serialize)]
pub struct VaultAuth {
    pub kubernetes: VaultKubernetesAuth,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    pub mount_path: String,
    pub role: String,
    pub service_account_ref: ServiceAccountRef,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceAccountRef {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SecretStoreRef {
    pub name: String,
    pub kind: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTarget {
    pub name: String,
    pub creation_policy: &'static str,
    pub deletion_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    pub engine_version: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Go templates over the fetched values: only `{{ .key }}` references, never a value.
    pub data: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretData {
    pub secret_key: String,
    pub remote_ref: RemoteRef,
}

#[derive(Clone, Debug, Serialize)]
pub struct RemoteRef {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

// ---- Argo CD ----------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    pub project: String,
    pub source: ApplicationSource,
    pub destination: ApplicationDestination,
    pub sync_policy: SyncPolicy,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    pub target_revision: String,
    pub path: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ApplicationDestination {
    pub name: String,
    pub namespace: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    pub automated: Automated,
    pub sync_options: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Automated {
    pub prune: bool,
    pub self_heal: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    pub description: String,
    pub source_repos: Vec<String>,
    pub destinations: Vec<ApplicationDestination>,
    /// Cluster-scoped kinds an application of this project may create.
    pub cluster_resource_whitelist: Vec<GroupKind>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

// ---- prometheus-operator ----------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<AlertRule>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlertRule {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    pub selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    pub endpoints: Vec<MonitorEndpoint>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorEndpoint {
    pub port: String,
    pub path: String,
    pub interval: String,
}
