//! Resolution: each workload environment classified and placed, with its defaults filled
//! in, ready for rendering, controls and backups.
//!
//! Naming conventions shared by the renderer, the vault and the controls (the database's
//! CloudNativePG cluster, host and name) are decided here, once.

use crate::classify::{Classification, ClassificationInputs, classify};
use crate::decode::Cx;
use crate::load::Estate;
use crate::model::{ClusterRole, DataSensitivity, DbSslMode, HostingModel, SecretRef, Stage};
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
    /// The stack it is deployed in, `<cluster>/<namespace>` ([`stack_id`]): what the
    /// renderer deploys together, and the scope of a drill identity.
    pub stack: String,
    /// The cluster it recovers to, in another region where the platform has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_cluster: Option<String>,
    pub object_store: String,
    pub database: DatabaseEndpoint,
    /// Odoo's filestore folder for this environment's database.
    pub filestore: String,
    /// Where the environment is declared.
    pub location: Location,
    /// Its backup signing keys (`backup.signingKeys`, `ed25519:<base64>`): the first is the
    /// one new snapshots are signed with; every snapshot must verify against one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backup_signing_keys: Vec<String>,
    /// Where the backup job reads the private signing key from:
    /// `<first secret store>:ward/backup-signing/<workload>/<env>#private_key`. The rendered
    /// ExternalSecret and `ward backup run` both use this one reference. (Not in the
    /// serialized form controls read: it is derived, like the drill's.)
    #[serde(skip)]
    pub backup_signing_secret: SecretRef,
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
    /// The CloudNativePG cluster the renderer makes for this database: see
    /// [`db_cluster_name`]. Kept even when `host` is declared, so that the rendered
    /// objects and the controls name the same cluster.
    pub cluster: String,
    /// Where `ward backup` and `ward drill` connect: the declared host, else the
    /// cluster's read-write service ([`rw_service`]), which `odoo.conf` names too.
    pub host: String,
    /// Where Ward's logical snapshots read the database from: a standby where the
    /// posture gives the cluster more than one instance (CloudNativePG's read-only
    /// service, [`ro_service`]), so a long dump does not load the primary; else `host`.
    /// A declared `host` is used as it is: Ward does not know that server's standbys.
    pub snapshot_host: String,
    pub port: u32,
    pub name: String,
    /// The role Ward's backups and restores of this environment log in as: the owner
    /// itself on a dedicated server; on a multi-tenant one the tenant's own role, a member
    /// of [`owner`](Self::owner) that pg_hba admits to this database only.
    pub user: String,
    /// The role that owns the database and every object in it, the one Odoo logs in as
    /// (Odoo lists only the databases its own role owns): `user` when dedicated,
    /// [`SHARED_ODOO_ROLE`] when multi-tenant. A restore creates its objects as this role
    /// (`pg_restore --role=<owner>`), so that Odoo can alter them afterwards.
    pub owner: String,
    /// The `passwordRef` the estate declares, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_ref: Option<SecretRef>,
    /// Where the password is read from: the declared `passwordRef`, else
    /// `<first secret store>:odoo/<workload>/<environment>#db_password`. The rendered
    /// ExternalSecret and `ward backup` both use this one reference.
    pub password_secret: SecretRef,
    /// How restore drills reach this server: the renderer gives every PostgreSQL cluster
    /// this role, and `ward drill` logs in as it.
    pub drill: DrillAccess,
    /// libpq's `sslmode` for Ward's connections to this server (and its drill server)
    /// when no `--db-url` or `--db-sslmode` says: the declared `database.sslmode`, else
    /// [`default_sslmode`]. The rendered jobs always use `verify-full` against the
    /// cluster's CA ([`ca_secret`]) where the renderer makes the server.
    pub sslmode: DbSslMode,
}

impl DatabaseEndpoint {
    /// The role that owns the environment's database and everything in it: the one the
    /// renderer makes the database's owner, and the one `ward restore` hands a restored
    /// database to (`pg_restore --role`), so that what Odoo connects as can use it: the
    /// environment's own role when dedicated, Odoo's shared role on a shared stack.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

/// The PostgreSQL role restore drills use: it may create and drop the scratch databases
/// (`ward_drill_<hex>`), which the environment's own role may not, and nothing more.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillAccess {
    /// The server drills restore into, never the environment's own: the stack's drill
    /// cluster's read-write service (`<drill cluster>-rw`, see [`drill_cluster_name`]),
    /// which the renderer makes; or, when the environment declares `database.host` (a
    /// server Ward does not render), that host, as the operator's.
    pub host: String,
    /// [`DRILL_USER`].
    pub user: String,
    /// The database a drill connects to before its scratch database exists:
    /// [`DRILL_MAINTENANCE_DATABASE`].
    pub database: String,
    /// Where its password is read from: `<first secret store>:` plus a key per database
    /// server (see [`drill_secret_key`]), property `password`. One role on one server
    /// serves every environment of that server, so the key is the server's, not the
    /// environment's; the rendered ExternalSecret and `ward drill` use this reference.
    pub password_secret: SecretRef,
}

