//! What the rendered NetworkPolicies let through, evaluated by the model in `flows`:
//! Odoo reaches its database, its Redis where one is rendered, DNS and the mail servers;
//! never another stack's database; and the internet only on the ports the estate names.
//! Ward's backup job reaches its cluster's replicas, which its snapshots are read from.
//! Ward itself (`ward-system`): the API from the ingress controller only, metrics from
//! Prometheus only, its store from the server only, tenants' databases when it schedules.

mod common;
mod flows;

use flows::{Cluster, Endpoint, Pod, labels};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use ward_estate::Estate;
use ward_render::tree::Tree;

/// Public addresses the example's mail hosts resolve to in this test (TEST-NET-3).
fn resolve(host: &str) -> Ipv4Addr {
    match host {
        "smtp.care.example" => Ipv4Addr::new(203, 0, 113, 25),
        "imap.care.example" => Ipv4Addr::new(203, 0, 113, 26),
        other => panic!("no address for {other} in this test"),
    }
}

fn rendered() -> (Estate, Tree) {
    let estate = common::example();
    match ward_render::render_kubernetes(&estate) {
        Ok(t) => (estate, t),
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

fn clusters(tree: &Tree) -> Vec<String> {
    let names: BTreeSet<String> = tree
        .files
        .keys()
        .filter_map(|p| p.split('/').next().map(String::from))
        .collect();
    names.into_iter().collect()
}

/// Every stack namespace of a cluster that runs Odoo, with its web and cron pods.
fn odoo_pods(c: &mut Cluster) -> Vec<(String, Pod, Pod)> {
    let mut out = Vec::new();
    for ns in c.namespaces_with("Deployment", "odoo-web") {
        let web = c.pod_of(&ns, "odoo-web").expect("web pod");
        let cron = c.pod_of(&ns, "odoo-cron").expect("cron pod");
        out.push((ns, web, cron));
    }
    out
}

/// The pod of the namespace's CloudNativePG cluster, labelled as the operator labels its
/// instances.
fn postgres_pod(c: &mut Cluster, ns: &str) -> Pod {
    postgres_instance(c, ns, "primary")
}

/// The namespace's own (not drill) CloudNativePG `Cluster` object.
fn postgres_cluster(c: &Cluster, ns: &str) -> serde_json::Value {
    let (key, value) = ward_render::kubernetes::DRILL_CLUSTER_LABEL;
    c.objects
        .iter()
        .find(|o| {
            o["kind"] == "Cluster"
                && o["apiVersion"] == "postgresql.cnpg.io/v1"
                && o["metadata"]["namespace"] == ns
                && o["metadata"]["labels"][key] != value
        })
        .cloned()
        .unwrap_or_else(|| panic!("{ns} has no PostgreSQL cluster"))
}

/// An instance of the namespace's CloudNativePG cluster in `role` (`primary` or
/// `replica`), labelled as the operator labels it: the `-ro` service selects
/// `cnpg.io/cluster` with `cnpg.io/instanceRole: replica` (older operators: `role`).
fn postgres_instance(c: &mut Cluster, ns: &str, role: &str) -> Pod {
    // The stack's own cluster, not the drill cluster beside it (which Odoo never reaches).
    let cluster = postgres_cluster(c, ns);
    let name = cluster["metadata"]["name"].as_str().expect("cluster name");
    c.pod(
        ns,
        labels(&[
            ("cnpg.io/cluster", name),
            ("cnpg.io/instanceRole", role),
            ("role", role),
        ]),
    )
}

/// The TCP ports on which a stack's members may reach the internet: their integrations'
/// and the mail servers'.
fn allowed_internet_ports(estate: &Estate, ns: &str, tree: &Tree) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    let mail = &estate
        .platform
        .as_ref()
        .expect("platform")
        .spec
        .rendering
        .mail;
    for server in mail
        .outgoing
        .iter()
        .map(|m| &m.server)
        .chain(mail.incoming.iter())
    {
        ports.insert(u16::try_from(server.port.value).expect("port"));
    }
    // The stack's members, by the owners of its Namespace object.
    let members: Vec<String> = tree
        .files
        .iter()
        .filter(|(p, _)| p.ends_with(&format!("/{ns}/namespace-{ns}.yaml")))
        .filter_map(|(_, f)| f.object.as_ref())
        .flat_map(|o| o.owners.iter().cloned().collect::<Vec<_>>())
        .collect();
    for w in &estate.workloads {
        let in_stack = members
            .iter()
            .any(|m| m.split('/').next() == Some(w.name()));
        if !in_stack {
            continue;
        }
        for i in &w.spec.integrations {
            let url = &i.endpoint.value;
            let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
            let authority = rest.split('/').next().unwrap_or_default();
            let port = match authority.rsplit_once(':') {
                Some((_, p)) => p.parse().expect("port"),
                None if scheme == "http" => 80,
                None => 443,
            };
            ports.insert(port);
        }
    }
    ports
}

#[test]
fn odoo_web_and_cron_reach_the_mail_servers_on_their_ports_only() {
    let (estate, tree) = rendered();
    let mail = &estate
        .platform
        .as_ref()
        .expect("platform")
        .spec
        .rendering
        .mail;
    let relay = mail.outgoing.as_ref().expect("the example names a relay");
    let imap = mail
        .incoming
        .as_ref()
        .expect("the example names an IMAP server");
    let relay_ip = Endpoint::Address(resolve(&relay.server.host.value));
    let imap_ip = Endpoint::Address(resolve(&imap.host.value));
    let relay_port = u16::try_from(relay.server.port.value).expect("port");
    let imap_port = u16::try_from(imap.port.value).expect("port");
    let mut seen = 0;
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        for (ns, web, cron) in odoo_pods(&mut c) {
            for pod in [&web, &cron] {
                assert!(
                    c.may_reach(pod, &relay_ip, relay_port, "TCP"),
                    "{ns}: {:?} cannot send mail",
                    pod.labels
                );
                assert!(
                    c.may_reach(pod, &imap_ip, imap_port, "TCP"),
                    "{ns}: fetchmail"
                );
                // Implicit-TLS SMTP and plain IMAP are not what the estate names.
                assert!(!c.may_reach(pod, &relay_ip, 465, "TCP"), "{ns}");
                assert!(!c.may_reach(pod, &imap_ip, 143, "TCP"), "{ns}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 4, "every Odoo stack is checked ({seen})");
}

#[test]
fn odoo_reaches_its_own_postgres_and_never_another_stacks() {
    let (_, tree) = rendered();
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        let stacks = odoo_pods(&mut c);
        let databases: Vec<(String, Pod)> = stacks
            .iter()
            .map(|(ns, _, _)| (ns.clone(), postgres_pod(&mut c, ns)))
            .collect();
        for (ns, web, cron) in &stacks {
            for (db_ns, pg) in &databases {
                let target = Endpoint::Pod(pg.clone());
                for pod in [web, cron] {
                    let reach = c.may_reach(pod, &target, 5432, "TCP");
                    assert_eq!(reach, ns == db_ns, "{ns} Odoo → {db_ns} PostgreSQL");
                }
            }
        }
        // The check is not vacuous where a cluster holds several stacks.
        if stacks.len() > 1 {
            assert!(databases.len() > 1);
        }
    }
}

#[test]
fn odoo_reaches_redis_only_where_redis_is_rendered() {
    let (_, tree) = rendered();
    let mut with_redis = 0;
    let mut without = 0;
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        let redis_namespaces = c.namespaces_with("Deployment", "redis");
        let stacks = odoo_pods(&mut c);
        for (ns, web, cron) in &stacks {
            // A Redis pod in this namespace: the rendered one, or one labelled alike that
            // someone started by hand.
            let redis = match c.pod_of(ns, "redis") {
                Some(p) => p,
                None => c.pod(
                    ns,
                    labels(&[
                        ("app.kubernetes.io/name", "redis"),
                        ("app.kubernetes.io/instance", ns),
                    ]),
                ),
            };
            let rendered = redis_namespaces.contains(ns);
            for pod in [web, cron] {
                assert_eq!(
                    c.may_reach(pod, &Endpoint::Pod(redis.clone()), 6379, "TCP"),
                    rendered,
                    "{ns}: Odoo → Redis"
                );
            }
            if rendered {
                with_redis += 1;
            } else {
                without += 1;
            }
            // Another stack's Redis is never reachable.
            for other in redis_namespaces.iter().filter(|o| *o != ns) {
                let theirs = c.pod_of(other, "redis").expect("rendered redis");
                assert!(
                    !c.may_reach(web, &Endpoint::Pod(theirs), 6379, "TCP"),
                    "{ns} → {other}"
                );
            }
        }
    }
    assert!(
        with_redis > 0 && without > 0,
        "{with_redis} with, {without} without"
    );
}

#[test]
fn every_odoo_pod_resolves_names() {
    let (_, tree) = rendered();
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        let dns = c.pod("kube-system", labels(&[("k8s-app", "kube-dns")]));
        let other_system_pod = c.pod("kube-system", labels(&[("k8s-app", "metrics-server")]));
        for (ns, web, cron) in odoo_pods(&mut c) {
            for pod in [&web, &cron] {
                for proto in ["UDP", "TCP"] {
                    assert!(
                        c.may_reach(pod, &Endpoint::Pod(dns.clone()), 53, proto),
                        "{ns} DNS/{proto}"
                    );
                }
                assert!(
                    !c.may_reach(pod, &Endpoint::Pod(other_system_pod.clone()), 53, "UDP"),
                    "{ns}"
                );
            }
        }
    }
}

#[test]
fn the_internet_is_reachable_only_on_the_ports_the_estate_allows() {
    let (estate, tree) = rendered();
    let public = Endpoint::Address(Ipv4Addr::new(198, 51, 100, 7));
    let private = Endpoint::Address(Ipv4Addr::new(10, 20, 30, 40));
    let probe: BTreeSet<u16> = (1..=1024)
        .chain([1433, 2525, 3306, 5432, 6379, 8069, 8072, 8080, 8443, 9000])
        .collect();
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        for (ns, web, cron) in odoo_pods(&mut c) {
            let allowed = allowed_internet_ports(&estate, &ns, &tree);
            assert!(allowed.contains(&587), "{ns}: {allowed:?}");
            for pod in [&web, &cron] {
                let open: BTreeSet<u16> = probe
                    .iter()
                    .copied()
                    .filter(|p| c.may_reach(pod, &public, *p, "TCP"))
                    .collect();
                let expected: BTreeSet<u16> = allowed.intersection(&probe).copied().collect();
                assert_eq!(open, expected, "{ns}: {:?}", pod.labels);
                assert!(
                    !probe.iter().any(|p| c.may_reach(pod, &public, *p, "UDP")),
                    "{ns}: UDP"
                );
                // Private ranges stay closed, whatever the port.
                assert!(
                    !allowed
                        .iter()
                        .any(|p| c.may_reach(pod, &private, *p, "TCP")),
                    "{ns}"
                );
            }
        }
    }
}

