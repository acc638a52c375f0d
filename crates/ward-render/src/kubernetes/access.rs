//! A stack's namespace boundary: NetworkPolicies (who may talk to whom), the quota and
//! limit range sized from the stack's budget, and RBAC for the teams that reach it.

use super::*;

pub(super) fn network_policies(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
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
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(selector(&[(
                        "kubernetes.io/metadata.name",
                        "kube-system",
                    )])),
                    pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
                    ..Default::default()
                }]),
                ports: Some(vec![
                    NetworkPolicyPort {
                        port: Some(IntOrString::Int(53)),
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                    tcp(53),
                ]),
            }]),
            ..Default::default()
        },
    ))?;
    out.push(&policy(
        "allow-ingress-from-traefik",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[ODOO_POD, WEB])),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![namespace_peer(&settings.traefik_namespace)]),
                ports: Some(vec![
                    tcp(i32::from(HTTP_PORT)),
                    tcp(i32::from(WEBSOCKET_PORT)),
                ]),
            }]),
            ..Default::default()
        },
    ))?;
    // Odoo reaches PostgreSQL, Redis (where rendered), the mail servers and the declared
    // integrations, nothing else.
    let pg = ("cnpg.io/cluster", s.db_cluster.as_str());
    let mut egress = vec![NetworkPolicyEgressRule {
        to: Some(vec![pods(&[pg])]),
        ports: Some(vec![tcp(5432)]),
    }];
    if s.redis_sessions {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![pods(&[REDIS_POD])]),
            ports: Some(vec![tcp(6379)]),
        });
    }
    // Mail: invoices, password resets and notifications leave through the relay (web and
    // cron both send); fetchmail reads the incoming server.
    let mail = &settings.mail;
    let mut mail_hosts = BTreeSet::new();
    for server in mail
        .outgoing
        .iter()
        .map(|m| &m.server)
        .chain(mail.incoming.iter())
    {
        mail_hosts.insert(format!("{}:{}", server.host.value, server.port.value));
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![mail_peer(server)]),
            ports: Some(vec![tcp(
                i32::try_from(server.port.value).unwrap_or(i32::MAX)
            )]),
        });
    }
    let integration_ports: BTreeSet<i32> = s
        .members
        .iter()
        .flat_map(|m| m.workload.spec.integrations.iter())
        .map(|i| url_port(&i.endpoint.value))
        .collect();
    if !integration_ports.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![internet()]),
            ports: Some(integration_ports.into_iter().map(tcp).collect()),
        });
    }
    let integrations: Vec<String> = s
        .members
        .iter()
        .flat_map(|m| m.workload.spec.integrations.iter())
        .map(|i| url_host(&i.endpoint.value))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut odoo_egress = policy(
        "allow-odoo-egress",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[ODOO_POD])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(egress),
            ..Default::default()
        },
    );
    let mut annotations = BTreeMap::new();
    if !integrations.is_empty() {
        // NetworkPolicy cannot name hosts; the list is kept for review and for an
        // FQDN-aware policy engine or egress proxy to enforce.
        annotations.insert("ward.dev/integrations".to_string(), integrations.join(","));
    }
    if !mail_hosts.is_empty() {
        annotations.insert(
            "ward.dev/mail-servers".to_string(),
            mail_hosts.into_iter().collect::<Vec<_>>().join(","),
        );
    }
    if !annotations.is_empty() {
        odoo_egress.metadata.annotations = Some(annotations);
    }
    out.push(&odoo_egress)?;
    // Ward's jobs reach PostgreSQL, the estate's Git server and the S3 backup stores of
    // their environments (DNS is `allow-dns`), on public addresses only, like Odoo.
    let (mut job_ports, mut job_hosts) = ward_job_destinations(settings, s);
    let mut job_rules = vec![NetworkPolicyEgressRule {
        to: Some(vec![pods(&[pg])]),
        ports: Some(vec![tcp(5432)]),
    }];
    // The Pushgateway the results go to: a cluster service by its namespace, else like
    // any outside host.
    if let Some(url) = &settings.pushgateway {
        match service_namespace(url) {
            Some(ns) => job_rules.push(NetworkPolicyEgressRule {
                to: Some(vec![namespace_peer(&ns)]),
                ports: Some(vec![tcp(url_port(url))]),
            }),
            None => {
                job_ports.insert(url_port(url));
                job_hosts.insert(url_host(url));
            }
        }
    }
    job_rules.push(NetworkPolicyEgressRule {
        to: Some(vec![internet()]),
        ports: Some(job_ports.into_iter().map(tcp).collect()),
    });
    let mut jobs_egress = policy(
        "allow-ward-jobs-egress",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[WARD_JOB])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(job_rules),
            ..Default::default()
        },
    );
    // As for integrations: the hosts, for review and for an FQDN-aware engine.
    jobs_egress.metadata.annotations = Some(labels(&[(
        "ward.dev/egress-hosts",
        &job_hosts.into_iter().collect::<Vec<_>>().join(","),
    )]));
    out.push(&jobs_egress)?;
    out.push(&policy(
        "allow-postgres",
        NetworkPolicySpec {
            pod_selector: Some(selector(&[pg])),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    // Ward's jobs, and the server where it schedules them instead.
                    from: Some(
                        [pods(&[ODOO_POD]), pods(&[WARD_JOB])]
                            .into_iter()
                            .chain(server_peer(settings, &s.cluster))
                            .collect(),
                    ),
                    ports: Some(vec![tcp(5432)]),
                },
                // Replication between instances, and the operator's status checks.
                cnpg_instance_ingress(pg),
                postgres_metrics_ingress(),
            ]),
            egress: Some(vec![
                cnpg_instance_egress(pg),
                // The instance manager talks to the API server; WAL goes to object storage.
                api_server_egress(),
            ]),
        },
    ))?;
    if s.redis_sessions {
        out.push(&policy(
            "allow-redis",
            NetworkPolicySpec {
                pod_selector: Some(selector(&[REDIS_POD])),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![pods(&[ODOO_POD])]),
                    ports: Some(vec![tcp(6379)]),
                }]),
                ..Default::default()
            },
        ))?;
    }
    Ok(())
}

