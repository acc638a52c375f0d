//! Data services: the CloudNativePG cluster with its roles, databases, WAL archive and
//! recovery replica, the object stores it archives to, and Redis where something uses it.

use super::*;
use crate::postgres;
use k8s_openapi::api::core::v1::ConfigMap;
use ward_estate::resolve::SHARED_ODOO_ROLE;

use ward_estate::DrPosture;
use ward_estate::model::ObjectStore;

/// Where a cluster's archive lives in `store`: `s3://<bucket>/<prefix>/<cluster>/<ns>`,
/// with the store's endpoint. `prefix_of` is the store whose prefix the keys carry: the
/// store written to, or, for a bucket-replicated copy, the store replicated from (S3
/// replication keeps the keys).
pub(super) fn store_path(
    store: Option<&ObjectStore>,
    prefix_of: Option<&ObjectStore>,
    cluster: &str,
    ns: &str,
) -> (String, Option<String>) {
    let Some(store) = store else {
        return (format!("s3://ward-archive/{cluster}/{ns}"), None);
    };
    let bucket = store
        .bucket
        .as_ref()
        .map_or("ward-archive", |b| b.value.as_str());
    let prefix = prefix_of
        .and_then(|s| s.prefix.as_ref())
        .map_or(String::new(), |p| format!("{}/", p.value.trim_matches('/')));
    (
        format!("s3://{bucket}/{prefix}{cluster}/{ns}"),
        store.endpoint.as_ref().map(|e| e.value.clone()),
    )
}

pub(super) fn archive_path(
    settings: &Settings,
    cluster: &str,
    ns: &str,
) -> (String, Option<String>) {
    let store = settings.archive_store.as_ref();
    store_path(store, store, cluster, ns)
}

/// The store the archive store replicates to (`replicateTo`), in the recovery region: the
/// recovery standby reads the primary's WAL from this copy and, once promoted, archives
/// its own there.
pub(super) fn recovery_archive_store(settings: &Settings) -> Option<&ObjectStore> {
    let name = settings.archive_store.as_ref()?.replicate_to.as_ref()?;
    settings
        .object_stores
        .get(&name.value)
        .filter(|s| s.kind.value == ward_estate::model::StoreKind::S3)
}

/// The Secret an archive ObjectStore reads its S3 keys from.
pub(super) const ARCHIVE_CREDENTIALS_SECRET: &str = "archive-credentials";
/// The same for the recovery region's copy, when it has keys of its own.
pub(super) const RECOVERY_ARCHIVE_CREDENTIALS_SECRET: &str = "archive-recovery-credentials";
/// The barman-cloud ObjectStore a cluster archives to, and the one a recovery standby
/// reads its source from.
pub(super) const ARCHIVE_OBJECT_STORE: &str = "archive";
pub(super) const SOURCE_OBJECT_STORE: &str = "archive-source";

/// How long barman-cloud keeps base backups and WAL: the posture's point-in-time window,
/// and no less than the store's object lock, which would refuse an earlier deletion.
/// Older history is Ward's logical snapshots', kept by their own retention.
pub(super) fn archive_retention_days(posture: &DrPosture, store: Option<&ObjectStore>) -> u64 {
    let window = posture.pitr_window.as_secs().div_ceil(86_400).max(1);
    let lock = store
        .and_then(|s| s.object_lock.as_ref())
        .map_or(0, |l| u64::from(l.days.value));
    window.max(lock)
}

