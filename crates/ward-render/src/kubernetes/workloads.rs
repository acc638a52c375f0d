//! Odoo itself: its configuration (sized per pod), web and cron Deployments (the cron pod
//! installs or upgrades every database before cron runs), Services, autoscaling and
//! disruption budgets, then the ingress, middlewares and certificates in front of it.

use super::*;

/// The CPU (millicores) and memory (bytes) of a web or cron pod: one owner, read by the
/// container's resources and by the `odoo.conf` sized for that pod.
pub(super) fn pod_resources(s: &Stack<'_>, role: OdooRole) -> (u32, u64) {
    let (web_cpu, web_memory) = web_pod(s);
    match role {
        OdooRole::Web => (web_cpu, web_memory),
        // Half the web pod, and 2 GiB where the web pod has it: one HTTP worker and one
        // cron worker at Odoo's 768 MB each, beside the main process.
        OdooRole::Cron => (
            (web_cpu / 2).max(500),
            (web_memory / 2).max(web_memory.min(2 << 30)),
        ),
    }
}

/// The server-wide modules: `session_redis` reads the sessions Ward puts in Redis.
pub(super) fn server_wide_modules(s: &Stack<'_>) -> Vec<&'static str> {
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
    if s.redis_sessions {
        modules.push("session_redis");
    }
    modules
}

/// The key of the outgoing relay's password in the `odoo-config` ExternalSecret.
pub(super) const SMTP_PASSWORD_KEY: &str = "smtp_password";

pub(super) fn odoo_conf(
    settings: &Settings,
    s: &Stack<'_>,
    role: OdooRole,
    db_user: &str,
) -> String {
    let (cpu, memory) = pod_resources(s, role);
    let sizing = odoo::sizing(role, cpu, memory);
    let host = ward_estate::resolve::rw_service(&s.db_cluster);
    let db_name = if s.dedicated() {
        s.members.first().map(|m| m.database.as_str())
    } else {
        None
    };
    let dbfilter = s.dbfilter();
    let modules = server_wide_modules(s);
    let password_ref = format!("{{{{ .{SMTP_PASSWORD_KEY} }}}}");
    let smtp = settings
        .mail
        .outgoing
        .as_ref()
        .map(|relay| odoo::SmtpInput {
            host: &relay.server.host.value,
            port: u16::try_from(relay.server.port.value).unwrap_or(587),
            user: relay.user.as_ref().map(|u| u.value.as_str()),
            password_ref: relay.password_ref.as_ref().map(|_| password_ref.as_str()),
            starttls: true,
        });
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
        smtp,
    })
}

/// Each member's database, the release it should be at and its modules, in order.
pub(super) fn releases<'e>(s: &Stack<'e>) -> Vec<(String, String, Vec<&'e str>)> {
    s.members
        .iter()
        .map(|m| {
            let modules: Vec<&str> = m
                .workload
                .spec
                .odoo
                .modules
                .iter()
                .map(|x| x.value.as_str())
                .collect();
            let release = odoo::release_hash(&s.image, &modules);
            (m.database.clone(), release, modules)
        })
        .collect()
}

/// The stack's release: changes exactly when a member's image or modules change, so the
/// cron pod (which upgrades before it runs) is replaced exactly then.
pub(super) fn stack_release(s: &Stack<'_>) -> String {
    let all: Vec<String> = releases(s)
        .into_iter()
        .map(|(db, release, _)| format!("{db}:{release}"))
        .collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    odoo::release_hash(&s.image, &refs)
}

/// The annotation that carries [`stack_release`] on the cron pod template.
pub const RELEASE_ANNOTATION: &str = "ward.dev/odoo-release";
/// Argo CD applies a stack in waves, each healthy before the next: the database,
/// secrets, services and storage (wave 0), then the cron Deployment, whose init
/// container installs or upgrades every database (wave 1), then the web Deployment
/// (wave 2), so that new code never serves a database it has not upgraded.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub const CRON_WAVE: &str = "1";
pub const WEB_WAVE: &str = "2";