/// Where a mail server is: its `cidr` when the estate gives one, the host itself when it
/// is an IPv4 address, a namespace for a cluster service (`<svc>.<ns>.svc`), else public
/// addresses only, like the integrations.
pub(super) fn mail_peer(server: &ward_estate::model::MailServer) -> NetworkPolicyPeer {
    let block = |cidr: String| NetworkPolicyPeer {
        ip_block: Some(IPBlock { cidr, except: None }),
        ..Default::default()
    };
    if let Some(cidr) = &server.cidr {
        return block(cidr.value.clone());
    }
    let host = server.host.value.as_str();
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return block(format!("{host}/32"));
    }
    match service_namespace(&format!("smtp://{host}")) {
        Some(ns) => namespace_peer(&ns),
        None => internet(),
    }
}

/// The ports and hosts Ward's jobs of a stack connect to outside the namespace: the
/// estate repository and each member's S3 backup store (AWS's regional endpoint when the
/// store names none).
pub(super) fn ward_job_destinations(
    settings: &Settings,
    s: &Stack<'_>,
) -> (BTreeSet<i32>, BTreeSet<String>) {
    let mut ports = BTreeSet::from([url_port(&settings.estate_repository)]);
    let mut hosts = BTreeSet::from([url_host(&settings.estate_repository)]);
    for m in &s.members {
        // The store the jobs use (`jobs::job_store`), which is always S3.
        let Ok(store) = job_store(settings, m) else {
            continue;
        };
        let (port, host) = store_destination(store);
        ports.insert(port);
        hosts.insert(host);
    }
    (ports, hosts)
}

/// The port and host an S3 store is reached at: its endpoint, else AWS's in its region.
pub(super) fn store_destination(store: &ward_estate::model::ObjectStore) -> (i32, String) {
    match &store.endpoint {
        Some(e) => (url_port(&e.value), url_host(&e.value)),
        None => {
            let region = store
                .region
                .as_ref()
                .map_or("us-east-1", |r| r.value.as_str());
            (443, format!("s3.{region}.amazonaws.com"))
        }
    }
}