pub(super) fn barman_store(
    (sidecar_cpu, sidecar_memory): (u32, u64),
    name: &str,
    (destination_path, endpoint_url): (String, Option<String>),
    credentials: &str,
    retention_days: u64,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> CustomResource<ObjectStoreSpec> {
    cr(
        "barmancloud.cnpg.io/v1",
        "ObjectStore",
        meta(name, ns, common),
        ObjectStoreSpec {
            configuration: BarmanConfiguration {
                destination_path,
                endpoint_url,
                s3_credentials: S3Credentials {
                    access_key_id: SecretKeyRef {
                        name: credentials.into(),
                        key: "ACCESS_KEY_ID".into(),
                    },
                    secret_access_key: SecretKeyRef {
                        name: credentials.into(),
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
            retention_policy: format!("{retention_days}d"),
            instance_sidecar_configuration: Some(InstanceSidecarConfiguration {
                resources: resources(&cpu_quantity(sidecar_cpu), &quantity(sidecar_memory)),
            }),
        },
    )
}

pub(super) fn object_store(
    settings: &Settings,
    s: &Stack<'_>,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> CustomResource<ObjectStoreSpec> {
    barman_store(
        barman_sidecar_sizing(s),
        ARCHIVE_OBJECT_STORE,
        archive_path(settings, &s.cluster, ns),
        ARCHIVE_CREDENTIALS_SECRET,
        archive_retention_days(&s.posture, settings.archive_store.as_ref()),
        ns,
        common,
    )
}

/// The base backups' ScheduledBackup of `cluster`: at the posture's own base-backup
/// cadence, never the RPO's (WAL archiving meets that).
pub(super) fn scheduled_backup(
    s: &Stack<'_>,
    cluster: &str,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> CustomResource<ScheduledBackupSpec> {
    cr(
        "postgresql.cnpg.io/v1",
        "ScheduledBackup",
        meta(cluster, ns, common),
        ScheduledBackupSpec {
            schedule: schedule::every_with_seconds(s.posture.base_backup_interval, ns),
            cluster: LocalRef {
                name: cluster.to_string(),
            },
            method: "plugin",
            plugin_configuration: PluginConfiguration {
                name: BARMAN_PLUGIN.into(),
            },
            backup_owner_reference: "self",
            immediate: true,
        },
    )
}

/// The metrics Service of a cluster's instances (CloudNativePG's exporter on 9187, which
/// also carries the barman-cloud plugin's metrics), for the ServiceMonitor.
pub(super) fn metrics_service(
    cluster: &str,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> Service {
    Service {
        metadata: meta(&format!("{cluster}-metrics"), ns, common),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels(&[("cnpg.io/cluster", cluster)])),
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
    }
}

pub(super) fn barman_plugin(archiver: bool, server_name: Option<&str>) -> PgPlugin {
    barman_plugin_for(ARCHIVE_OBJECT_STORE, archiver, server_name)
}

pub(super) fn barman_plugin_for(
    store: &str,
    archiver: bool,
    server_name: Option<&str>,
) -> PgPlugin {
    let mut parameters = BTreeMap::from([("barmanObjectName".to_string(), store.to_string())]);
    if let Some(n) = server_name {
        parameters.insert("serverName".into(), n.to_string());
    }
    PgPlugin {
        name: BARMAN_PLUGIN.into(),
        is_wal_archiver: archiver.then_some(true),
        parameters,
    }
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn round_up(bytes: u64, unit: u64) -> u64 {
    bytes.div_ceil(unit).saturating_mul(unit)
}

/// The volumes of one PostgreSQL instance, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PgVolumes {
    pub(super) data: u64,
    /// A separate `pg_wal` volume (`walStorage`), for tier 1.
    pub(super) wal: Option<u64>,
}

impl PgVolumes {
    /// The PVCs of one instance, and their requests together.
    pub(super) fn claims(self) -> u32 {
        1 + u32::from(self.wal.is_some())
    }

    pub(super) fn bytes(self) -> u64 {
        self.data.saturating_add(self.wal.unwrap_or(0))
    }
}

/// Sizes each instance's volumes from the declared database, with headroom: a volume
/// exactly the database's size fills with the first bloat, index rebuild or `VACUUM FULL`,
/// and then PostgreSQL stops. Tier 1 keeps WAL on a volume of its own (a quarter of the
/// database, at least 4 GiB: WAL held back while the archive is unreachable) and its data
/// volume is 1.5× the database; below tier 1 WAL shares the data volume, which is then 2×.
/// Whole GiB, at least 2 GiB.
pub(super) fn pg_volumes(s: &Stack<'_>) -> PgVolumes {
    let db = s.database_bytes;
    if s.tier == 1 {
        PgVolumes {
            data: round_up((db.saturating_mul(3) / 2).max(2 * GIB), GIB),
            wal: Some(round_up((db / 4).max(4 * GIB), GIB)),
        }
    } else {
        PgVolumes {
            data: round_up(db.saturating_mul(2).max(2 * GIB), GIB),
            wal: None,
        }
    }
}

fn pg_storage(settings: &Settings, bytes: u64) -> PgStorage {
    PgStorage {
        size: quantity(bytes),
        // Block storage: one writer per volume, PostgreSQL's own fsync semantics.
        storage_class: settings.database_storage_class.clone(),
    }
}

/// The connections each instance admits (`max_connections`): what the memory below is
/// sized for.
pub(super) fn max_connections(s: &Stack<'_>) -> u32 {
    connection_budget(s).max_connections()
}

/// Memory per connection the sizing reserves: a backend's own memory plus some
/// `work_mem` for the sorts and hashes of Odoo's reports.
const PG_MEMORY_PER_CONNECTION: u64 = 8 * MIB;

/// CPU and memory of one PostgreSQL instance, sized from the database rather than from a
/// web pod: memory to cache a tenth of the data (a quarter of it becomes
/// `shared_buffers`, the rest is the page cache `effective_cache_size` counts on) plus
/// [`PG_MEMORY_PER_CONNECTION`] for each of [`max_connections`]; CPU 5 m per connection
/// and per GiB of data. Memory in steps of 256 MiB, between 1 and 64 GiB; CPU in steps
/// of 100 m, between 500 m and 16 cores.
pub(super) fn pg_sizing(s: &Stack<'_>) -> (u32, u64) {
    let connections = u64::from(max_connections(s));
    let gib = s.database_bytes.div_ceil(GIB);
    let memory = (s.database_bytes / 10)
        .saturating_add(connections * PG_MEMORY_PER_CONNECTION)
        .clamp(GIB, 64 * GIB);
    let cpu = (connections + gib).saturating_mul(5).clamp(500, 16_000);
    let cpu = u32::try_from(round_up(cpu, 100)).unwrap_or(16_000);
    (cpu, round_up(memory, 256 * MIB))
}

pub(super) fn pg_resources(s: &Stack<'_>) -> ResourceRequirements {
    let b = budget(s);
    resources(&cpu_quantity(b.pg_cpu), &quantity(b.pg_memory))
}

/// CPU and memory of the barman-cloud sidecar in each instance pod. It compresses and
/// uploads every WAL segment and streams base backups, so its CPU grows with the data
/// (5 m per GiB, between 250 m and 2 cores); memory is flat, uploads being streamed.
/// Requests equal limits, as for PostgreSQL, so the pod keeps Guaranteed QoS.
pub(super) fn barman_sidecar_sizing(s: &Stack<'_>) -> (u32, u64) {
    barman_sidecar_for(s.database_bytes)
}

/// [`barman_sidecar_sizing`] for a cluster of `database_bytes` (the control plane's store
/// has no stack).
pub(super) fn barman_sidecar_for(database_bytes: u64) -> (u32, u64) {
    let gib = database_bytes.div_ceil(GIB);
    let cpu = u32::try_from(round_up(gib.saturating_mul(5).clamp(250, 2000), 50)).unwrap_or(2000);
    (cpu, 512 * MIB)
}

pub(super) fn pg_parameters(s: &Stack<'_>) -> BTreeMap<String, String> {
    let mem = budget(s).pg_memory;
    let mut parameters = archive_parameters(&s.posture);
    if s.posture.postgres_instances > 1 {
        // Ward's logical snapshot reads a replica (the `-ro` service) for as long as the
        // dump runs. `hot_standby_feedback` stops vacuum conflicts, not lock ones: a
        // replayed ACCESS EXCLUSIVE lock (autovacuum truncating a table's empty tail, an
        // Odoo upgrade's DDL) waits for the dump's ACCESS SHARE locks, and after
        // PostgreSQL's default 30 s would cancel the dump. Replay waits instead, as long
        // as the backup job may run (its `activeDeadlineSeconds`, after which Kubernetes
        // has stopped the dump anyway); the cost, only while such a conflict lasts: the
        // replica's replay lags, so its readers see older data and a failover to it
        // replays the lag first (no committed write is lost: synchronous replication
        // counts WAL flushed, not replayed).
        let longest_backup = s
            .members
            .iter()
            .map(|m| member_job_sizing(m, WardJob::Backup).deadline_seconds)
            .max()
            .unwrap_or(3600);
        for name in ["max_standby_streaming_delay", "max_standby_archive_delay"] {
            parameters.insert(name.to_string(), format!("{longest_backup}s"));
        }
    }
    parameters.extend([
        (
            "max_connections".to_string(),
            max_connections(s).to_string(),
        ),
        ("shared_buffers".to_string(), quantity_pg(mem / 4)),
        ("effective_cache_size".to_string(), quantity_pg(mem / 4 * 3)),
        // Odoo's driver (psycopg2) writes every value into the statement text, so a
        // logged statement is a logged value: no slow-statement log, and no statement
        // text beside an error. Slow queries are found with pg_stat_statements, which
        // normalises the values away. Parameters sent apart (other clients) are not
        // logged either. Error messages may still quote a value: see
        // docs/rendering.md, the server logs of a PHI cluster are PHI.
        ("log_min_duration_statement".to_string(), "-1".to_string()),
        ("log_min_error_statement".to_string(), "panic".to_string()),
        ("log_parameter_max_length".to_string(), "0".to_string()),
        (
            "log_parameter_max_length_on_error".to_string(),
            "0".to_string(),
        ),
        // No DETAIL lines, which quote the key values of a violated constraint.
        ("log_error_verbosity".to_string(), "terse".to_string()),
        (
            "password_encryption".to_string(),
            "scram-sha-256".to_string(),
        ),
    ]);
    parameters
}

/// The parameters the posture's recovery mechanisms need: `archive_timeout`, so that WAL
/// reaches the archive within the RPO however quiet the database is, and, where there is
/// a standby, `hot_standby_feedback`, so that Ward's logical snapshot, which reads from the
/// standby, is not cancelled by a recovery conflict when the primary vacuums rows the dump
/// still sees (the cost: the primary keeps those row versions until the dump ends).
pub(super) fn archive_parameters(p: &DrPosture) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::from([(
        "archive_timeout".to_string(),
        format!("{}s", p.archive_timeout.as_secs()),
    )]);
    if p.postgres_instances > 1 {
        parameters.insert("hot_standby_feedback".into(), "on".into());
    }
    parameters
}

/// The connections a stack's clients can hold at once on its PostgreSQL cluster, at their
/// peak: the web pods at the autoscaler's maximum plus the one extra pod a rolling update
/// adds (`maxSurge: 1`), the cron pod, Ward's jobs, and what CloudNativePG keeps for
/// itself. `max_connections` is their sum, so that no client is ever refused a slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionBudget {
    pub web_pods: u32,
    pub web_pod_connections: u32,
    pub cron_pods: u32,
    pub cron_pod_connections: u32,
    pub ward_jobs: u32,
    pub reserved: u32,
}

/// Connections one of Ward's jobs opens: `pg_dump` or `pg_restore` (one, single-threaded)
/// and its own check of the server.
pub(crate) const WARD_JOB_CONNECTIONS: u32 = 2;
/// CloudNativePG's own: `superuser_reserved_connections` (PostgreSQL's default, 3), the
/// instance manager, its probes and the metrics exporter.
pub(crate) const CNPG_RESERVED_CONNECTIONS: u32 = 3 + 7;
/// PostgreSQL's default, kept as a floor for small stacks.
pub(crate) const MIN_MAX_CONNECTIONS: u32 = 100;

impl ConnectionBudget {
    pub(crate) fn max_connections(&self) -> u32 {
        let sum = self.web_pods * self.web_pod_connections
            + self.cron_pods * self.cron_pod_connections
            + self.ward_jobs * WARD_JOB_CONNECTIONS
            + self.reserved;
        sum.max(MIN_MAX_CONNECTIONS)
    }
}

pub(crate) fn connection_budget(s: &Stack<'_>) -> ConnectionBudget {
    let sized = |role| {
        let (cpu, memory) = pod_resources(s, role);
        odoo::sizing(role, cpu, memory)
    };
    let members = u32::try_from(s.members.len()).unwrap_or(u32::MAX);
    ConnectionBudget {
        web_pods: max_web(s).max(s.replicas) + 1,
        web_pod_connections: odoo::pod_max_connections(OdooRole::Web, &sized(OdooRole::Web)),
        // `Recreate`: never two cron pods. The init and upgrade job runs while cron is
        // scaled to zero, within the cron pod's share.
        cron_pods: 1,
        cron_pod_connections: odoo::pod_max_connections(OdooRole::Cron, &sized(OdooRole::Cron)),
        // A backup and a drill CronJob per environment, which may overlap.
        ward_jobs: 2 * members,
        reserved: CNPG_RESERVED_CONNECTIONS,
    }
}

/// PostgreSQL memory settings in whole MB.
pub(super) fn quantity_pg(bytes: u64) -> String {
    format!("{}MB", (bytes >> 20).max(128))
}

/// The managed role restore drills log in as: it may create databases (its scratch
/// copies, which it then owns and drops) and nothing else. No superuser, no role creation,
/// no replication or RLS bypass (CloudNativePG's defaults), a member only of
/// [`postgres::MAINTENANCE_CONNECT_ROLE`], which may connect to `postgres` (where it
/// creates its copies) now that `PUBLIC` may not. `inherit` stays on: since PostgreSQL 15 a database's `public` schema belongs to
/// `pg_database_owner`, which the owner of a scratch database is a member of only
/// implicitly; without inheriting, the restore cannot create tables there (shown by
/// `ward-cli`'s drill test). Being a member of nothing else, it inherits nothing else.
pub(super) fn drill_role(drill: &ward_estate::DrillAccess) -> PgRole {
    PgRole {
        name: drill.user.clone(),
        ensure: "present",
        login: true,
        inherit: true,
        superuser: false,
        createdb: true,
        createrole: false,
        in_roles: vec![postgres::MAINTENANCE_CONNECT_ROLE.to_string()],
        password_secret: Some(LocalRef {
            name: DRILL_CREDENTIALS_SECRET.into(),
        }),
        comment: Some("Ward's restore drills: scratch databases ward_drill_<hex> only".into()),
    }
}

/// The PostgreSQL major of the image Ward renders when the platform sets no
/// `rendering.postgresImage` ([`cnpg_postgres_image`] of it, never CloudNativePG's own
/// default, which moves with the operator: 17 for 1.27, 18 from 1.27.2). Compose reads the
/// same constant.
pub(super) const CNPG_DEFAULT_POSTGRES_MAJOR: u32 = crate::stack::POSTGRES_MAJOR;

/// The image of the stack's PostgreSQL clusters: the platform's, or Ward's default major.
pub(super) fn postgres_image(settings: &Settings) -> String {
    settings
        .postgres_image
        .clone()
        .unwrap_or_else(|| crate::stack::cnpg_postgres_image(CNPG_DEFAULT_POSTGRES_MAJOR))
}

/// The first PostgreSQL major whose pg_hba reads a database name starting with `/` as a
/// regular expression; before it, the same text is a literal (and never matching) name.
pub(super) const PG_HBA_REGEX_MAJOR: u32 = 16;

/// The PostgreSQL major the stack's clusters run, read as CloudNativePG reads it: from the
/// image tag, which starts with the major (`…/postgresql:16.4-bookworm@sha256:…`). `None`
/// when the image is pinned by digest alone, so its major cannot be known here.
pub fn postgres_major(image: Option<&str>) -> Option<u32> {
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
pub(super) fn drill_hba(
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

/// pg_hba lines for the roles of the stack's environments, all `hostssl` (CloudNativePG's
/// final line, `host all all all scram-sha-256`, would admit them without TLS), then a
/// reject for each, so that no other line admits them anywhere else:
///
/// - Odoo's role (the owner) reaches `postgres`, where Odoo lists its databases, and every
///   database of the stack;
/// - on a shared stack, each tenant's role (Ward's backups and restores) reaches its own
///   database only. It is a member of the owner, so the line is what keeps it out of the
///   other tenants' databases.
pub(super) fn app_hba(s: &Stack<'_>, owner: &str) -> Vec<String> {
    let admit = |database: &str, role: &str| {
        format!(
            "hostssl {} {} all scram-sha-256",
            postgres::ident(database),
            postgres::ident(role)
        )
    };
    let mut lines = vec![admit(postgres::MAINTENANCE_DATABASE, owner)];
    lines.extend(s.members.iter().map(|m| admit(&m.database, owner)));
    let mut roles = vec![owner.to_string()];
    for m in s.members.iter().filter(|m| m.role != owner) {
        lines.push(admit(&m.database, &m.role));
        roles.push(m.role.clone());
    }
    for role in roles {
        lines.push(format!("host all {} all reject", postgres::ident(&role)));
    }
    lines
}

/// The name of the ConfigMap holding each database's setup SQL
/// ([`postgres::database_setup_sql`]), one key per environment ([`database_setup_key`]).
pub(crate) const DATABASE_SETUP_CONFIG_MAP: &str = "database-setup";

/// The ConfigMap key of an environment's database setup.
pub(crate) fn database_setup_key(m: &Member<'_>) -> String {
    format!("{}.sql", m.slug())
}

/// The [`DATABASE_SETUP_CONFIG_MAP`]'s data: each member's key and setup SQL.
pub(super) fn database_setup_data(s: &Stack<'_>) -> BTreeMap<String, String> {
    s.members
        .iter()
        .map(|m| {
            (
                database_setup_key(m),
                postgres::database_setup_sql(&m.database),
            )
        })
        .collect()
}

pub(super) fn postgres(
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
    // Odoo's role owns every database of the stack (Odoo lists only those) and is the
    // initdb owner, so that CloudNativePG creates no `app` database or role: a dedicated
    // cluster's database is its one environment's; a shared cluster bootstraps with its
    // first tenant's, which its Database object then keeps.
    let owner = s.members.first().map_or_else(
        || SHARED_ODOO_ROLE.to_string(),
        |m| m.env.database.owner.clone(),
    );
    let bootstrap = s.members.first().map(|m| PgBootstrap {
        initdb: Some(PgInitdb {
            database: m.database.clone(),
            owner: owner.clone(),
            secret: Some(LocalRef {
                name: "db-odoo-credentials".into(),
            }),
            data_checksums: true,
            post_init_sql: postgres::bootstrap_statements(),
            post_init_application_sql: postgres::owner_bootstrap_statements(&owner),
        }),
        recovery: None,
    });
    config.pg_hba = app_hba(s, &owner);
    // The drill role lives on the stack's drill cluster only (`jobs::drill_cluster`):
    // drills never restore here, so the production server has no role that may create
    // databases.
    let managed = if s.dedicated() {
        None
    } else {
        // The shared Odoo role, and one role per tenant for Ward's backups and restores:
        // a member of the Odoo role, so it reads and restores what Odoo owns, and admitted
        // by pg_hba to its own database only. See docs/hosting-models.md.
        let mut roles = vec![PgRole {
            name: owner.clone(),
            ensure: "present",
            login: true,
            inherit: true,
            superuser: false,
            createdb: false,
            createrole: false,
            in_roles: vec![postgres::MAINTENANCE_CONNECT_ROLE.to_string()],
            password_secret: Some(LocalRef {
                name: "db-odoo-credentials".into(),
            }),
            comment: Some("the shared Odoo deployment: owns every tenant database".into()),
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
                in_roles: vec![owner.clone()],
                password_secret: Some(LocalRef {
                    name: tenant_credentials_secret(m),
                }),
                comment: Some(format!(
                    "Ward's backups and restores of tenant {} ({})",
                    m.env.tenant,
                    m.env.address()
                )),
            });
        }
        Some(PgManaged { roles })
    };
    let zones = p.min_zones > 1;
    let volumes = pg_volumes(s);
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "Cluster",
        meta(&s.db_cluster, ns, common),
        PgClusterSpec {
            instances: p.postgres_instances.max(1),
            image_name: Some(postgres_image(settings)),
            description: Some(format!("PostgreSQL for {}", s.addresses().join(", "))),
            enable_superuser_access: false,
            postgresql: config,
            storage: pg_storage(settings, volumes.data),
            wal_storage: volumes.wal.map(|bytes| pg_storage(settings, bytes)),
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
                    owner: m.env.database.owner.clone(),
                    cluster: LocalRef {
                        name: s.db_cluster.clone(),
                    },
                    ensure: "present",
                },
            ))?;
        }
        out.owners = all_owners;
    }
    // The setup each database's owner runs on it before Odoo initialises it and on every
    // start of the cron pod (its `odoo-upgrade` init container, with Odoo's own
    // credentials): CloudNativePG's Database objects cannot revoke CONNECT or create
    // functions, and a dedicated cluster's bootstrap database has no Database object.
    out.push(&ConfigMap {
        metadata: meta(DATABASE_SETUP_CONFIG_MAP, ns, common),
        data: Some(database_setup_data(s)),
        ..Default::default()
    })?;
    out.push(&scheduled_backup(s, &s.db_cluster, ns, common))?;
    out.push(&metrics_service(&s.db_cluster, ns, common))?;
    Ok(())
}

