//! Ward itself in the cluster: `ward serve` in the `ward-system` namespace (Deployment,
//! disruption budget, Service, ServiceMonitor, NetworkPolicies, identity) and the
//! CloudNativePG cluster its store lives in. See docs/rendering.md, "Ward itself".

use super::*;
use crate::metrics::CONTROL_PLANE_NAMESPACE;
use crate::stack::ControlPlane;
use k8s_openapi::api::core::v1::{
    Affinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
};
use ward_estate::model::Scheduler;

/// The label of the server's pods, which every policy about them selects.
pub(super) const SERVER_POD: (&str, &str) = ("app.kubernetes.io/name", "ward-server");
/// The server's name: its Deployment, Service, ServiceAccount and budget.
pub const SERVER_NAME: &str = "ward-server";
/// The HTTP port of the API, the dashboard and the probes (`/healthz`, `/readyz`).
pub const API_PORT: i32 = 8080;
/// The port of `/metrics`, apart from the API so that only Prometheus reaches it.
pub const METRICS_PORT: i32 = 9090;
/// The CloudNativePG cluster holding the server's store, its database and owner.
pub const STORE_CLUSTER: &str = "ward-store";
pub const STORE_DATABASE: &str = "ward";
pub const STORE_OWNER: &str = "ward";
/// The Secret CloudNativePG generates for the store's owner (no `initdb.secret` is
/// given), whose `uri` key is the connection the server's `--store` reads.
pub const STORE_APP_SECRET: &str = "ward-store-app";
/// How long a stopping replica lets a run it holds finish or hand over (`--job-grace`);
/// the pod's `terminationGracePeriodSeconds` is this plus a margin for the HTTP drain.
pub const JOB_GRACE_SECONDS: i64 = 600;
const SHUTDOWN_MARGIN_SECONDS: i64 = 30;

const STORE_MOUNT: &str = "/var/run/ward/store";
const STORE_CA_MOUNT: &str = "/var/run/ward/store-ca";
const OIDC_MOUNT: &str = "/var/run/ward/oidc";
const OIDC_SECRET: &str = "ward-oidc";
const OIDC_SECRET_KEY: &str = "client-secret";

/// The peer that admits the server's pods in a tenant namespace's policies, when the
/// server schedules that cluster's backups and drills (`Settings::server_schedules`).
pub(super) fn server_peer(settings: &Settings, cluster: &str) -> Option<NetworkPolicyPeer> {
    settings
        .server_schedules(cluster)
        .then(|| NetworkPolicyPeer {
            namespace_selector: Some(selector(&[(
                "kubernetes.io/metadata.name",
                CONTROL_PLANE_NAMESPACE,
            )])),
            pod_selector: Some(selector(&[SERVER_POD])),
            ..Default::default()
        })
}