/// The role the Odoo deployment of a multi-tenant stack logs in as. It owns every database
/// of the stack: Odoo's `list_dbs` lists only databases whose owner is the connected role,
/// and `dbfilter = ^%h$` then picks one of them per request host.
pub const SHARED_ODOO_ROLE: &str = "odoo";

/// The drill role's name on every server.
pub const DRILL_USER: &str = "ward-drill";
/// Where a drill connects to create its scratch database.
pub const DRILL_MAINTENANCE_DATABASE: &str = "postgres";
/// The names restore drills give their scratch databases (`ward_vault::drill`): this
/// prefix and [`DRILL_DATABASE_HEX_DIGITS`] lowercase hex digits. The renderer admits the
/// drill role to these names only (where PostgreSQL can say so).
pub const DRILL_DATABASE_PREFIX: &str = "ward_drill_";
pub const DRILL_DATABASE_HEX_DIGITS: usize = 12;
/// The remote key of an environment's Odoo credentials (`admin_passwd`, and `db_password`
/// unless the environment declares a `passwordRef`): `odoo/<workload>/<environment>`.
pub fn odoo_secret_key(workload: &str, environment: &str) -> String {
    format!("odoo/{workload}/{environment}")
}

/// The property of the drill password's secret.
pub const DRILL_PASSWORD_PROPERTY: &str = "password";

/// The CloudNativePG cluster of an environment's database, computed here once and read by
/// the renderer (the `Cluster` object and `odoo.conf`), the vault (through `host`) and the
/// controls. Dedicated: `<workload>-<env>-db`, from the namespace name (a DNS label of at
/// most 63) and bounded to 50 characters so that CloudNativePG's derived names
/// (`<cluster>-rw`, `<cluster>-primary`, pod names) stay DNS labels. Multi-tenant: the
/// stack's shared cluster, `shared-db`.
pub fn db_cluster_name(hosting: HostingModel, workload: &str, environment: &str) -> String {
    match hosting {
        HostingModel::Dedicated => bounded_name(
            &format!(
                "{}-db",
                bounded_name(&format!("{workload}-{environment}"), 63)
            ),
            50,
        ),
        HostingModel::MultiTenant => "shared-db".to_string(),
    }
}

/// The namespace of an environment's stack: a dedicated environment's own,
/// `<workload>-<environment>`; multi-tenant environments of one cluster, stage and Odoo
/// major share `odoo-shared-<stage>-v<major>`. A DNS label of at most 63 characters.
pub fn stack_namespace(
    hosting: HostingModel,
    workload: &str,
    environment: &str,
    stage: Stage,
    odoo_version: &str,
) -> String {
    bounded_name(
        &match hosting {
            HostingModel::Dedicated => format!("{workload}-{environment}"),
            HostingModel::MultiTenant => {
                format!("odoo-shared-{stage}-v{}", odoo_major(odoo_version))
            }
        },
        63,
    )
}

/// A stack's name: `<cluster>/<namespace>`, as the deploy tree lays it out.
pub fn stack_id(cluster: &str, namespace: &str) -> String {
    format!("{cluster}/{namespace}")
}

/// Where a stack's drill identity is: `rendering.drillIdentity` with the stack's name
/// appended to its key (`<key>/<cluster>/<namespace>`). The one place that says so: the
/// rendered ExternalSecret fetches it from there.
pub fn drill_identity_ref(base: &SecretRef, stack: &str) -> SecretRef {
    SecretRef {
        store: base.store.clone(),
        key: Spanned::new(format!("{}/{stack}", base.key.value), base.key.span),
        property: base.property.clone(),
    }
}