/// `ward backup run` reads its snapshot from the `-ro` service (the replicas) where the
/// cluster has more than one instance, and takes the garbage-collection barrier on the
/// primary: the backup job's egress and the instances' ingress admit both, on 5432, and
/// never another stack's instances.
#[test]
fn the_backup_job_reaches_its_clusters_replicas_and_primary() {
    let (_, tree) = rendered();
    let mut with_replicas = 0;
    for name in clusters(&tree) {
        let mut c = Cluster::from_tree(&tree, &name);
        let stacks: Vec<String> = odoo_pods(&mut c).into_iter().map(|(ns, _, _)| ns).collect();
        for ns in &stacks {
            let jobs = c.cronjob_pods(ns, ("ward.dev/job", "backup"));
            assert!(!jobs.is_empty(), "{ns} renders no backup CronJob");
            let instances = postgres_cluster(&c, ns)["spec"]["instances"]
                .as_u64()
                .expect("instances");
            let primary = postgres_instance(&mut c, ns, "primary");
            let replica = postgres_instance(&mut c, ns, "replica");
            for job in &jobs {
                for (what, pod) in [("primary", &primary), ("replica", &replica)] {
                    assert!(
                        c.may_reach(job, &Endpoint::Pod(pod.clone()), 5432, "TCP"),
                        "{ns}: the backup job cannot reach the {what}"
                    );
                }
                for other in stacks.iter().filter(|o| *o != ns) {
                    let theirs = postgres_instance(&mut c, other, "replica");
                    assert!(
                        !c.may_reach(job, &Endpoint::Pod(theirs), 5432, "TCP"),
                        "{ns}'s backup job reaches {other}'s replica"
                    );
                }
            }
            if instances > 1 {
                with_replicas += 1;
                // Every instance the -ro service selects runs with the feedback that keeps
                // vacuum on the primary from cancelling the dump.
                let parameters = &postgres_cluster(&c, ns)["spec"]["postgresql"]["parameters"];
                assert_eq!(parameters["hot_standby_feedback"], "on", "{ns}");
            }
        }
    }
    assert!(with_replicas > 0, "no stack of the example has a replica");
}

