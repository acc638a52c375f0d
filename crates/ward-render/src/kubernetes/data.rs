//! Data services: the CloudNativePG cluster with its roles, databases, WAL archive and
//! recovery replica, the object stores it archives to, and Redis where something uses it.

use super::*;

pub(super) fn archive_path(
    settings: &Settings,
    cluster: &str,
    ns: &str,
) -> (String, Option<String>) {
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

pub(super) fn object_store(
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
            instance_sidecar_configuration: Some(InstanceSidecarConfiguration {
                resources: {
                    let (cpu, memory) = barman_sidecar_sizing(s);
                    resources(&cpu_quantity(cpu), &quantity(memory))
                },
            }),
        },
    )
}

pub(super) fn barman_plugin(archiver: bool, server_name: Option<&str>) -> PgPlugin {
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
pub(super) fn max_connections(_s: &Stack<'_>) -> u32 {
    200
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
    let gib = s.database_bytes.div_ceil(GIB);
    let cpu = u32::try_from(round_up(gib.saturating_mul(5).clamp(250, 2000), 50)).unwrap_or(2000);
    (cpu, 512 * MIB)
}

pub(super) fn pg_parameters(s: &Stack<'_>) -> BTreeMap<String, String> {
    let mem = budget(s).pg_memory;
    BTreeMap::from([
        (
            "max_connections".to_string(),
            max_connections(s).to_string(),
        ),
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
pub(super) fn quantity_pg(bytes: u64) -> String {
    format!("{}MB", (bytes >> 20).max(128))
}

/// The managed role restore drills log in as: it may create databases (its scratch
/// copies, which it then owns and drops) and nothing else. No superuser, no role creation,
/// no replication or RLS bypass (CloudNativePG's defaults), a member of no role.
/// `inherit` stays on: since PostgreSQL 15 a database's `public` schema belongs to
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
        in_roles: Vec::new(),
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
                storage_class_name: settings.database_storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some([("storage".to_string(), q(quantity(REDIS_DATA_BYTES)))].into()),
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