/// The init container of the cron pod: `odoo --init`/`--update` for every database of
/// the stack, see [`odoo::UPGRADE_SCRIPT`]. The cron Deployment is `Recreate` with one
/// replica, so no cron worker runs while it does: the old pod is gone before this starts,
/// and the cron workers start only after it succeeded.
///
/// Before Odoo touches a database, the container runs its setup SQL (the
/// [`DATABASE_SETUP_CONFIG_MAP`] key of that environment, mounted read-only under
/// [`odoo::DATABASE_SETUP_DIR`]) as Odoo's role, the database's owner.
pub(super) fn upgrade_container(s: &Stack<'_>, cron: &Container) -> Container {
    let mut args = vec!["-c".to_string(), odoo::UPGRADE_SCRIPT.to_string()];
    args.extend(
        s.members
            .iter()
            .zip(releases(s))
            .map(|(m, (db, release, modules))| {
                odoo::upgrade_arg(&db, &release, &database_setup_key(m), &modules)
            }),
    );
    let mut mounts = cron.volume_mounts.clone().unwrap_or_default();
    mounts.push(VolumeMount {
        name: DATABASE_SETUP_VOLUME.into(),
        mount_path: odoo::DATABASE_SETUP_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    });
    Container {
        name: "odoo-upgrade".into(),
        command: Some(vec!["python3".into()]),
        args: Some(args),
        ports: None,
        env: cron.env.clone(),
        readiness_probe: None,
        liveness_probe: None,
        startup_probe: None,
        volume_mounts: Some(mounts),
        ..cron.clone()
    }
}

/// The cron pod's volume holding every member's setup SQL, one file per
/// [`database_setup_key`], as the [`DATABASE_SETUP_CONFIG_MAP`] holds it.
const DATABASE_SETUP_VOLUME: &str = "database-setup";

fn database_setup_volume(s: &Stack<'_>) -> Volume {
    Volume {
        name: DATABASE_SETUP_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: DATABASE_SETUP_CONFIG_MAP.into(),
            items: Some(
                s.members
                    .iter()
                    .map(|m| KeyToPath {
                        key: database_setup_key(m),
                        path: database_setup_key(m),
                        mode: None,
                    })
                    .collect(),
            ),
            default_mode: Some(0o444),
            optional: Some(false),
        }),
        ..Default::default()
    }
}

/// The annotation that carries a hash of the stack's setup SQL on the cron pod template,
/// so that a change to it (a new Ward) replaces the pod, which runs it again, without
/// changing the release (which would `--update` every database).
pub const DATABASE_SETUP_ANNOTATION: &str = "ward.dev/database-setup";

fn database_setup_hash(s: &Stack<'_>) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for (key, sql) in database_setup_data(s) {
        for part in [key, sql] {
            digest.update(part.len().to_le_bytes());
            digest.update(part);
        }
    }
    hex::encode(&digest.finalize()[..6])
}

/// The PostgreSQL role the Odoo processes log in as: the owner of the stack's databases
/// (resolved once in `ward-estate`), since Odoo lists only the databases its role owns.
pub(super) fn odoo_db_user(s: &Stack<'_>) -> String {
    s.members.first().map_or_else(
        || ward_estate::resolve::SHARED_ODOO_ROLE.to_string(),
        |m| m.env.database.owner.clone(),
    )
}