/// The namespace of an in-cluster service URL, `http://<service>.<namespace>.svc[…]`.
pub(super) fn service_namespace(url: &str) -> Option<String> {
    let host = url_host(url);
    let mut labels = host.split('.');
    let (_service, namespace, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (svc == "svc" && !namespace.is_empty()).then(|| namespace.to_string())
}

/// The TCP port of an integration endpoint URL (443 for https unless written).
pub fn url_port(url: &str) -> i32 {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some((_, port)) = authority.rsplit_once(':')
        && let Ok(p) = port.parse::<i32>()
    {
        return p;
    }
    if scheme == "http" { 80 } else { 443 }
}

pub(super) fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    authority.split(':').next().unwrap_or_default().to_string()
}

pub(super) struct Budget {
    pub(super) web_cpu: u32,
    pub(super) web_memory: u64,
    pub(super) pg_cpu: u32,
    pub(super) pg_memory: u64,
    pub(super) max_web: u32,
}

pub(super) fn budget(s: &Stack<'_>) -> Budget {
    let (pg_cpu, pg_memory) = pg_sizing(s);
    let (web_cpu, web_memory) = web_pod(s);
    Budget {
        web_cpu,
        web_memory,
        pg_cpu,
        pg_memory,
        max_web: max_web(s),
    }
}

/// One web pod's CPU (millicores) and memory. Apart from [`budget`] because PostgreSQL's
/// sizing counts the connections web pods open, which depend on this.
pub(super) fn web_pod(s: &Stack<'_>) -> (u32, u64) {
    (s.cpu_millicores.max(250), s.memory_bytes.max(512 << 20))
}

/// The most web pods a stack runs: twice the replicas under tier 1's autoscaler.
pub(super) fn max_web(s: &Stack<'_>) -> u32 {
    if s.tier == 1 {
        s.replicas * 2
    } else {
        s.replicas
    }
}

/// Room for one more PostgreSQL instance than the posture runs: when CloudNativePG
/// rebuilds or replaces an instance it creates the new instance's PVCs before the old
/// ones are removed, and a quota without that room blocks the failover it is for.
const REPLACEMENT_INSTANCES: u32 = 1;
/// Room the quota keeps for volumes nothing above names (a spare, a manual PVC).
const SPARE_STORAGE_BYTES: u64 = 2 << 30;

/// `requests.storage` of a stack's quota: every PostgreSQL instance's volumes, one
/// replacement instance's, the filestore, Ward's state and a spare.
pub(super) fn storage_budget(s: &Stack<'_>) -> u64 {
    let instances = u64::from(s.posture.postgres_instances.max(1) + REPLACEMENT_INSTANCES);
    pg_volumes(s).bytes() * instances + s.filestore_bytes + WARD_STATE_BYTES + SPARE_STORAGE_BYTES
}

/// `persistentvolumeclaims` of a stack's quota: PostgreSQL's (data, and WAL on tier 1)
/// for every instance and a replacement, the filestore, Ward's state and one
/// spare.
pub(super) fn claims_budget(s: &Stack<'_>) -> u32 {
    let instances = s.posture.postgres_instances.max(1) + REPLACEMENT_INSTANCES;
    pg_volumes(s).claims() * instances + 4
}