/// The example with `spec.controlPlane` as given (YAML flow mapping).
fn with_control_plane(control_plane: &str) -> Tree {
    let estate = common::loaded(common::example_edited(|name, text| {
        if name == "platform.yaml" {
            text.replacen(
                "spec:\n  clusters:",
                &format!("spec:\n  controlPlane: {control_plane}\n  clusters:"),
                1,
            )
        } else {
            text
        }
    }));
    match ward_render::render_kubernetes(&estate) {
        Ok(t) => t,
        Err(e) => panic!("the example with a control plane does not render: {e}"),
    }
}

const WARD_SYSTEM: &str = ward_render::metrics::CONTROL_PLANE_NAMESPACE;

/// The server's pod and a store instance, as the Deployment and CloudNativePG label them.
fn control_plane_pods(c: &mut Cluster) -> (Pod, Pod) {
    let server = c
        .pod_of(WARD_SYSTEM, ward_render::kubernetes::SERVER_NAME)
        .expect("the server's Deployment");
    let store = c.pod(
        WARD_SYSTEM,
        labels(&[
            ("cnpg.io/cluster", ward_render::kubernetes::STORE_CLUSTER),
            ("cnpg.io/instanceRole", "primary"),
        ]),
    );
    (server, store)
}

/// The API is reached from the ingress controller's namespace only and `/metrics` from
/// Prometheus's only, each on its own port; the store admits the server and nothing else
/// (no tenant pod, no Ward job of a stack); the server reaches its store, DNS and, on
/// public addresses only, the estate's Git server on 443.
#[test]
fn ward_system_admits_its_flows_and_nothing_else() {
    let (_, tree) = rendered();
    let api = u16::try_from(ward_render::kubernetes::API_PORT).expect("port");
    let metrics = u16::try_from(ward_render::kubernetes::METRICS_PORT).expect("port");
    let mut c = Cluster::from_tree(&tree, "shared-eu1");
    let (server, store) = control_plane_pods(&mut c);
    let traefik = c.pod("traefik", labels(&[("app.kubernetes.io/name", "traefik")]));
    let prometheus = c.pod(
        "monitoring",
        labels(&[("app.kubernetes.io/name", "prometheus")]),
    );
    let to_server = Endpoint::Pod(server.clone());
    assert!(
        c.may_reach(&traefik, &to_server, api, "TCP"),
        "ingress → API"
    );
    assert!(
        !c.may_reach(&traefik, &to_server, metrics, "TCP"),
        "ingress → metrics"
    );
    assert!(
        c.may_reach(&prometheus, &to_server, metrics, "TCP"),
        "Prometheus → metrics"
    );
    assert!(
        !c.may_reach(&prometheus, &to_server, api, "TCP"),
        "Prometheus → API"
    );
    let to_store = Endpoint::Pod(store.clone());
    assert!(
        c.may_reach(&server, &to_store, 5432, "TCP"),
        "server → store"
    );
    assert!(
        c.may_reach(&prometheus, &to_store, 9187, "TCP"),
        "store metrics"
    );
    let mut tenants = 0;
    for (ns, web, cron) in odoo_pods(&mut c) {
        for job in c.cronjob_pods(&ns, ("ward.dev/job", "backup")) {
            assert!(
                !c.may_reach(&job, &to_store, 5432, "TCP"),
                "{ns} job → store"
            );
            assert!(!c.may_reach(&job, &to_server, api, "TCP"), "{ns} job → API");
        }
        for pod in [&web, &cron] {
            assert!(!c.may_reach(pod, &to_store, 5432, "TCP"), "{ns} → store");
            assert!(!c.may_reach(pod, &to_server, api, "TCP"), "{ns} → API");
            assert!(
                !c.may_reach(pod, &to_server, metrics, "TCP"),
                "{ns} → metrics"
            );
        }
        // The CronJobs schedule here (the default): the server is not let into tenants.
        let pg = postgres_pod(&mut c, &ns);
        assert!(
            !c.may_reach(&server, &Endpoint::Pod(pg), 5432, "TCP"),
            "server → {ns}"
        );
        tenants += 1;
    }
    assert!(tenants >= 2, "{tenants}");
    let dns = c.pod("kube-system", labels(&[("k8s-app", "kube-dns")]));
    for proto in ["UDP", "TCP"] {
        assert!(
            c.may_reach(&server, &Endpoint::Pod(dns.clone()), 53, proto),
            "DNS/{proto}"
        );
    }
    let public = Endpoint::Address(Ipv4Addr::new(198, 51, 100, 7));
    let private = Endpoint::Address(Ipv4Addr::new(10, 20, 30, 40));
    assert!(c.may_reach(&server, &public, 443, "TCP"), "server → Git");
    assert!(
        !c.may_reach(&server, &private, 443, "TCP"),
        "server → private"
    );
    for port in [22, 80, 5432, 6443, 9091] {
        assert!(
            !c.may_reach(&server, &public, port, "TCP"),
            "server → :{port}"
        );
    }
    // Nothing of ward-system is in the other clusters.
    for other in ["dedicated-eu1", "recovery-eu2"] {
        let c = Cluster::from_tree(&tree, other);
        assert!(!c.namespaces.contains_key(WARD_SYSTEM), "{other}");
    }
}