/// The CloudNativePG cluster restore drills of the environments on `db_cluster` restore
/// into: a cluster of its own in the same namespace, so that a drill never loads, fills or
/// writes to the production server. Bounded like [`db_cluster_name`].
pub fn drill_cluster_name(db_cluster: &str) -> String {
    bounded_name(&format!("{db_cluster}-drill"), 50)
}

/// The database TLS mode an environment gets when its estate declares none: `verify-full`
/// (the certificate chains to the server's CA and names the host) where the workload holds
/// PHI, in every stage; else `require` (encrypted, the certificate not checked). Never
/// `prefer`, which an active attacker can downgrade to plain text: a person asks for it.
pub fn default_sslmode(data_sensitivity: DataSensitivity) -> DbSslMode {
    match data_sensitivity {
        DataSensitivity::Phi => DbSslMode::VerifyFull,
        _ => DbSslMode::Require,
    }
}

/// The Secret in which CloudNativePG keeps the CA that signs `cluster`'s server
/// certificate (when the `Cluster` names no `certificates.serverCASecret`, as the rendered
/// ones do not), and the key of its PEM certificate: what `sslmode=verify-full` checks
/// against. The rendered jobs mount this key only, never the CA's private key beside it.
pub fn ca_secret(cluster: &str) -> (String, &'static str) {
    (format!("{cluster}-ca"), "ca.crt")
}

/// The read-write service CloudNativePG makes for `cluster`: the host Odoo and the vault
/// connect to.
pub fn rw_service(cluster: &str) -> String {
    format!("{cluster}-rw")
}

/// The read-only service CloudNativePG makes for `cluster`: its hot standbys only, never
/// the primary (`<cluster>-r` would include it).
pub fn ro_service(cluster: &str) -> String {
    format!("{cluster}-ro")
}

/// A DNS-1123 name of at most `max` characters: long names keep a readable prefix and
/// end in a short hash of the whole, so two long names never collide.
pub fn bounded_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    // Names are ASCII (DNS labels), so any byte offset is a character boundary; `get`
    // keeps a non-ASCII name from panicking all the same.
    let keep = max.saturating_sub(9);
    let prefix = name.get(..keep).unwrap_or(name).trim_end_matches('-');
    format!("{prefix}-{short}")
}

/// The Odoo major version of a version string (`17` of `17.0`): environments of one
/// cluster, stage and major share a multi-tenant stack, hence a database server.
pub fn odoo_major(version: &str) -> &str {
    version.split('.').next().unwrap_or_default()
}

/// The secret key of the drill password of the database server an environment is on: one
/// per server, in the hosting model's terms. A dedicated environment has a server of its
/// own (`ward/drill/<cluster>/dedicated/<workload>/<env>`); multi-tenant environments
/// share the server of their cluster, stage and Odoo major version
/// (`ward/drill/<cluster>/shared/<stage>/v<major>`). The two shapes cannot collide, and
/// stages never share a password.
pub fn drill_secret_key(
    cluster: &str,
    hosting: HostingModel,
    workload: &str,
    environment: &str,
    stage: Stage,
    odoo_version: &str,
) -> String {
    match hosting {
        HostingModel::Dedicated => {
            format!("ward/drill/{cluster}/dedicated/{workload}/{environment}")
        }
        HostingModel::MultiTenant => {
            format!(
                "ward/drill/{cluster}/shared/{stage}/v{}",
                odoo_major(odoo_version)
            )
        }
    }
}

/// The secret key of an environment's backup signing key (its private half, the file
/// `BackupSigningKey::load` reads), one per environment: only that environment's backup job
/// mounts it.
pub fn backup_signing_secret_key(workload: &str, environment: &str) -> String {
    format!("ward/backup-signing/{workload}/{environment}")
}