/// Renders `ward-system` into the control plane's cluster, if the platform runs one.
pub(super) fn render_control_plane(
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    settings: &Settings,
    stacks: &[Stack<'_>],
    objects: &mut dyn FnMut(Object),
) -> Result<(), RenderError> {
    let Some(cp) = &settings.control_plane else {
        return Ok(());
    };
    let ns = CONTROL_PLANE_NAMESPACE;
    // The control plane serves every environment: a change to it is judged as the
    // strictest (tier 1 production), whatever the estate holds today.
    let mut out = Out {
        cluster: cp.cluster.clone(),
        folder: ns.to_string(),
        owners: Vec::<String>::new().into(),
        tier: 1,
        stage: Stage::Production,
        objects,
        remote_keys: BTreeMap::new(),
    };
    let common = labels(&[("ward.dev/stack", ns)]);
    let mut ns_labels = labels(&[
        ("ward.dev/component", "control-plane"),
        ("ward.dev/stage", Stage::Production.name()),
        ("ward.dev/tier", "1"),
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
    // The server talks to no Kubernetes API: no token, and no Role of its own.
    out.push(&ServiceAccount {
        metadata: meta(SERVER_NAME, ns, &common),
        automount_service_account_token: Some(false),
        ..Default::default()
    })?;
    platform_rbac(&mut out, estate, owning_teams, &common)?;
    control_plane_policies(&mut out, settings, cp, stacks, &common)?;
    control_plane_secrets(&mut out, settings, cp, &common)?;
    store(&mut out, settings, cp, &common)?;
    let memory = estate.platform.as_ref().map_or(0, |p| {
        p.spec.control_plane.memory_bytes(estate.environments.len())
    });
    server(&mut out, settings, cp, memory, &common)?;
    secret_stores(&mut out, settings, ns, &common)?;
    Ok(())
}

/// The admin Roles of the namespace, bound to the platform's own teams (those that own
/// no workload): the same rules as in every stack, so the same people reach the same.
fn platform_rbac(
    out: &mut Out<'_>,
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    access::admin_roles(out, CONTROL_PLANE_NAMESPACE, common, |role| {
        estate
            .teams
            .iter()
            .filter(|t| !owning_teams.contains(t.name()))
            .filter_map(|t| t.spec.groups.get(role.name()).map(|g| g.value.clone()))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    })
}

/// Default deny; DNS; the server's ingress (the API from the ingress controller, metrics
/// from Prometheus) and egress (its store, and on public addresses the estate's Git
/// server, the OpenID provider and, when it schedules, the job stores; the tenants'
/// PostgreSQL in its cluster); the store's instances admit the server alone.
fn control_plane_policies(
    out: &mut Out<'_>,
    settings: &Settings,
    cp: &ControlPlane,
    stacks: &[Stack<'_>],
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = CONTROL_PLANE_NAMESPACE;
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
            egress: Some(vec![kube_dns_egress()]),
            ..Default::default()
        },
    ))?;
    let store_pods = ("cnpg.io/cluster", STORE_CLUSTER);
    let mut egress = vec![NetworkPolicyEgressRule {
        to: Some(vec![pods(&[store_pods])]),
        ports: Some(vec![tcp(5432)]),
    }];
    // Outside hosts: the estate's repository, the OpenID provider, and the object stores
    // of the environments it backs up. A cluster service is reached in its namespace.
    let mut public_ports = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    let mut outside = |url: &str, egress: &mut Vec<NetworkPolicyEgressRule>| {
        hosts.insert(url_host(url));
        match service_namespace(url) {
            Some(other) => egress.push(NetworkPolicyEgressRule {
                to: Some(vec![namespace_peer(&other)]),
                ports: Some(vec![tcp(url_port(url))]),
            }),
            None => {
                public_ports.insert(url_port(url));
            }
        }
    };
    outside(&settings.estate_repository, &mut egress);
    if let Some(oidc) = &cp.oidc {
        outside(&oidc.issuer.value, &mut egress);
    }
    if cp.scheduler == Scheduler::Server {
        for s in stacks.iter().filter(|s| s.cluster == cp.cluster) {
            for m in &s.members {
                if let Ok(store) = job_store(settings, m) {
                    let (port, host) = store_destination(store);
                    public_ports.insert(port);
                    hosts.insert(host);
                }
            }
            // The stack's PostgreSQL and its drill cluster, as the stack's own jobs reach
            // them (the stack's `allow-postgres` and `allow-drill-postgres` admit it).
            let mut clusters = vec![s.db_cluster.clone()];
            clusters.extend(drill_cluster_of(s));
            egress.push(NetworkPolicyEgressRule {
                to: Some(
                    clusters
                        .iter()
                        .map(|c| NetworkPolicyPeer {
                            namespace_selector: Some(selector(&[(
                                "kubernetes.io/metadata.name",
                                s.namespace.as_str(),
                            )])),
                            pod_selector: Some(selector(&[("cnpg.io/cluster", c.as_str())])),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ports: Some(vec![tcp(5432)]),
            });
        }
    }
    egress.push(NetworkPolicyEgressRule {
        to: Some(vec![internet()]),
        ports: Some(public_ports.into_iter().map(tcp).collect()),
    });
    let mut server = policy(
        "allow-ward-server",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[SERVER_POD])),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![namespace_peer(&settings.traefik_namespace)]),
                    ports: Some(vec![tcp(API_PORT)]),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![namespace_peer(MONITORING_NAMESPACE)]),
                    ports: Some(vec![tcp(METRICS_PORT)]),
                },
            ]),
            egress: Some(egress),
        },
    );
    // NetworkPolicy cannot name hosts: for review and an FQDN-aware engine.
    server.metadata.annotations = Some(labels(&[(
        "ward.dev/egress-hosts",
        &hosts.into_iter().collect::<Vec<_>>().join(","),
    )]));
    out.push(&server)?;
    out.push(&policy(
        "allow-ward-store",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[store_pods])),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![
                // The server's pods of this namespace only: no tenant reaches the store.
                NetworkPolicyIngressRule {
                    from: Some(vec![pods(&[SERVER_POD])]),
                    ports: Some(vec![tcp(5432)]),
                },
                cnpg_instance_ingress(store_pods),
                postgres_metrics_ingress(),
            ]),
            egress: Some(vec![cnpg_instance_egress(store_pods), api_server_egress()]),
        },
    ))?;
    Ok(())
}

