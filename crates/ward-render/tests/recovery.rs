//! The recovery region's filestore restore on the example estate: the claim, the suspended
//! CronJob and what it mounts, the identity only the recovery namespace holds, the store it
//! reads (the recovery region's copy), its egress, and the refusal when there is no copy.
//! That the rendered command restores a real snapshot is tests/recovery_restore.rs of
//! ward-cli.

mod common;
mod flows;

use common::loaded;
use flows::{Cluster, Endpoint};
use serde_json::Value;
use std::net::Ipv4Addr;
use ward_render::tree::Tree;

const RECOVERY: &str = "recovery-eu2/billing-prod";
const JOB: &str = "cronjob-ward-restore-filestore-billing-prod.yaml";

fn render(estate: &ward_estate::Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("the estate does not render: {e}"),
    }
}

fn get<'t>(tree: &'t Tree, path: &str) -> &'t Value {
    match tree.files.get(path).and_then(|f| f.value.as_ref()) {
        Some(v) => v,
        None => panic!("{path} is not rendered"),
    }
}

fn args(job: &Value) -> Vec<String> {
    job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

#[test]
fn the_recovery_namespace_holds_a_suspended_filestore_restore_into_its_own_claim() {
    let t = render(&common::example());
    let job = get(&t, &format!("{RECOVERY}/{JOB}"));
    // Never on its own: suspended, on a date that never comes, run by a person with the
    // kubectl idiom its annotation gives.
    assert_eq!(job["spec"]["suspend"], true);
    assert_eq!(
        job["spec"]["schedule"],
        ward_render::kubernetes::NEVER_SCHEDULE
    );
    let run = job["metadata"]["annotations"][ward_render::kubernetes::RUN_COMMAND_ANNOTATION]
        .as_str()
        .expect("the run command");
    assert!(
        run.starts_with(
            "kubectl --namespace billing-prod create job --from=cronjob/ward-restore-filestore-billing-prod "
        ),
        "{run}"
    );
    // The restore of the newest verified snapshot's filestore, nothing else.
    let args = args(job);
    assert_eq!(args[0], "restore");
    assert_eq!(flag(&args, "--latest"), Some("billing/prod"));
    assert!(args.iter().any(|a| a == "--filestore-only"), "{args:?}");
    assert!(!args.iter().any(|a| a == "--replace"), "{args:?}");
    let estate = common::example();
    let env = estate
        .environments
        .iter()
        .find(|e| e.address() == "billing/prod")
        .expect("billing/prod");
    assert_eq!(flag(&args, "--to-db"), Some(env.database.name.as_str()));
    // It writes into the claim, mounted where --filestore says, writable; as Odoo's user.
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "filestore"))
        .expect("the filestore volume");
    assert_eq!(
        volume["persistentVolumeClaim"]["claimName"],
        "odoo-filestore"
    );
    assert!(volume["persistentVolumeClaim"]["readOnly"].is_null());
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "filestore"))
        .expect("the filestore mount");
    assert_eq!(mount["mountPath"].as_str(), flag(&args, "--filestore"));
    assert!(mount["readOnly"].is_null() && mount["subPath"].is_null());
    assert_eq!(pod["securityContext"]["runAsUser"], 101);
    // The claim is the primary's twin, sized by the same function.
    let primary = get(
        &t,
        "dedicated-eu1/billing-prod/persistentvolumeclaim-odoo-filestore.yaml",
    );
    let twin = get(
        &t,
        &format!("{RECOVERY}/persistentvolumeclaim-odoo-filestore.yaml"),
    );
    assert_eq!(twin["spec"], primary["spec"]);
    assert_eq!(
        twin["metadata"]["annotations"]["argocd.argoproj.io/sync-options"],
        "Prune=false,Delete=false"
    );
    // The new files are in the folder's kustomization (tests/kubernetes.rs checks that it
    // lists exactly the folder's files, and validates each against the schemas).
    let kustomization = &t.files[&format!("{RECOVERY}/kustomization.yaml")].text;
    let listed: Vec<&str> = kustomization
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    for file in [
        JOB,
        "persistentvolumeclaim-odoo-filestore.yaml",
        "persistentvolumeclaim-ward-state.yaml",
        "serviceaccount-ward-jobs.yaml",
        "externalsecret-ward-recovery-identity.yaml",
        "externalsecret-ward-objectstore-care-backups.yaml",
        "networkpolicy-allow-ward-jobs-egress.yaml",
    ] {
        assert!(listed.contains(&file), "{file} not in {listed:?}");
    }
}

/// The identity that decrypts the restore is the stack's drill identity (whose recipient
/// only billing/prod's backups carry), fetched in the recovery namespace alone, mounted
/// into the restore's pods alone, and reachable by that namespace's SecretStore.
#[test]
fn the_restore_identity_is_the_stacks_own_and_lives_in_the_recovery_namespace_only() {
    let t = render(&common::example());
    let identity_files: Vec<&String> = t
        .files
        .keys()
        .filter(|p| p.ends_with("/externalsecret-ward-recovery-identity.yaml"))
        .collect();
    assert_eq!(
        identity_files,
        [&format!(
            "{RECOVERY}/externalsecret-ward-recovery-identity.yaml"
        )]
    );
    let es = get(&t, identity_files[0]);
    let key = "platform/ward/drill-identity/dedicated-eu1/billing-prod";
    assert_eq!(es["spec"]["data"][0]["remoteRef"]["key"], key);
    // The recovery namespace's SecretStore's policy names that key (it reaches what the
    // namespace's ExternalSecrets fetch, nothing more).
    let store = get(&t, &format!("{RECOVERY}/secretstore-hospital-vault.yaml"));
    let policy = store["metadata"]["annotations"]["ward.dev/vault-policy"]
        .as_str()
        .unwrap_or_default();
    assert!(policy.contains(key), "{policy}");
    for (path, file) in &t.files {
        let Some(v) = &file.value else { continue };
        if v["kind"] != "CronJob" {
            continue;
        }
        let volumes = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"];
        let mounts_it = volumes
            .as_array()
            .into_iter()
            .flatten()
            .any(|vol| vol["secret"]["secretName"] == "ward-recovery-identity");
        assert_eq!(mounts_it, path.ends_with(JOB), "{path}");
    }
}