/// The property of [`backup_signing_secret_key`] holding the key.
pub const BACKUP_SIGNING_PROPERTY: &str = "private_key";

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
            // Dedicated: its own CloudNativePG cluster. Multi-tenant: the shared cluster,
            // where Odoo's `dbfilter = ^%h$` picks the database named after the request's
            // host, and each environment has its own role.
            let db_cluster = db_cluster_name(classification.hosting, w.name(), &env.name.value);
            let (default_name, default_user) = match classification.hosting {
                HostingModel::Dedicated => {
                    (format!("{}-{}", w.name(), env.name), w.name().to_string())
                }
                HostingModel::MultiTenant => (
                    env.hosts
                        .first()
                        .map_or_else(|| format!("{}-{}", w.name(), env.name), |h| h.value.clone()),
                    format!("{}-{}", w.name(), env.name),
                ),
            };
            let db_name = pick(db.and_then(|d| d.name.as_ref()), default_name);
            let user = pick(db.and_then(|d| d.user.as_ref()), default_user);
            check_identifier_lengths(cx, w, env, classification.hosting, &db_name, &user);
            let detached = |v: String| Spanned::new(v, Span::NONE);
            let drill_key = drill_secret_key(
                &cluster.name.value,
                classification.hosting,
                w.name(),
                &env.name.value,
                env.stage.value,
                &w.spec.odoo.version.value,
            );
            // The key is also a file path under the secrets folder: only the Odoo version
            // is free text in it.
            if let Some(segment) = crate::model::unusable_secret_segment(&drill_key) {
                cx.error(
                    w.spec.odoo.version.span,
                    format!("the drill password's secret key {drill_key:?} has a part {segment:?} that cannot name a file"),
                    "write the Odoo version as `<major>.<minor>`, e.g. \"17.0\"",
                );
            }
            let owner = match classification.hosting {
                HostingModel::Dedicated => user.clone(),
                HostingModel::MultiTenant => SHARED_ODOO_ROLE.to_string(),
            };
            check_reserved_role(cx, w, env, classification.hosting, &user);
            let declared_host = db.and_then(|d| d.host.as_ref());
            let snapshot_host = match declared_host {
                Some(h) => h.value.clone(),
                None if classification.posture.postgres_instances > 1 => ro_service(&db_cluster),
                None => rw_service(&db_cluster),
            };
            let drill_host = pick(declared_host, rw_service(&drill_cluster_name(&db_cluster)));
            let database = DatabaseEndpoint {
                owner,
                host: pick(declared_host, rw_service(&db_cluster)),
                snapshot_host,
                cluster: db_cluster,
                port: db.and_then(|d| d.port.as_ref()).map_or(5432, |p| p.value),
                user,
                password_ref: db.and_then(|d| d.password_ref.clone()),
                password_secret: db.and_then(|d| d.password_ref.clone()).unwrap_or_else(|| {
                    SecretRef {
                        store: detached(default_secret_store.clone()),
                        key: detached(odoo_secret_key(w.name(), &env.name.value)),
                        property: Some(detached("db_password".into())),
                    }
                }),
                drill: DrillAccess {
                    host: drill_host,
                    user: DRILL_USER.into(),
                    database: DRILL_MAINTENANCE_DATABASE.into(),
                    password_secret: SecretRef {
                        store: detached(default_secret_store.clone()),
                        key: detached(drill_key),
                        property: Some(detached(DRILL_PASSWORD_PROPERTY.into())),
                    },
                },
                name: db_name.clone(),
                sslmode: db.and_then(|d| d.sslmode.as_ref()).map_or_else(
                    || default_sslmode(w.spec.classification.data_sensitivity.value),
                    |m| m.value,
                ),
            };
            let stack = stack_id(
                &cluster.name.value,
                &stack_namespace(
                    classification.hosting,
                    w.name(),
                    &env.name.value,
                    env.stage.value,
                    &w.spec.odoo.version.value,
                ),
            );
            out.push(ResolvedEnvironment {
                workload: w.name().to_string(),
                tenant: tenant.clone(),
                environment: env.name.value.clone(),
                stage: env.stage.value,
                classification,
                cluster: cluster.name.value.clone(),
                stack,
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
                backup_signing_keys: env
                    .backup
                    .iter()
                    .flat_map(|b| b.signing_keys.iter().map(|k| k.value.clone()))
                    .collect(),
                backup_signing_secret: SecretRef {
                    store: detached(default_secret_store.clone()),
                    key: detached(backup_signing_secret_key(w.name(), &env.name.value)),
                    property: Some(detached(BACKUP_SIGNING_PROPERTY.into())),
                },
            });
        }
    }
    // A drill recipient for a stack no environment is in is added to nothing: a warning
    // (renaming an environment must not break the estate), naming the stacks there are.
    let stacks: std::collections::BTreeSet<&str> = out.iter().map(|e| e.stack.as_str()).collect();
    for (stack, recipient) in &p.rendering.drill_recipients {
        if !stacks.contains(stack.as_str()) {
            cx.warnings.push(
                crate::source::Diagnostic::new(
                    recipient.span,
                    format!("`spec.rendering.drillRecipients` names the stack `{stack}`, which no environment is in"),
                )
                .hint(format!(
                    "name a stack as `<cluster>/<namespace>`, as the deploy tree lays it out: {}",
                    stacks.iter().copied().collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    out
}

/// PostgreSQL keeps the first 63 bytes of a name (`NAMEDATALEN` − 1) and drops the rest
/// without an error, so a longer database no longer matches the rendered `dbfilter`, and a
/// longer role is not the one the password was set for.
pub const MAX_POSTGRES_NAME_BYTES: usize = 63;

/// Refuses a role name the renderer gives another role on the same server: the drill
/// role's anywhere, and on a multi-tenant server the shared Odoo role's, which owns every
/// tenant's database (a tenant logging in as it would reach them all).
fn check_reserved_role(
    cx: &mut Cx,
    w: &crate::model::Document<crate::model::WorkloadSpec>,
    env: &crate::model::Environment,
    hosting: HostingModel,
    user: &str,
) {
    let reserved =
        user == DRILL_USER || (hosting == HostingModel::MultiTenant && user == SHARED_ODOO_ROLE);
    if !reserved {
        return;
    }
    let span = env
        .database
        .as_ref()
        .and_then(|d| d.user.as_ref())
        .map_or(env.name.span, |u| u.span);
    cx.error(
        span,
        format!(
            "`database.user` of `{}/{}` is `{user}`, a role Ward renders for its own use on this server",
            w.name(),
            env.name.value
        ),
        format!("choose another role name than `{DRILL_USER}` and `{SHARED_ODOO_ROLE}`"),
    );
}

/// Refuses a database or role name PostgreSQL would truncate, at the field it came from:
/// `database.name` / `database.user` when written, else the field the default is made of.
fn check_identifier_lengths(
    cx: &mut Cx,
    w: &crate::model::Document<crate::model::WorkloadSpec>,
    env: &crate::model::Environment,
    hosting: HostingModel,
    database: &str,
    user: &str,
) {
    /// Where a name came from, which says what to change.
    enum Origin {
        /// `database.name` / `database.user`, as written.
        Written,
        /// The environment's first host (a multi-tenant database).
        Host,
        /// A default made of names: the workload's, or `<workload>-<environment>`.
        Names(&'static str),
    }
    let address = format!("{}/{}", w.name(), env.name.value);
    let written = env.database.as_ref();
    // The same choices as the defaults above: a multi-tenant database is named after the
    // first host; otherwise names are made of the workload and environment names.
    let (name_span, name_origin) = match (
        written.and_then(|d| d.name.as_ref()),
        hosting,
        env.hosts.first(),
    ) {
        (Some(n), ..) => (n.span, Origin::Written),
        (None, HostingModel::MultiTenant, Some(h)) => (h.span, Origin::Host),
        (None, ..) => (env.name.span, Origin::Names("`<workload>-<environment>`")),
    };
    let (user_span, user_origin) = match (written.and_then(|d| d.user.as_ref()), hosting) {
        (Some(u), _) => (u.span, Origin::Written),
        (None, HostingModel::Dedicated) => {
            (w.metadata.name.span, Origin::Names("the workload's name"))
        }
        (None, HostingModel::MultiTenant) => {
            (env.name.span, Origin::Names("`<workload>-<environment>`"))
        }
    };
    const MAX: usize = MAX_POSTGRES_NAME_BYTES;
    for (what, field, value, span, origin) in [
        (
            "database name",
            "database.name",
            database,
            name_span,
            name_origin,
        ),
        ("role name", "database.user", user, user_span, user_origin),
    ] {
        let n = value.len();
        if n <= MAX {
            continue;
        }
        let truncated = format!("PostgreSQL truncates a {what} to {MAX}");
        let set = format!("set `{field}` on this environment to a name of at most {MAX} bytes");
        let defaults = |from: &str| {
            format!(
                "the {what} of `{address}` defaults to {from}, `{}`, which is {n} bytes; {truncated}",
                crate::decode::escape(value)
            )
        };
        let (message, hint) = match origin {
            Origin::Written => (
                format!("`{field}` of `{address}` is {n} bytes; {truncated}"),
                format!("shorten it to at most {MAX} bytes"),
            ),
            Origin::Host => (
                defaults("its first host"),
                format!(
                    "list a host of at most {MAX} bytes first (Odoo's `dbfilter = ^%h$` finds the database by it), or {set}"
                ),
            ),
            Origin::Names(from) => (defaults(from), set),
        };
        cx.error(span, message, hint);
    }
}