/// With `scheduler: server`, the server reaches every stack's PostgreSQL and drill
/// cluster in its own cluster on 5432 (the stacks' policies admit it, as they admit their
/// own jobs), its OpenID provider on 443; tenants still never reach its store.
#[test]
fn the_scheduling_server_reaches_tenant_databases_and_tenants_never_its_store() {
    let tree = with_control_plane(
        "{ scheduler: server, url: 'https://ward.care.example', oidc: { issuer: 'https://login.care.example/realms/ward', clientId: ward } }",
    );
    let mut c = Cluster::from_tree(&tree, "shared-eu1");
    let (server, store) = control_plane_pods(&mut c);
    let to_store = Endpoint::Pod(store);
    let stacks = odoo_pods(&mut c);
    assert!(stacks.len() >= 2);
    for (ns, web, cron) in &stacks {
        let primary = postgres_instance(&mut c, ns, "primary");
        let replica = postgres_instance(&mut c, ns, "replica");
        for pg in [primary, replica] {
            assert!(
                c.may_reach(&server, &Endpoint::Pod(pg.clone()), 5432, "TCP"),
                "{ns}"
            );
            assert!(
                !c.may_reach(&server, &Endpoint::Pod(pg), 8000, "TCP"),
                "{ns}: 8000"
            );
        }
        let drill = c
            .objects
            .iter()
            .find(|o| {
                o["kind"] == "Cluster"
                    && o["metadata"]["namespace"] == ns.as_str()
                    && o["metadata"]["labels"][ward_render::kubernetes::DRILL_CLUSTER_LABEL.0]
                        == ward_render::kubernetes::DRILL_CLUSTER_LABEL.1
            })
            .and_then(|o| o["metadata"]["name"].as_str().map(String::from));
        if let Some(drill) = drill {
            let pod = c.pod(ns, labels(&[("cnpg.io/cluster", drill.as_str())]));
            assert!(
                c.may_reach(&server, &Endpoint::Pod(pod), 5432, "TCP"),
                "{ns} drill"
            );
        }
        // Odoo's pods are not the server: admitted by their own rule, never to the store.
        for pod in [web, cron] {
            assert!(!c.may_reach(pod, &to_store, 5432, "TCP"), "{ns} → store");
        }
        // A pod of a tenant namespace labelled like the server is not the server.
        let impostor = c.pod(ns, labels(&[("app.kubernetes.io/name", "ward-server")]));
        assert!(
            !c.may_reach(&impostor, &to_store, 5432, "TCP"),
            "{ns} impostor"
        );
    }
    let public = Endpoint::Address(Ipv4Addr::new(198, 51, 100, 7));
    assert!(
        c.may_reach(&server, &public, 443, "TCP"),
        "server → OpenID provider, S3"
    );
    assert!(
        !c.may_reach(&server, &public, 5432, "TCP"),
        "server → public 5432"
    );
}