pub(super) fn quota(
    out: &mut Out<'_>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let b = budget(s);
    let pg = s.posture.postgres_instances.max(1);
    let members = u32::try_from(s.members.len()).unwrap_or(u32::MAX);
    let (sidecar_cpu, sidecar_memory) = barman_sidecar_sizing(s);
    // Web at its autoscaling maximum, one cron pod, PostgreSQL with its barman-cloud
    // sidecar, Redis and Ward's jobs with the drill cluster (sized from the data,
    // `jobs::jobs_budget`), plus a fifth for rolling updates.
    let (job_cpu, job_memory, job_scratch) = jobs_budget(s);
    let cpu = u64::from(b.web_cpu) * u64::from(b.max_web + 1)
        + u64::from(b.pg_cpu + sidecar_cpu) * u64::from(pg)
        + 500
        + job_cpu;
    let memory = b.web_memory * u64::from(b.max_web + 1)
        + (b.pg_memory + sidecar_memory) * u64::from(pg)
        + (512 << 20)
        + job_memory;
    let cpu = cpu + cpu / 5;
    let memory = memory + memory / 5;
    // The drill's scratch filestore (a generic ephemeral volume) and the drill cluster's
    // volume are claims too, and the drill cluster gets room for a replacement instance
    // like any other CloudNativePG cluster.
    let drill_replacement = if drill_cluster_of(s).is_some() {
        drill_storage_bytes(s)
    } else {
        0
    };
    let storage = storage_budget(s) + job_scratch + drill_replacement;
    let hard: BTreeMap<String, Quantity> = [
        (
            "requests.cpu",
            q(cpu_quantity(u32::try_from(cpu).unwrap_or(u32::MAX))),
        ),
        (
            "limits.cpu",
            q(cpu_quantity(u32::try_from(cpu).unwrap_or(u32::MAX))),
        ),
        ("requests.memory", q(quantity(memory))),
        ("limits.memory", q(quantity(memory))),
        ("requests.storage", q(quantity(storage))),
        // See `claims_budget`, plus the drill's scratch volume and the drill cluster's.
        (
            "persistentvolumeclaims",
            q((claims_budget(s) + 2).to_string()),
        ),
        // Each environment has its own backup, drill and prune jobs; the drill cluster
        // has one instance.
        (
            "pods",
            q((b.max_web + pg + REPLACEMENT_INSTANCES + 9 + 3 * members).to_string()),
        ),
        ("services.loadbalancers", q("0")),
        ("services.nodeports", q("0")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    out.push(&ResourceQuota {
        metadata: meta("stack-quota", &s.namespace, common),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    let (job_cpu, job_memory) = largest_job_container(s);
    let (drill_cpu, drill_memory) = drill_cluster_resources(s);
    let max_cpu = b.web_cpu.max(b.pg_cpu).max(job_cpu).max(drill_cpu);
    let max_mem = b
        .web_memory
        .max(b.pg_memory)
        .max(job_memory)
        .max(drill_memory);
    let map = |cpu: String, mem: String| -> BTreeMap<String, Quantity> {
        [("cpu".to_string(), q(cpu)), ("memory".to_string(), q(mem))].into()
    };
    out.push(&LimitRange {
        metadata: meta("container-limits", &s.namespace, common),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(map("500m".into(), "512Mi".into())),
                default_request: Some(map("100m".into(), "128Mi".into())),
                max: Some(map(cpu_quantity(max_cpu), quantity(max_mem))),
                ..Default::default()
            }],
        }),
    })?;
    Ok(())
}

pub(super) fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(v(groups)),
        resources: Some(v(resources)),
        verbs: v(verbs),
        ..Default::default()
    }
}