pub(super) fn replica_cluster(
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
        remote_keys: BTreeMap::new(),
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
            ingress: Some(vec![
                cnpg_instance_ingress(pg),
                // The recovery region's Prometheus scrapes the standby's lag and archiver.
                postgres_metrics_ingress(),
            ]),
            egress: Some(vec![
                cnpg_instance_egress(pg),
                kube_dns_egress(),
                api_server_egress(),
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
    // The standby reads the primary's WAL from the recovery region's copy of the archive
    // bucket where the archive store replicates (`replicateTo`), so that it keeps
    // recovering when the primary region is gone; else from the primary's archive itself.
    // Once promoted, it archives its own WAL and base backups to the recovery region's
    // store, under its own cluster's path, next to (never over) the replicated copy.
    let copy = recovery_archive_store(settings);
    let primary_store = settings.archive_store.as_ref();
    let copy_credentials = copy.and_then(|c| c.credentials.as_ref());
    if let Some(r) = copy_credentials {
        let mut secret = archive_credentials(ns, settings, r, &common);
        secret.metadata.name = Some(RECOVERY_ARCHIVE_CREDENTIALS_SECRET.into());
        secret.spec.target.name = RECOVERY_ARCHIVE_CREDENTIALS_SECRET.into();
        out.push(&secret)?;
    }
    let copy_secret = if copy_credentials.is_some() {
        RECOVERY_ARCHIVE_CREDENTIALS_SECRET
    } else {
        ARCHIVE_CREDENTIALS_SECRET
    };
    let (source_path, source_secret) = match copy {
        Some(c) => (
            store_path(Some(c), primary_store, &s.cluster, ns),
            copy_secret,
        ),
        None => (
            archive_path(settings, &s.cluster, ns),
            ARCHIVE_CREDENTIALS_SECRET,
        ),
    };
    let own_store = copy.or(primary_store);
    let own_secret = if copy.is_some() {
        copy_secret
    } else {
        ARCHIVE_CREDENTIALS_SECRET
    };
    let retention = archive_retention_days(&s.posture, own_store);
    out.push(&barman_store(
        barman_sidecar_sizing(s),
        SOURCE_OBJECT_STORE,
        source_path,
        source_secret,
        retention,
        ns,
        &common,
    ))?;
    out.push(&barman_store(
        barman_sidecar_sizing(s),
        ARCHIVE_OBJECT_STORE,
        store_path(own_store, own_store, recovery, ns),
        own_secret,
        retention,
        ns,
        &common,
    ))?;
    let source = format!("{}-primary", s.db_cluster);
    // The standby becomes the primary on failover: the same volumes.
    let volumes = pg_volumes(s);
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "Cluster",
        meta(&s.db_cluster, ns, &common),
        PgClusterSpec {
            instances: s.posture.postgres_instances.clamp(1, 2),
            image_name: Some(postgres_image(settings)),
            description: Some(format!(
                "Standby of {}/{} in the recovery region",
                s.cluster, s.db_cluster
            )),
            enable_superuser_access: false,
            postgresql: PgConfig {
                parameters: pg_parameters(s),
                ..Default::default()
            },
            storage: pg_storage(settings, volumes.data),
            wal_storage: volumes.wal.map(|bytes| pg_storage(settings, bytes)),
            bootstrap: Some(PgBootstrap {
                initdb: None,
                recovery: Some(PgRecovery {
                    source: source.clone(),
                }),
            }),
            // The designated primary archives to the recovery region's store; while the
            // cluster is a replica that archive is its own, and it is ready when promoted.
            plugins: vec![barman_plugin(true, None)],
            replica: Some(PgReplica {
                enabled: true,
                source: source.clone(),
            }),
            external_clusters: vec![PgExternalCluster {
                name: source,
                plugin: barman_plugin_for(SOURCE_OBJECT_STORE, false, Some(&s.db_cluster)),
            }],
            managed: None,
            affinity: None,
            resources: Some(pg_resources(s)),
        },
    ))?;
    // The filestore's recovery path, before the SecretStore that must reach its keys.
    super::recovery::recovery_filestore_restore(&mut out, settings, s, &common)?;
    secret_stores(&mut out, settings, ns, &common)?;
    // Base backups of the standby's own archive, so that a promoted cluster has a recent
    // starting point in its region from the first day.
    out.push(&scheduled_backup(s, &s.db_cluster, ns, &common))?;
    out.push(&metrics_service(&s.db_cluster, ns, &common))?;
    super::observability::recovery_observability(&mut out, s, &common)?;
    Ok(())
}

pub(super) fn redis(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let pod_labels = labels(&[REDIS_POD, ("app.kubernetes.io/instance", ns)]);
    let mut dl = common.clone();
    dl.extend(pod_labels.clone());
    // Sessions only: they can be lost (users log in again), so nothing is kept on disk.
    let args: Vec<String> = vec![
        "--save".into(),
        String::new(),
        "--appendonly".into(),
        "no".into(),
    ];
    let tcp_probe = |period: i32, failures: i32| Probe {
        tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
            port: IntOrString::String("redis".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
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
                    security_context: Some(restricted_pod(REDIS_UID)),
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
                        readiness_probe: Some(tcp_probe(10, 3)),
                        // A Redis that stops accepting connections is restarted.
                        liveness_probe: Some(tcp_probe(20, 3)),
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
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })?;
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
