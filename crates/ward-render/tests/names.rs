//! Names two parts share: the database host the estate resolves (what `ward backup` and
//! `ward drill` connect to, and what the controls read) is the rendered CloudNativePG
//! `Cluster`'s `-rw` service and `odoo.conf`'s `db_host`, for names long enough to be bounded.

mod common;

use serde_json::Value;
use ward_estate::Estate;
use ward_render::tree::Tree;

/// The example estate with billing's `staging` environment renamed to `staging_name`.
fn example_with_staging_named(staging_name: &str) -> Estate {
    common::loaded(common::example_edited(|name, text| {
        if name != "workloads/billing.yaml" {
            return text;
        }
        assert!(
            text.contains("    - name: staging\n"),
            "the example changed"
        );
        // The database keeps a short name of its own: a default over 63 bytes is refused at
        // load (PostgreSQL would truncate it), and this test is about the cluster's name.
        text.replace(
            "    - name: staging\n",
            &format!("    - name: {staging_name}\n      database: {{ name: billing_staging }}\n"),
        )
    }))
}

fn render(estate: &Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("the estate does not render: {e}"),
    }
}

/// The folder (`<cluster>/<namespace>`) holding an environment's primary `Cluster`: the
/// one whose Odoo configuration names the environment's database.
fn primary_cluster_name(tree: &Tree, cluster: &str, database: &str) -> (String, String) {
    let dbname = format!("db_name = {database}\n");
    for (path, file) in tree.objects() {
        let Some(folder) = path.strip_suffix("/externalsecret-odoo-config.yaml") else {
            continue;
        };
        if !folder.starts_with(&format!("{cluster}/")) {
            continue;
        }
        let web = odoo_conf(file.value.as_ref(), "odoo-web.conf");
        if !web.contains(&dbname) {
            continue;
        }
        let prefix = format!("{folder}/cluster-");
        let names: Vec<&str> = tree
            .objects()
            .filter(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(_, f)| f.value.as_ref())
            // The production cluster, not the drill cluster beside it.
            .filter(|v| v["metadata"]["labels"]["ward.dev/purpose"] != "restore-drill")
            .filter_map(|v| v["metadata"]["name"].as_str())
            .collect();
        let [name] = names.as_slice() else {
            panic!("{folder} has {} PostgreSQL clusters", names.len());
        };
        return (name.to_string(), web);
    }
    panic!("no stack on {cluster} serves database {database}")
}

fn odoo_conf(secret: Option<&Value>, which: &str) -> String {
    secret.map_or_else(String::new, |v| {
        v["spec"]["target"]["template"]["data"][which]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

fn db_host(conf: &str) -> Option<&str> {
    conf.lines().find_map(|l| l.strip_prefix("db_host = "))
}

/// Every dedicated environment: the resolved host is the rendered cluster's `-rw` service
/// and the host both odoo.conf files name.
fn assert_hosts_agree(estate: &Estate) {
    let tree = render(estate);
    let mut checked = 0;
    for env in &estate.environments {
        if env.classification.hosting != ward_estate::model::HostingModel::Dedicated {
            continue;
        }
        let (name, web) = primary_cluster_name(&tree, &env.cluster, &env.database.name);
        assert!(name.len() <= 50, "{name} leaves no room for `-rw`");
        assert_eq!(env.database.cluster, name, "{}", env.address());
        assert_eq!(
            env.database.host,
            format!("{name}-rw"),
            "{}: the vault would connect to a service that is not rendered",
            env.address()
        );
        assert_eq!(db_host(&web), Some(env.database.host.as_str()));
        checked += 1;
    }
    assert!(checked >= 2, "dedicated environments checked: {checked}");
}

#[test]
fn a_long_environment_name_resolves_the_host_the_renderer_bounds() {
    // `billing-` + 45 characters + `-db` is longer than 50: the cluster name is bounded
    // with a hash, the namespace (63) is not.
    let estate = example_with_staging_named(&"s".repeat(45));
    assert_hosts_agree(&estate);
    let staging = estate
        .environments
        .iter()
        .find(|e| e.environment.len() == 45);
    let Some(staging) = staging else {
        panic!("the renamed environment is not resolved");
    };
    assert_ne!(
        staging.database.host,
        format!("billing-{}-db-rw", "s".repeat(45)),
        "the unbounded name is no service"
    );
}

#[test]
fn a_name_longer_than_a_namespace_resolves_the_host_the_renderer_bounds() {
    // `billing-` + 60 characters is longer than 63: the namespace is bounded too.
    assert_hosts_agree(&example_with_staging_named(&"t".repeat(60)));
}

#[test]
fn names_at_the_bound_are_kept_whole() {
    // `billing-` + 39 + `-db` is exactly 50 characters: kept as written.
    let estate = example_with_staging_named(&"u".repeat(39));
    assert_hosts_agree(&estate);
    assert!(
        estate
            .environments
            .iter()
            .any(|e| e.database.host == format!("billing-{}-db-rw", "u".repeat(39)))
    );
}

#[test]
fn shared_stacks_resolve_the_shared_cluster() {
    let estate = common::example();
    let tree = render(&estate);
    let mut checked = 0;
    for env in &estate.environments {
        if env.classification.hosting == ward_estate::model::HostingModel::Dedicated {
            continue;
        }
        assert_eq!(env.database.cluster, "shared-db");
        assert_eq!(env.database.host, "shared-db-rw");
        let prefix = format!("{}/", env.cluster);
        let rendered = tree.objects().any(|(p, f)| {
            p.starts_with(&prefix)
                && f.value.as_ref().is_some_and(|v| {
                    v["kind"] == "Cluster" && v["metadata"]["name"] == env.database.cluster
                })
        });
        assert!(rendered, "{}: no shared cluster rendered", env.address());
        checked += 1;
    }
    assert!(checked > 0);
}