pub(super) const READ: &[&str] = &["get", "list", "watch"];
pub(super) const WRITE: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The namespaced rules of each admin role. Secrets are readable by no one: External
/// Secrets writes them and pods mount them.
pub fn role_rules(role: AdminRole) -> Vec<PolicyRule> {
    let workloads = [
        rule(
            &[""],
            &[
                "pods",
                "services",
                "configmaps",
                "persistentvolumeclaims",
                "serviceaccounts",
            ],
            WRITE,
        ),
        rule(
            &["apps"],
            &["deployments", "replicasets", "statefulsets"],
            WRITE,
        ),
        rule(&["batch"], &["jobs", "cronjobs"], WRITE),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["networking.k8s.io"], &["networkpolicies"], WRITE),
        rule(&["traefik.io"], &["ingressroutes", "middlewares"], WRITE),
        rule(&["cert-manager.io"], &["certificates"], WRITE),
        rule(&["external-secrets.io"], &["externalsecrets"], WRITE),
        rule(
            &["postgresql.cnpg.io"],
            &[
                "clusters",
                "scheduledbackups",
                "backups",
                "databases",
                "poolers",
            ],
            WRITE,
        ),
        rule(&["barmancloud.cnpg.io"], &["objectstores"], WRITE),
        rule(
            &["monitoring.coreos.com"],
            &["prometheusrules", "servicemonitors"],
            WRITE,
        ),
        rule(&[""], &["pods/log", "events"], READ),
    ];
    match role {
        AdminRole::PlatformOps => workloads.to_vec(),
        // What a DBA needs, and nothing that starts a pod: creating a pod, or anything that
        // makes one (a Job, a CronJob's Job, a CloudNativePG `Cluster` or `Pooler`, whose
        // pods may mount any Secret of the namespace or run SQL that reads a mounted
        // file), reads every Secret of the namespace. Backups are CloudNativePG `Backup`
        // objects and Ward's scheduled jobs; restores and new clusters go through
        // platform-ops (docs/rendering.md, "Access").
        AdminRole::Dba => vec![
            rule(
                &["postgresql.cnpg.io"],
                &["backups", "scheduledbackups", "databases"],
                WRITE,
            ),
            rule(&["postgresql.cnpg.io"], &["clusters", "poolers"], READ),
            rule(&["barmancloud.cnpg.io"], &["objectstores"], READ),
            rule(&["batch"], &["jobs", "cronjobs"], READ),
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "persistentvolumeclaims",
                    "services",
                    "events",
                ],
                READ,
            ),
            // `kubectl port-forward` to the PostgreSQL service for psql; no exec into pods.
            rule(&[""], &["pods/portforward"], &["create"]),
        ],
        AdminRole::SecurityReviewer => {
            let mut rules: Vec<PolicyRule> = workloads
                .iter()
                .map(|r| PolicyRule {
                    verbs: READ.iter().map(|s| (*s).to_string()).collect(),
                    ..r.clone()
                })
                .collect();
            rules.push(rule(
                &["rbac.authorization.k8s.io"],
                &["roles", "rolebindings"],
                READ,
            ));
            rules.push(rule(&[""], &["resourcequotas", "limitranges"], READ));
            rules
        }
        AdminRole::AppSupport => vec![
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "services",
                    "events",
                    "persistentvolumeclaims",
                ],
                READ,
            ),
            rule(&["apps"], &["deployments", "replicasets"], READ),
            rule(&["batch"], &["jobs", "cronjobs"], READ),
            rule(&["traefik.io"], &["ingressroutes"], READ),
        ],
    }
}

/// Identity-provider groups bound to `role` in a stack: teams that own a member workload,
/// and teams that own no workload at all (the platform's own teams).
pub(super) fn groups_for(
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    s: &Stack<'_>,
    role: AdminRole,
) -> Vec<String> {
    let owners = owning_teams;
    let members: BTreeSet<&str> = s
        .members
        .iter()
        .map(|m| m.workload.spec.owner.value.as_str())
        .collect();
    let mut groups: BTreeSet<String> = BTreeSet::new();
    for team in &estate.teams {
        let name = team.name();
        if (members.contains(name) || !owners.contains(name))
            && let Some(g) = team.spec.groups.get(role.name())
        {
            groups.insert(g.value.clone());
        }
    }
    groups.into_iter().collect()
}

pub(super) fn rbac(
    out: &mut Out<'_>,
    estate: &Estate,
    owning_teams: &BTreeSet<&str>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    admin_roles(out, &s.namespace, common, |role| {
        groups_for(estate, owning_teams, s, role)
    })
}

/// The four admin Roles of namespace `ns` (`ward-<role>`, the same rules everywhere), each
/// bound to the identity-provider groups `groups_of` gives it; a Role nobody holds gets no
/// binding.
pub(super) fn admin_roles(
    out: &mut Out<'_>,
    ns: &str,
    common: &BTreeMap<String, String>,
    groups_of: impl Fn(AdminRole) -> Vec<String>,
) -> Result<(), RenderError> {
    for role in [
        AdminRole::PlatformOps,
        AdminRole::Dba,
        AdminRole::SecurityReviewer,
        AdminRole::AppSupport,
    ] {
        let name = format!("ward-{}", role.name());
        out.push(&Role {
            metadata: meta(&name, ns, common),
            rules: Some(role_rules(role)),
        })?;
        let groups = groups_of(role);
        if groups.is_empty() {
            continue;
        }
        out.push(&RoleBinding {
            metadata: meta(&name, ns, common),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.clone(),
            },
            subjects: Some(
                groups
                    .into_iter()
                    .map(|g| Subject {
                        api_group: Some("rbac.authorization.k8s.io".into()),
                        kind: "Group".into(),
                        name: g,
                        ..Default::default()
                    })
                    .collect(),
            ),
        })?;
    }
    Ok(())
}