pub(super) fn odoo_container(s: &Stack<'_>, role: OdooRole, has_integrations: bool) -> Container {
    let (cpu, memory) = pod_resources(s, role);
    let (cpu, memory) = (cpu_quantity(cpu), quantity(memory));
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
        // Read by `session_redis` (camptocamp/odoo-cloud-platform), loaded server-wide.
        // The in-namespace Redis speaks plain TCP, behind `allow-redis`.
        for (name, value) in [
            ("ODOO_SESSION_REDIS", "1"),
            ("ODOO_SESSION_REDIS_HOST", "redis"),
            ("ODOO_SESSION_REDIS_PORT", "6379"),
            ("ODOO_SESSION_REDIS_SSL", "0"),
            ("ODOO_SESSION_REDIS_PREFIX", s.namespace.as_str()),
        ] {
            env.push(EnvVar {
                name: name.into(),
                value: Some(value.into()),
                ..Default::default()
            });
        }
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

/// Tier 1, and tier-2 production, keep a web pod through voluntary disruptions (node
/// drains, cluster upgrades): a PodDisruptionBudget and spread constraints.
pub(super) fn has_disruption_budget(s: &Stack<'_>) -> bool {
    s.tier == 1 || (s.tier == 2 && s.stage == Stage::Production)
}

/// Tier 1's web deployment scales with an HPA.
pub(super) fn has_autoscaler(s: &Stack<'_>) -> bool {
    s.tier == 1
}

pub(super) fn odoo_workloads(
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
            .any(|i| m.spec.integration_credential(i).is_some())
    });
    let zones_spread = s.tier == 1 || s.posture.min_zones > 1;
    let disruption_budget = has_disruption_budget(s);
    let autoscaled = has_autoscaler(s);
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
        // Zones are required where the posture spans them; a protected stack within one
        // zone still spreads over nodes, so that one node's drain or loss leaves a pod.
        let spread = (web && (zones_spread || disruption_budget)).then(|| {
            vec![
                TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: "topology.kubernetes.io/zone".into(),
                    when_unsatisfiable: if zones_spread {
                        "DoNotSchedule"
                    } else {
                        "ScheduleAnyway"
                    }
                    .into(),
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
                    when_unsatisfiable: if zones_spread {
                        "ScheduleAnyway"
                    } else {
                        "DoNotSchedule"
                    }
                    .into(),
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
        let mut metadata = meta(&name, ns, &deployment_labels);
        metadata.annotations = Some(labels(&[
            (SYNC_WAVE, if web { WEB_WAVE } else { CRON_WAVE }),
            ODOO_UID_WAIVER,
        ]));
        let container = odoo_container(s, role, has_integrations);
        let (init_containers, pod_annotations) = if web {
            (None, None)
        } else {
            volumes.push(database_setup_volume(s));
            (
                Some(vec![upgrade_container(s, &container)]),
                Some(labels(&[
                    (RELEASE_ANNOTATION, &stack_release(s)),
                    (DATABASE_SETUP_ANNOTATION, &database_setup_hash(s)),
                ])),
            )
        };
        out.push(&Deployment {
            metadata,
            spec: Some(DeploymentSpec {
                // An upgrade of a large database takes a while: the cron rollout (and the
                // sync wave waiting on it) is not failed before an hour.
                progress_deadline_seconds: (!web).then_some(3600),
                // With an HPA the replica count is the HPA's: a `replicas` here would be
                // applied by Argo CD on every sync, undoing each scale-out (self-heal).
                replicas: (!(web && autoscaled)).then(|| i32::try_from(replicas).unwrap_or(1)),
                revision_history_limit: Some(5),
                selector: selector(&[ODOO_POD, component, ("app.kubernetes.io/instance", ns)]),
                strategy: Some(strategy),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(pod_labels),
                        annotations: pod_annotations,
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        init_containers,
                        service_account_name: Some("odoo".into()),
                        automount_service_account_token: Some(false),
                        enable_service_links: Some(false),
                        security_context: Some(restricted_pod(ODOO_UID)),
                        containers: vec![container],
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
    out.push(&filestore_claim(settings, s, ns, common))?;
    if disruption_budget {
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
    }
    if autoscaled {
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

pub(super) fn ingress(
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
                // Odoo frames its own pages (the website editor, PDF previews) and sets
                // SAMEORIGIN itself: DENY would break them.
                custom_frame_options_value: "SAMEORIGIN".into(),
                content_security_policy: "frame-ancestors 'self'".into(),
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
    // `/websocket` gets no buffering middleware: Traefik's buffering holds a response
    // until it is complete, which a websocket never is. Its frames are small; the body
    // limit is for uploads, which go to the HTTP route.
    let mut websocket_chain = vec![LocalRef {
        name: "security-headers".into(),
    }];
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
        websocket_chain.push(LocalRef {
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
                        middlewares: websocket_chain.clone(),
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

/// The stack's `odoo-filestore` claim, sized from its environments' declared filestores:
/// the one Odoo mounts, and its twin in the recovery region that a filestore restore fills.
pub(super) fn filestore_claim(
    settings: &Settings,
    s: &Stack<'_>,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta("odoo-filestore", ns, common),
        spec: Some(PersistentVolumeClaimSpec {
            // Web replicas and the cron pod share the filestore.
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: settings.filestore_storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), q(quantity(s.filestore_bytes)))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