/// References only: the estate's read token, the OpenID client's secret and the WAL
/// archive's keys, each where the platform says it is.
fn control_plane_secrets(
    out: &mut Out<'_>,
    settings: &Settings,
    cp: &ControlPlane,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = CONTROL_PLANE_NAMESPACE;
    if let Some(secret) = estate_git_secret(settings, ns, common) {
        out.push(&secret)?;
    }
    if let Some(r) = cp.oidc.as_ref().and_then(|o| o.client_secret_ref.as_ref()) {
        out.push(&external_secret(
            ns,
            OIDC_SECRET,
            &r.store.value,
            settings,
            None,
            vec![ExternalSecretData {
                secret_key: OIDC_SECRET_KEY.into(),
                remote_ref: remote_ref(r),
            }],
            common,
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

/// The store: a CloudNativePG cluster of two instances on different nodes (the store is
/// what several replicas share, so it must outlive a node), archiving WAL and taking
/// daily base backups like the tenants' clusters. Its owner's Secret is CloudNativePG's
/// own (`<cluster>-app`, with a `uri`), so no password passes through the estate.
fn store(
    out: &mut Out<'_>,
    settings: &Settings,
    cp: &ControlPlane,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = CONTROL_PLANE_NAMESPACE;
    let archiving = settings.archive_store.is_some();
    if archiving {
        out.push(&barman_store(
            barman_sidecar_for(cp.storage_bytes),
            ARCHIVE_OBJECT_STORE,
            archive_path(settings, &cp.cluster, ns),
            ARCHIVE_CREDENTIALS_SECRET,
            // Ward's ledger is evidence: kept at least as long as the store's lock.
            archive_retention_days(
                &ward_estate::classify::TierDefaults::posture(1),
                settings.archive_store.as_ref(),
            ),
            ns,
            common,
        ))?;
    }
    out.push(&cr(
        "postgresql.cnpg.io/v1",
        "Cluster",
        meta(STORE_CLUSTER, ns, common),
        PgClusterSpec {
            instances: 2,
            image_name: Some(postgres_image(settings)),
            description: Some("Ward's control-plane store (ward serve)".into()),
            enable_superuser_access: false,
            postgresql: PgConfig {
                parameters: BTreeMap::from([
                    ("max_connections".to_string(), "100".to_string()),
                    ("shared_buffers".to_string(), "128MB".to_string()),
                    (
                        "password_encryption".to_string(),
                        "scram-sha-256".to_string(),
                    ),
                ]),
                // Over TLS to its own database only; no login without TLS reaches
                // CloudNativePG's final `host all all all` line.
                pg_hba: vec![
                    format!("hostssl \"{STORE_DATABASE}\" \"{STORE_OWNER}\" all scram-sha-256"),
                    format!("host all \"{STORE_OWNER}\" all reject"),
                ],
                synchronous: None,
            },
            storage: PgStorage {
                size: quantity(cp.storage_bytes),
                storage_class: settings.database_storage_class.clone(),
            },
            wal_storage: None,
            bootstrap: Some(PgBootstrap {
                initdb: Some(PgInitdb {
                    database: STORE_DATABASE.into(),
                    owner: STORE_OWNER.into(),
                    secret: None,
                    data_checksums: true,
                    post_init_sql: crate::postgres::bootstrap_statements(),
                    post_init_application_sql: Vec::new(),
                }),
                recovery: None,
            }),
            plugins: if archiving {
                vec![barman_plugin(true, None)]
            } else {
                Vec::new()
            },
            replica: None,
            external_clusters: Vec::new(),
            managed: None,
            affinity: Some(PgAffinity {
                topology_key: "kubernetes.io/hostname".into(),
                enable_pod_anti_affinity: true,
                pod_anti_affinity_type: "required",
            }),
            resources: Some(resources("500m", "1Gi")),
        },
    ))?;
    if archiving {
        out.push(&cr(
            "postgresql.cnpg.io/v1",
            "ScheduledBackup",
            meta(STORE_CLUSTER, ns, common),
            ScheduledBackupSpec {
                schedule: schedule::every_with_seconds(ward_estate::units::Duration::hours(24), ns),
                cluster: LocalRef {
                    name: STORE_CLUSTER.into(),
                },
                method: "plugin",
                plugin_configuration: PluginConfiguration {
                    name: BARMAN_PLUGIN.into(),
                },
                backup_owner_reference: "self",
                immediate: true,
            },
        ))?;
    }
    out.push(&metrics_service(STORE_CLUSTER, ns, common))?;
    out.push(&postgres_monitor(ns, common))?;
    Ok(())
}

/// `ward serve`'s command line: everything it is configured with is visible in the
/// tree (and so in a plan), and no value of a secret is on it, only files.
fn server_args(settings: &Settings, cp: &ControlPlane) -> Vec<String> {
    let (_, ca_key) = ward_estate::resolve::ca_secret(STORE_CLUSTER);
    let mut args = vec![
        "serve".to_string(),
        format!("--listen=0.0.0.0:{API_PORT}"),
        format!("--metrics-listen=0.0.0.0:{METRICS_PORT}"),
        format!("--store-url-file={STORE_MOUNT}/uri"),
        format!("--store-ca-file={STORE_CA_MOUNT}/{ca_key}"),
        format!("--estate-repository={}", settings.estate_repository),
        format!("--estate-revision={}", settings.estate_revision),
        format!("--poll-interval={}s", cp.poll_interval.as_secs()),
        format!("--job-grace={JOB_GRACE_SECONDS}s"),
    ];
    match cp.scheduler {
        Scheduler::Server => args.extend([
            "--scheduler=server".to_string(),
            format!("--schedule-cluster={}", cp.cluster),
        ]),
        Scheduler::CronJobs => args.push("--scheduler=off".into()),
    }
    if let Some(url) = &cp.url {
        args.push(format!("--public-url={url}"));
    }
    if let Some(oidc) = &cp.oidc {
        args.push(format!("--oidc-issuer={}", oidc.issuer.value));
        args.push(format!("--oidc-client-id={}", oidc.client_id.value));
        if let Some(prefix) = &oidc.groups_prefix {
            args.push(format!("--oidc-groups-prefix={}", prefix.value));
        }
        if oidc.client_secret_ref.is_some() {
            args.push(format!(
                "--oidc-client-secret-file={OIDC_MOUNT}/{OIDC_SECRET_KEY}"
            ));
        }
    }
    args
}

/// The server's Deployment, Service, ServiceMonitor and disruption budget.
fn server(
    out: &mut Out<'_>,
    settings: &Settings,
    cp: &ControlPlane,
    memory: u64,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = CONTROL_PLANE_NAMESPACE;
    let pod_labels = labels(&[SERVER_POD, ("app.kubernetes.io/component", "server")]);
    let mut with_pod = common.clone();
    with_pod.extend(pod_labels.clone());
    let (ca_secret, ca_key) = ward_estate::resolve::ca_secret(STORE_CLUSTER);
    let mut volumes = vec![
        empty_dir_volume("tmp", q("1Gi")),
        // The server's clone of the estate; its state is in the store.
        empty_dir_volume("work", q("2Gi")),
        secret_file_volume("store", STORE_APP_SECRET, "uri", "uri", SECRET_MODE),
        secret_file_volume("store-ca", &ca_secret, ca_key, ca_key, SECRET_MODE),
    ];
    let mut mounts = vec![
        mount("tmp", "/tmp", false),
        mount("work", JOB_STATE, false),
        mount("store", STORE_MOUNT, true),
        mount("store-ca", STORE_CA_MOUNT, true),
    ];
    let mut env_vars = vec![
        env("HOME", "/tmp"),
        env("WARD_STATE", JOB_STATE),
        env("GIT_TERMINAL_PROMPT", "0"),
    ];
    if settings.estate_credentials.is_some() {
        volumes.push(secret_file_volume(
            "estate-git",
            ESTATE_GIT_SECRET,
            "gitconfig",
            "gitconfig",
            SECRET_MODE,
        ));
        mounts.push(mount("estate-git", JOB_GIT, true));
        env_vars.push(env("GIT_CONFIG_GLOBAL", format!("{JOB_GIT}/gitconfig")));
    }
    if cp
        .oidc
        .as_ref()
        .is_some_and(|o| o.client_secret_ref.is_some())
    {
        volumes.push(secret_file_volume(
            "oidc",
            OIDC_SECRET,
            OIDC_SECRET_KEY,
            OIDC_SECRET_KEY,
            SECRET_MODE,
        ));
        mounts.push(mount("oidc", OIDC_MOUNT, true));
    }
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Default::default()
    };
    let port = |name: &str, number: i32| ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let term = |key: &str| PodAffinityTerm {
        label_selector: Some(selector(&[SERVER_POD])),
        topology_key: key.into(),
        ..Default::default()
    };
    let mut pod_security = restricted_pod(WARD_UID);
    pod_security.fs_group_change_policy = Some("OnRootMismatch".into());
    let pod = PodSpec {
        service_account_name: Some(SERVER_NAME.into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(pod_security),
        termination_grace_period_seconds: Some(JOB_GRACE_SECONDS + SHUTDOWN_MARGIN_SECONDS),
        // Never two replicas on one node; across zones where the cluster has them.
        affinity: Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term(
                    "kubernetes.io/hostname",
                )]),
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 100,
                        pod_affinity_term: term("topology.kubernetes.io/zone"),
                    },
                ]),
            }),
            ..Default::default()
        }),
        containers: vec![Container {
            name: "ward".into(),
            image: Some(settings.ward_image.clone()),
            args: Some(server_args(settings, cp)),
            env: Some(env_vars),
            ports: Some(vec![port("http", API_PORT), port("metrics", METRICS_PORT)]),
            readiness_probe: Some(probe("/readyz", 10, 3)),
            liveness_probe: Some(probe("/healthz", 20, 3)),
            // The limit holds the commit evaluation's child process too.
            resources: Some(resources("500m", &crate::stack::quantity(memory))),
            security_context: Some(restricted_container(true)),
            volume_mounts: Some(mounts),
            ..Default::default()
        }],
        volumes: Some(volumes),
        ..Default::default()
    };
    out.push(&Deployment {
        metadata: meta(SERVER_NAME, ns, &with_pod),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(cp.replicas).unwrap_or(2)),
            selector: selector(&[SERVER_POD]),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    })?;
    out.push(&PodDisruptionBudget {
        metadata: meta(SERVER_NAME, ns, &with_pod),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(selector(&[SERVER_POD])),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    let service_port = |name: &str, number: i32| ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    out.push(&Service {
        metadata: meta(SERVER_NAME, ns, &with_pod),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(labels(&[SERVER_POD])),
            ports: Some(vec![
                service_port("http", API_PORT),
                service_port("metrics", METRICS_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    out.push(&cr(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        meta(SERVER_NAME, ns, &with_pod),
        ServiceMonitorSpec {
            selector: selector(&[(MANAGED_BY.0, MANAGED_BY.1), SERVER_POD]),
            endpoints: vec![MonitorEndpoint {
                port: "metrics".into(),
                path: "/metrics".into(),
                interval: "30s".into(),
            }],
        },
    ))?;
    Ok(())
}