/// The restore reads the recovery region's copy: the job store itself when it is in that
/// region (the example's `care-backups`), its `replicateTo` copy when it is not, and a
/// render with neither is refused. The egress follows the store.
#[test]
fn the_restore_reads_the_recovery_regions_copy_of_the_snapshots() {
    let t = render(&common::example());
    assert_eq!(
        flag(
            &args(get(&t, &format!("{RECOVERY}/{JOB}"))),
            "--object-store"
        ),
        Some("care-backups")
    );
    // care-backups moved to the primary region, replicating to a store in the recovery one.
    let moved = |text: String, replicate: bool| {
        let from = "      endpoint: https://s3.eu-central-1.care.example\n      bucket: care-ward-backups\n      region: eu-central-1\n";
        assert!(text.contains(from), "the example's care-backups changed");
        // Its own replica is dropped: the test gives it another, or none.
        let own = "      credentials: { store: hospital-vault, key: platform/ward-backups }\n";
        let text = text.replace(&format!("{own}      replicateTo: care-backups-eu1\n"), own);
        let mut to = "      endpoint: https://s3.eu-west-1.care.example\n      bucket: care-ward-backups\n      region: eu-west-1\n".to_string();
        if replicate {
            to.push_str("      replicateTo: care-backups-eu2\n");
        }
        text.replace(from, &to).replace(
            "  secretStores:\n",
            "    - name: care-backups-eu2\n      type: s3\n      endpoint: https://backups.eu-central-1.care.example:9443\n      bucket: care-ward-backups-eu2\n      region: eu-central-1\n      versioning: true\n      objectLock: { mode: compliance, days: 35 }\n      credentials: { store: hospital-vault, key: platform/ward-backups-eu2 }\n  secretStores:\n",
        )
    };
    let edited = |replicate: bool| {
        common::example_edited(|name, text| {
            if name == "platform.yaml" {
                moved(text, replicate)
            } else {
                text
            }
        })
    };
    let t = render(&loaded(edited(true)));
    let job = get(&t, &format!("{RECOVERY}/{JOB}"));
    assert_eq!(flag(&args(job), "--object-store"), Some("care-backups-eu2"));
    // Its keys, not the primary store's, are in the restore's secrets folder.
    let sources = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "secrets"))
        .map(|v| v["projected"]["sources"].clone())
        .expect("the secrets volume");
    let names: Vec<&str> = sources
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["secret"]["name"].as_str())
        .collect();
    assert_eq!(names, ["ward-objectstore-care-backups-eu2"]);
    let es = get(
        &t,
        &format!("{RECOVERY}/externalsecret-ward-objectstore-care-backups-eu2.yaml"),
    );
    assert_eq!(
        es["spec"]["data"][0]["remoteRef"]["key"],
        "platform/ward-backups-eu2"
    );
    assert!(!t.files.contains_key(&format!(
        "{RECOVERY}/externalsecret-ward-objectstore-care-backups.yaml"
    )));
    // The restore's pods reach the copy's port on public addresses, DNS, the estate's Git
    // server; nothing else: not the primary's port, not PostgreSQL, not a private address.
    let mut c = Cluster::from_tree(&t, "recovery-eu2");
    let pods = c.cronjob_pods("billing-prod", ("ward.dev/job", "restore-filestore"));
    assert_eq!(pods.len(), 1);
    let public = Endpoint::Address(Ipv4Addr::new(203, 0, 113, 7));
    let private = Endpoint::Address(Ipv4Addr::new(10, 1, 2, 3));
    let dns = c.pod("kube-system", flows::labels(&[("k8s-app", "kube-dns")]));
    let postgres = c.pod(
        "billing-prod",
        flows::labels(&[("cnpg.io/cluster", "billing-prod-db")]),
    );
    for pod in &pods {
        assert!(c.may_reach(pod, &public, 9443, "TCP"), "the copy's port");
        assert!(
            c.may_reach(pod, &public, 443, "TCP"),
            "the estate's Git server"
        );
        assert!(c.may_reach(pod, &Endpoint::Pod(dns.clone()), 53, "UDP"));
        for port in [80, 5432, 6379, 8080, 9091] {
            assert!(!c.may_reach(pod, &public, port, "TCP"), "{port}");
        }
        assert!(!c.may_reach(pod, &private, 9443, "TCP"));
        assert!(!c.may_reach(pod, &Endpoint::Pod(postgres.clone()), 5432, "TCP"));
    }
    // Neither in the recovery region nor copied there: refused, naming the store.
    match ward_render::render_kubernetes(&loaded(edited(false))) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("care-backups") && text.contains("replicateTo"),
                "{text}"
            );
        }
        Ok(_) => panic!("a restore reading from the lost region was rendered"),
    }
}
