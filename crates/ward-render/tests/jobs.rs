//! Ward's backup and drill CronJobs on the example estate: the estate clone, the filestore
//! mount, the secrets folder laid out as `ward` resolves secret references, the state
//! volume, the drill's identity, their egress, and the new `rendering` fields' checks.

mod common;

use common::loaded;
use serde_json::Value;
use std::collections::BTreeMap;
use ward_estate::{Estate, ResolvedEnvironment};
use ward_render::tree::Tree;

/// The example estate's files, in memory, with `edit` applied to the platform's text.
fn example_with(edit: impl Fn(String) -> String) -> Result<Estate, ward_estate::LoadError> {
    common::example_edited(|name, text| {
        if name == "platform.yaml" {
            edit(text)
        } else {
            text
        }
    })
}

fn render(estate: &Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("the estate does not render: {e}"),
    }
}

/// The example's `vault` store moved to S3, with credentials and a non-default port,
/// replicating to the recovery region's `care-backups` as WARD-RS-007 asks of tier 1.
fn s3_vault(text: String) -> String {
    let local = "    - name: vault\n      type: local\n      path: vault\n";
    assert!(text.contains(local), "the example's vault store changed");
    text.replace(
        local,
        "    - name: vault\n      type: s3\n      endpoint: https://vault.s3.care.example:9443\n      bucket: care-vault\n      versioning: true\n      objectLock: { mode: compliance, days: 35 }\n      credentials: { store: hospital-vault, key: platform/ward/vault }\n      replicateTo: care-backups\n",
    )
}

fn get<'t>(tree: &'t Tree, path: &str) -> &'t Value {
    match tree.files.get(path).and_then(|f| f.value.as_ref()) {
        Some(v) => v,
        None => panic!("{path} is not rendered"),
    }
}

fn environment<'e>(estate: &'e Estate, address: &str) -> &'e ResolvedEnvironment {
    match estate.environments.iter().find(|e| e.address() == address) {
        Some(e) => e,
        None => panic!("{address} is not in the example"),
    }
}

/// `<cluster>/<namespace>` of an environment, from the CronJob that names it.
fn folder_of(tree: &Tree, what: &str, slug: &str) -> String {
    let suffix = format!("/cronjob-ward-{what}-{slug}.yaml");
    match tree.files.keys().find(|p| p.ends_with(&suffix)) {
        Some(p) => p.trim_end_matches(&suffix).to_string(),
        None => panic!("no {what} job for {slug}"),
    }
}

fn pod<'t>(tree: &'t Tree, what: &str, slug: &str) -> &'t Value {
    let folder = folder_of(tree, what, slug);
    &get(tree, &format!("{folder}/cronjob-ward-{what}-{slug}.yaml"))["spec"]["jobTemplate"]["spec"]
        ["template"]["spec"]
}

fn ward(pod: &Value) -> &Value {
    &pod["containers"][0]
}

fn env_of(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_string(),
                e.clone(),
            )
        })
        .collect()
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .get(name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

fn mount<'p>(container: &'p Value, volume: &str) -> Option<&'p Value> {
    container["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == volume)
}

fn volume<'p>(pod: &'p Value, name: &str) -> Option<&'p Value> {
    pod["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// Every `(Secret name, key, file)` the `secrets` volume projects.
fn secret_files(pod: &Value) -> Vec<(String, String, String)> {
    let Some(v) = volume(pod, "secrets") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for source in v["projected"]["sources"].as_array().into_iter().flatten() {
        let name = source["secret"]["name"].as_str().unwrap_or_default();
        for item in source["secret"]["items"].as_array().into_iter().flatten() {
            out.push((
                name.to_string(),
                item["key"].as_str().unwrap_or_default().to_string(),
                item["path"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out.sort();
    out
}

const DEDICATED: (&str, &str) = ("billing/prod", "billing-prod");
const SHARED: (&str, &str) = ("patient-portal/prod", "patient-portal-prod");

#[test]
fn the_backup_job_mounts_its_own_filestore_read_only_where_the_estate_resolves_it() {
    let estate = common::example();
    let t = render(&estate);
    for (address, slug) in [DEDICATED, SHARED] {
        let env = environment(&estate, address);
        assert_eq!(
            env.filestore,
            format!("/var/lib/odoo/filestore/{}", env.database.name)
        );
        let p = pod(&t, "backup", slug);
        let m = mount(ward(p), "filestore").expect("the filestore is mounted");
        assert_eq!(m["mountPath"], env.filestore.as_str(), "{address}");
        assert_eq!(m["readOnly"], true, "{address}");
        // Only this environment's folder of the claim, even in a shared namespace.
        let sub = format!("filestore/{}", env.database.name);
        assert_eq!(m["subPath"], sub.as_str(), "{address}");
        let v = volume(p, "filestore").expect("filestore volume");
        assert_eq!(v["persistentVolumeClaim"]["claimName"], "odoo-filestore");
        assert_eq!(v["persistentVolumeClaim"]["readOnly"], true);
        // The Odoo pods mount the same claim at the data dir, so the folder the job sees is
        // the folder Odoo writes.
        let folder = folder_of(&t, "backup", slug);
        let web =
            &get(&t, &format!("{folder}/deployment-odoo-web.yaml"))["spec"]["template"]["spec"];
        let odoo_mount = mount(&web["containers"][0], "filestore").expect("odoo mount");
        let data_dir = odoo_mount["mountPath"].as_str().unwrap_or_default();
        assert_eq!(format!("{data_dir}/{sub}"), env.filestore, "{address}");
        assert_eq!(
            volume(web, "filestore").expect("odoo volume")["persistentVolumeClaim"]["claimName"],
            "odoo-filestore"
        );
        // Odoo's group may read its files; the job is a member of it.
        let groups = &p["securityContext"]["supplementalGroups"];
        assert_eq!(*groups, serde_json::json!([101]), "{address}");
        // The drill restores into scratch space and never sees the live filestore.
        let drill = pod(&t, "drill", slug);
        assert!(volume(drill, "filestore").is_none(), "{address}");
    }
}

#[test]
fn the_secrets_folder_follows_the_run_time_contract() {
    let estate = loaded(example_with(s3_vault));
    let t = render(&estate);
    for (address, slug) in [DEDICATED, SHARED] {
        let env = environment(&estate, address);
        // The password reference `ward` reads: the declared one, else the default the
        // ExternalSecret uses.
        let (store, key, property) = match &env.database.password_ref {
            Some(r) => (
                r.store.value.clone(),
                r.key.value.clone(),
                r.property.as_ref().map(|p| p.value.clone()),
            ),
            None => (
                "hospital-vault".to_string(),
                format!("odoo/{}/{}", env.workload, env.environment),
                Some("db_password".to_string()),
            ),
        };
        let mut password_file = format!("{store}/{key}");
        if let Some(p) = property {
            password_file = format!("{password_file}/{p}");
        }
        let credentials = if address == DEDICATED.0 {
            "db-odoo-credentials".to_string()
        } else {
            format!("db-{slug}-credentials")
        };
        // The backup logs in as the environment's role, the drill as the drill role (see
        // `the_drill_role_lives_on_the_drill_cluster_only`): each pod holds its own password
        // only.
        let drill = &env.database.drill.password_secret;
        let drill_file = drill.file();
        for (what, login) in [
            ("backup", (credentials.clone(), password_file.clone())),
            (
                "drill",
                ("db-ward-drill-credentials".to_string(), drill_file.clone()),
            ),
        ] {
            let p = pod(&t, what, slug);
            let c = ward(p);
            assert_eq!(
                env_value(c, "WARD_SECRETS_DIR").as_deref(),
                Some("/var/run/ward/secrets")
            );
            let m = mount(c, "secrets").expect("secrets mounted");
            assert_eq!(m["mountPath"], "/var/run/ward/secrets");
            assert_eq!(m["readOnly"], true);
            assert_eq!(
                volume(p, "secrets").expect("secrets volume")["projected"]["defaultMode"],
                0o400
            );
            assert_eq!(p["securityContext"]["fsGroup"], 65_532);
            assert_eq!(p["securityContext"]["runAsUser"], 65_532);
            let files = secret_files(p);
            let mut expected = vec![
                (login.0, "password".to_string(), login.1),
                (
                    "ward-objectstore-care-backups".to_string(),
                    "access_key_id".to_string(),
                    "hospital-vault/platform/ward-backups/access_key_id".to_string(),
                ),
                (
                    "ward-objectstore-care-backups".to_string(),
                    "secret_access_key".to_string(),
                    "hospital-vault/platform/ward-backups/secret_access_key".to_string(),
                ),
            ];
            // Only the backup signs its snapshots, so only it holds the environment's
            // backup signing key, at the file `ward backup run` reads it from.
            if what == "backup" {
                expected.push((
                    format!("ward-backup-signing-{slug}"),
                    ward_estate::resolve::BACKUP_SIGNING_PROPERTY.to_string(),
                    env.backup_signing_secret.file(),
                ));
            }
            expected.sort();
            assert_eq!(files, expected, "{what} {address}");
            // The mount replaces the password in the environment.
            assert!(!env_of(c).contains_key("PGPASSWORD"), "{what} {address}");
        }
        // Every projected Secret is filled by an ExternalSecret of the same namespace,
        // which fetches exactly the remote key the file is named after.
        let folder = folder_of(&t, "backup", slug);
        let vault = &get(
            &t,
            &format!("{folder}/externalsecret-ward-objectstore-care-backups.yaml"),
        )["spec"];
        assert_eq!(vault["target"]["name"], "ward-objectstore-care-backups");
        assert_eq!(vault["secretStoreRef"]["name"], "hospital-vault");
        for (i, part) in ["access_key_id", "secret_access_key"].iter().enumerate() {
            assert_eq!(vault["data"][i]["secretKey"], *part);
            assert_eq!(
                vault["data"][i]["remoteRef"]["key"],
                "platform/ward-backups"
            );
            assert_eq!(vault["data"][i]["remoteRef"]["property"], *part);
        }
        let signing = &get(
            &t,
            &format!("{folder}/externalsecret-ward-backup-signing-{slug}.yaml"),
        )["spec"];
        assert_eq!(
            signing["target"]["name"],
            format!("ward-backup-signing-{slug}")
        );
        assert_eq!(
            signing["data"][0]["remoteRef"]["key"],
            format!("ward/backup-signing/{}/{}", env.workload, env.environment)
        );
        assert_eq!(signing["data"][0]["secretKey"], "private_key");
        let db = &get(&t, &format!("{folder}/externalsecret-{credentials}.yaml"))["spec"];
        assert_eq!(db["target"]["name"], credentials.as_str());
        assert!(db["target"]["template"]["data"]["password"].is_string());
        assert_eq!(db["secretStoreRef"]["name"], store.as_str());
        assert_eq!(db["data"][0]["remoteRef"]["key"], key.as_str());
        // The jobs reach the store's port, and its host is named for review.
        let policy = get(
            &t,
            &format!("{folder}/networkpolicy-allow-ward-jobs-egress.yaml"),
        );
        let rules = policy["spec"]["egress"].as_array().expect("egress rules");
        let ports_to = |peer: &dyn Fn(&Value) -> bool| -> Vec<i64> {
            rules
                .iter()
                .filter(|r| r["to"].as_array().into_iter().flatten().any(peer))
                .flat_map(|r| r["ports"].as_array().into_iter().flatten())
                .filter_map(|p| p["port"].as_i64())
                .collect()
        };
        let outside = ports_to(&|p| p["ipBlock"]["cidr"] == "0.0.0.0/0");
        // care-backups and its replica are both HTTPS on 443.
        assert_eq!(outside, vec![443]);
        // The Pushgateway is a service of the monitoring namespace, reached there only.
        let monitoring = ports_to(&|p| {
            p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
        });
        assert_eq!(monitoring, vec![9091]);
        assert_eq!(
            ports_to(&|p| p["podSelector"]["matchLabels"]["cnpg.io/cluster"].is_string()),
            vec![5432]
        );
        assert_eq!(
            policy["metadata"]["annotations"]["ward.dev/egress-hosts"],
            "git.care.example,s3.eu-central-1.care.example"
        );
    }
}

#[test]
fn jobs_of_an_environment_on_a_local_store_use_the_platforms_job_store() {
    let t = render(&common::example());
    for (address, slug) in [DEDICATED, SHARED] {
        // Every job names the S3 store `rendering.jobObjectStore` names, never `vault`.
        for what in ["backup", "drill", "prune"] {
            let args: Vec<String> = ward(pod(&t, what, slug))["args"]
                .as_array()
                .expect("args")
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            let at = args.iter().position(|a| a == "--object-store");
            assert_eq!(
                at.and_then(|i| args.get(i + 1)).map(String::as_str),
                Some("care-backups"),
                "{what} {address}: {args:?}"
            );
        }
        let files = secret_files(pod(&t, "backup", slug));
        assert!(
            files
                .iter()
                .any(|f| f.0 == "ward-objectstore-care-backups" && f.1 == "access_key_id"),
            "{files:?}"
        );
        let folder = folder_of(&t, "backup", slug);
        let es = &get(
            &t,
            &format!("{folder}/externalsecret-ward-objectstore-care-backups.yaml"),
        )["spec"];
        assert_eq!(es["data"][0]["remoteRef"]["key"], "platform/ward-backups");
    }
}

/// A render whose in-cluster jobs would write to a local store, or to one without the
/// lock the tier asks for, is refused, naming the setting to change.
#[test]
fn a_render_that_would_back_up_to_a_local_store_or_an_unlocked_one_is_refused() {
    let without = loaded(example_with(|t| {
        t.replace("    jobObjectStore: care-backups\n", "")
    }));
    match ward_render::render_kubernetes(&without) {
        Err(e @ ward_render::RenderError::JobStoreLocal { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("`vault`") && text.contains("rendering.jobObjectStore"),
                "{text}"
            );
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("rendered jobs that write to a local store"),
    }
    let to_local = loaded(example_with(|t| {
        t.replace("jobObjectStore: care-backups", "jobObjectStore: vault")
    }));
    assert!(matches!(
        ward_render::render_kubernetes(&to_local),
        Err(ward_render::RenderError::JobStoreNotS3(s)) if s == "vault"
    ));
    // Tier 1 (billing) asks for immutable copies: a store without object lock is refused,
    // and a governance lock for PHI too.
    let unlocked = loaded(example_with(|t| {
        t.replace(
            "      objectLock: { mode: compliance, days: 35 }\n      credentials: { store: hospital-vault, key: platform/ward-backups }",
            "      credentials: { store: hospital-vault, key: platform/ward-backups }",
        )
    }));
    match ward_render::render_kubernetes(&unlocked) {
        Err(ward_render::RenderError::JobStoreUnlocked { tier, store, .. }) => {
            assert_eq!((tier, store.as_str()), (1, "care-backups"));
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("rendered tier-1 backups to a store without object lock"),
    }
    let governance = loaded(example_with(|t| {
        t.replace(
            "      objectLock: { mode: compliance, days: 35 }\n      credentials: { store: hospital-vault, key: platform/ward-backups }",
            "      objectLock: { mode: governance, days: 35 }\n      credentials: { store: hospital-vault, key: platform/ward-backups }",
        )
    }));
    assert!(matches!(
        ward_render::render_kubernetes(&governance),
        Err(ward_render::RenderError::JobStoreGovernance { .. })
    ));
}

/// The jobs' CPU, memory and deadline grow with the environment's declared data, and the
/// drill's scratch filestore is a generic ephemeral volume of the declared filestore's size.
#[test]
fn jobs_are_sized_from_the_declared_data() {
    let t = render(&common::example());
    let sized = |what: &str, slug: &str| {
        let folder = folder_of(&t, what, slug);
        let job = &get(&t, &format!("{folder}/cronjob-ward-{what}-{slug}.yaml"))["spec"]["jobTemplate"]
            ["spec"];
        let limits = &job["template"]["spec"]["containers"][0]["resources"]["limits"];
        (
            job["activeDeadlineSeconds"].as_i64().expect("deadline"),
            limits["cpu"].as_str().expect("cpu").to_string(),
            limits["memory"].as_str().expect("memory").to_string(),
        )
    };
    // billing/prod: 200Gi + 100Gi = 300 GiB, 30 tens of GiB: 500m + 3000m, 512Mi + 1920Mi;
    // 300 GiB at 20 MiB/s = 15,360 s, twice that plus 15 minutes.
    assert_eq!(
        sized("backup", "billing-prod"),
        (2 * 15_360 + 900, "3500m".to_string(), "2432Mi".to_string())
    );
    assert_eq!(sized("drill", "billing-prod").0, 3 * 15_360 + 1800);
    // patient-portal/prod: 20Gi + 10Gi = 30 GiB: 800m, 704Mi; 1,536 s of transfer.
    assert_eq!(
        sized("backup", "patient-portal-prod"),
        (2 * 1536 + 900, "800m".to_string(), "704Mi".to_string())
    );
    // A drill's 2 h floor.
    assert_eq!(sized("drill", "patient-portal-prod").0, 7200);
    let scratch = volume(pod(&t, "drill", "billing-prod"), "tmp").expect("scratch volume");
    assert!(scratch.get("emptyDir").is_none(), "{scratch}");
    let claim = &scratch["ephemeral"]["volumeClaimTemplate"]["spec"];
    // 100Gi filestore + 10 % + 1 GiB = 111 GiB.
    assert_eq!(claim["resources"]["requests"]["storage"], "111Gi");
    assert_eq!(claim["accessModes"][0], "ReadWriteOnce");
    // Retention runs in the cluster: a daily prune, with a grace longer than the backup.
    let prune = ward(pod(&t, "prune", "billing-prod"));
    let args: Vec<&str> = prune["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(&args[..3], ["backup", "prune", "billing/prod"]);
    // Twice the backup's deadline (63,240 s) is under a day: the day's floor.
    let grace = "86400s";
    assert!(args.windows(2).any(|w| w == ["--grace", grace]), "{args:?}");
}

#[test]
fn only_the_drill_job_gets_the_identity() {
    let t = render(&common::example());
    let mut drills = 0;
    for (path, file) in &t.files {
        let Some(v) = &file.value else { continue };
        if v["kind"] != "CronJob" {
            continue;
        }
        let p = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        let c = ward(p);
        let identity = env_value(c, "WARD_IDENTITY");
        if v["metadata"]["labels"]["ward.dev/job"] == "drill" {
            drills += 1;
            assert_eq!(
                identity.as_deref(),
                Some("/var/run/ward/identity/key.txt"),
                "{path}"
            );
            let m = mount(c, "identity").expect("identity mounted");
            assert_eq!(m["readOnly"], true, "{path}");
            let secret = &volume(p, "identity").expect("identity volume")["secret"];
            assert_eq!(secret["secretName"], "ward-drill-identity", "{path}");
            assert_eq!(secret["defaultMode"], 0o400, "{path}");
            assert_eq!(secret["items"][0]["path"], "key.txt", "{path}");
            let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
            let es = get(
                &t,
                &format!("{folder}/externalsecret-ward-drill-identity.yaml"),
            );
            // The stack's own identity, at the key named after the stack (the folder is
            // `<cluster>/<namespace>`).
            assert_eq!(
                es["spec"]["data"][0]["remoteRef"]["key"],
                format!("platform/ward/drill-identity/{folder}").as_str()
            );
        } else if v["metadata"]["labels"]["ward.dev/job"] == "restore-filestore" {
            // The recovery region's filestore restore decrypts with the stack's drill
            // identity, from a Secret of the recovery namespace only (tests/recovery.rs).
            assert!(path.starts_with("recovery-eu2/"), "{path}");
            let secret = &volume(p, "identity").expect("identity volume")["secret"];
            assert_eq!(secret["secretName"], "ward-recovery-identity", "{path}");
        } else {
            assert!(identity.is_none(), "{path}");
            assert!(volume(p, "identity").is_none(), "{path}");
            assert!(
                !secret_files(p)
                    .iter()
                    .any(|(name, _, _)| name == "ward-drill-identity"),
                "{path}"
            );
        }
    }
    assert!(drills >= 5, "every environment has a drill ({drills})");

    // Without `drillIdentity` the drill job is still rendered (its failure is the signal
    // the drill alert and the job's log give), with no identity to find.
    let estate = loaded(example_with(|t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("drillIdentity:"))
            .map(|l| format!("{l}\n"))
            .collect()
    }));
    let t = render(&estate);
    let p = pod(&t, "drill", DEDICATED.1);
    assert!(env_value(ward(p), "WARD_IDENTITY").is_none());
    assert!(volume(p, "identity").is_none());
    assert!(
        !t.files
            .keys()
            .any(|p| p.ends_with("externalsecret-ward-drill-identity.yaml"))
    );
}

#[test]
fn jobs_clone_the_estate_and_keep_their_state() {
    let estate = common::example();
    let t = render(&estate);
    for (_, slug) in [DEDICATED, SHARED] {
        for what in ["backup", "drill"] {
            let p = pod(&t, what, slug);
            let init = &p["initContainers"][0];
            assert_eq!(init["command"], serde_json::json!(["git"]));
            let args: Vec<&str> = init["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(
                args[args.len() - 3..],
                [
                    "--",
                    "https://git.care.example/platform/estate.git",
                    "/clone/estate"
                ]
            );
            assert!(args.contains(&"--branch=main"));
            assert_eq!(init["securityContext"]["readOnlyRootFilesystem"], true);
            let target = mount(init, "estate").expect("clone target");
            assert_eq!(target["mountPath"], "/clone");
            assert_eq!(target["readOnly"], Value::Null);
            assert_eq!(
                env_value(init, "GIT_CONFIG_GLOBAL").as_deref(),
                Some("/var/run/ward/git/gitconfig")
            );
            assert_eq!(
                mount(init, "estate-git").expect("git credentials")["readOnly"],
                true
            );
            // `ward` itself never sees the Git token.
            let c = ward(p);
            assert!(mount(c, "estate-git").is_none());
            // The folder git created (owned by the job's user, so git trusts it), read-only.
            let estate = mount(c, "estate").expect("estate");
            assert_eq!(estate["mountPath"], "/estate");
            assert_eq!(estate["subPath"], "estate");
            assert_eq!(estate["readOnly"], true);
            assert_eq!(env_value(c, "WARD_ESTATE").as_deref(), Some("/estate"));
            assert_eq!(env_value(c, "WARD_STATE").as_deref(), Some("/var/lib/ward"));
            assert_eq!(
                env_value(c, "WARD_PUSHGATEWAY").as_deref(),
                Some("http://pushgateway.monitoring.svc:9091")
            );
            let state = mount(c, "state").expect("state mounted");
            assert_eq!(state["mountPath"], "/var/lib/ward");
            assert_eq!(
                volume(p, "state").expect("state volume")["persistentVolumeClaim"]["claimName"],
                "ward-state"
            );
        }
        let folder = folder_of(&t, "backup", slug);
        let pvc = get(
            &t,
            &format!("{folder}/persistentvolumeclaim-ward-state.yaml"),
        );
        assert_eq!(
            pvc["spec"]["accessModes"],
            serde_json::json!(["ReadWriteMany"])
        );
        let git = &get(&t, &format!("{folder}/externalsecret-ward-estate-git.yaml"))["spec"];
        assert_eq!(
            git["data"][0]["remoteRef"]["key"],
            "platform/ward/estate-reader"
        );
        let config = git["target"]["template"]["data"]["gitconfig"]
            .as_str()
            .unwrap_or_default();
        assert!(
            config.starts_with("[http \"https://git.care.example/platform/estate.git\"]\n"),
            "{config}"
        );
        assert!(config.contains("{{ .credentials | b64enc }}"), "{config}");
    }

    // Without the estate fields: the documented defaults, and no credentials.
    let estate = loaded(example_with(|t| {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("estate"))
            .map(|l| format!("{l}\n"))
            .collect()
    }));
    let t = render(&estate);
    let p = pod(&t, "backup", DEDICATED.1);
    let init = &p["initContainers"][0];
    assert!(
        init["args"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a == "https://git.invalid/ward/estate.git")
    );
    assert!(env_value(init, "GIT_CONFIG_GLOBAL").is_none());
    assert!(volume(p, "estate-git").is_none());
    assert!(
        !t.files
            .keys()
            .any(|p| p.ends_with("externalsecret-ward-estate-git.yaml"))
    );
}

#[test]
fn no_job_inlines_a_secret_value() {
    let estate = loaded(example_with(s3_vault));
    let t = render(&estate);
    for (path, file) in &t.files {
        let Some(v) = &file.value else { continue };
        assert_ne!(v["kind"], "Secret", "{path}");
        if v["kind"] != "CronJob" {
            continue;
        }
        let p = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        for c in p["initContainers"]
            .as_array()
            .into_iter()
            .chain(p["containers"].as_array())
            .flatten()
        {
            for (name, e) in env_of(c) {
                // Plain, non-secret settings only: secrets come as files.
                assert!(e.get("valueFrom").is_none(), "{path}: {name}");
                let value = e["value"].as_str().unwrap_or_default();
                assert!(
                    ward_estate::secrets::credential_shape(value).is_none(),
                    "{path}: {name}"
                );
            }
        }
        for v in p["volumes"].as_array().into_iter().flatten() {
            assert!(
                v.get("hostPath").is_none() && v.get("configMap").is_none(),
                "{path}"
            );
        }
    }
}

/// An edit of the platform's text.
type Edit = Box<dyn Fn(String) -> String>;

fn problems(estate: Result<Estate, ward_estate::LoadError>) -> Vec<String> {
    match estate {
        Ok(_) => Vec::new(),
        Err(ward_estate::LoadError::Invalid { diagnostics, .. }) => diagnostics
            .into_iter()
            .map(|d| format!("{} | {}", d.message, d.hint.unwrap_or_default()))
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn the_estate_fields_are_checked_at_load() {
    let set = |line: &'static str, value: &'static str| {
        move |t: String| {
            t.lines()
                .map(|l| {
                    if l.trim_start().starts_with(line) {
                        format!("    {line} {value}\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect::<String>()
        }
    };
    let cases: [(Edit, &str); 8] = [
        (
            Box::new(set("pushgateway:", "pushgateway.monitoring.svc:9091")),
            "must be an http:// or https:// URL",
        ),
        (
            Box::new(set(
                "estateRepository:",
                "git@git.care.example:platform/estate.git",
            )),
            "must be an https:// Git URL",
        ),
        (
            Box::new(set(
                "estateRepository:",
                "http://git.care.example/estate.git",
            )),
            "must be an https:// Git URL",
        ),
        (
            Box::new(set(
                "estateRepository:",
                "https://robot@git.care.example/estate.git",
            )),
            "names a user in the URL",
        ),
        (
            Box::new(set("estateRevision:", "--upload-pack=evil")),
            "is not a branch or tag name",
        ),
        (
            Box::new(set("estateRevision:", "main..other")),
            "is not a branch or tag name",
        ),
        (
            Box::new(set(
                "drillIdentity:",
                "{ store: hospital-vaul, key: platform/ward/drill-identity }",
            )),
            "unknown secret store `hospital-vaul` | did you mean `hospital-vault`?",
        ),
        (
            Box::new(|t: String| t.replace("estateRevision:", "estateRevison:")),
            "unknown field `spec.rendering.estateRevison` | did you mean `estateRevision`?",
        ),
    ];
    for (edit, expected) in cases {
        let found = problems(example_with(edit));
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "expected `{expected}` among {found:#?}"
        );
    }
    // A literal identity where a reference belongs is refused without echoing it.
    let key = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
    let found = problems(example_with(move |t| {
        t.lines()
            .map(|l| {
                if l.trim_start().starts_with("drillIdentity:") {
                    format!("    drillIdentity: {key}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    }));
    assert!(!found.is_empty());
    assert!(found.iter().all(|p| !p.contains(key)), "{found:#?}");
}

/// The rendered CloudNativePG `Cluster` of the stack an environment is in.
fn pg_cluster<'t>(tree: &'t Tree, slug: &str) -> &'t Value {
    let prefix = format!("{}/cluster-", folder_of(tree, "drill", slug));
    match tree
        .files
        .iter()
        // The production cluster, not the drill cluster beside it.
        .filter(|(path, _)| path.starts_with(&prefix))
        .filter_map(|(_, f)| f.value.as_ref())
        .find(|v| v["metadata"]["labels"]["ward.dev/purpose"] != "restore-drill")
    {
        Some(v) => v,
        None => panic!("no PostgreSQL cluster beside {slug}'s jobs"),
    }
}

/// The drill cluster beside `slug`'s jobs.
fn drill_pg_cluster<'t>(tree: &'t Tree, slug: &str) -> &'t Value {
    let prefix = format!("{}/cluster-", folder_of(tree, "drill", slug));
    match tree
        .files
        .iter()
        .filter(|(path, _)| path.starts_with(&prefix))
        .filter_map(|(_, f)| f.value.as_ref())
        .find(|v| v["metadata"]["labels"]["ward.dev/purpose"] == "restore-drill")
    {
        Some(v) => v,
        None => panic!("no drill cluster beside {slug}'s jobs"),
    }
}

/// What PostgreSQL's pg_hba does with a TCP connection of `user` to `database` without
/// TLS (`host` lines match, `hostssl` lines do not) or with it (both match): the method of
/// the first matching line, as PostgreSQL reads the file top down. Handles the forms Ward
/// renders: `all`, one quoted name, and the drill's scratch-name pattern.
fn hba_method(lines: &[String], database: &str, user: &str, tls: bool) -> Option<String> {
    let scratch = |name: &str| {
        name.strip_prefix("ward_drill_").is_some_and(|hex| {
            hex.len() == 12 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
        })
    };
    lines.iter().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [kind, db, role, address, method] = fields.as_slice() else {
            panic!("unexpected pg_hba line {line:?}")
        };
        assert_eq!(*address, "all", "{line}");
        let kind_matches = *kind == "host" || (*kind == "hostssl" && tls);
        let db_matches = match *db {
            "all" => true,
            "/^ward_drill_[0-9a-f]{12}$" => scratch(database),
            quoted => quoted.trim_matches('"') == database,
        };
        let role_matches = role.trim_matches('"') == user;
        (kind_matches && db_matches && role_matches).then(|| method.to_string())
    })
}

/// Every stack's drill cluster, dedicated and shared, has the drill role, least-privileged,
/// its password from a basic-auth ExternalSecret fetching the reference `ward-estate`
/// resolves, and pg_hba lets it reach only the maintenance database and scratch databases
/// — on PostgreSQL 16+ by pattern, before 16 (or when the image's major cannot be read) by
/// rejecting it on every database the stack owns — over TLS only; the production cluster
/// has neither the role nor its lines.
#[test]
fn the_drill_role_lives_on_the_drill_cluster_only() {
    let image = ":17.5@sha256:";
    // (the major, what replaces the example's image tag, whether pg_hba has the pattern)
    let variants = [
        ("17 (the example)", image, true),
        ("15", ":15.8-bookworm@sha256:", false),
        ("digest only", "@sha256:", false),
    ];
    for (major, replacement, pattern) in variants {
        let estate = loaded(example_with(|t| {
            assert!(t.contains(image), "the example's postgresImage changed");
            t.replace(image, replacement)
        }));
        let t = render(&estate);
        for (address, slug) in [DEDICATED, SHARED] {
            let env = environment(&estate, address);
            let drill = &env.database.drill;
            let what = format!("{address} on PostgreSQL {major}");
            // The production cluster has neither the role nor a line naming it: drills
            // never restore there.
            let production = &pg_cluster(&t, slug)["spec"];
            let production_roles = production["managed"]["roles"].as_array();
            assert!(
                !production_roles
                    .into_iter()
                    .flatten()
                    .any(|r| r["name"] == "ward-drill" || r["createdb"] == true),
                "{what}: {production_roles:?}"
            );
            let production_hba = production["postgresql"]["pg_hba"].to_string();
            assert!(
                !production_hba.contains("ward-drill"),
                "{what}: {production_hba}"
            );
            let drill_cluster = drill_pg_cluster(&t, slug);
            let cluster = &drill_cluster["spec"];
            // Bootstrapped with the group its managed role is a member of (CloudNativePG
            // refuses a role whose `inRoles` names a missing one), and no `app` database.
            let initdb = &cluster["bootstrap"]["initdb"];
            assert_eq!(initdb["owner"], "ward-drill", "{what}");
            assert_eq!(initdb["database"], "ward_drill", "{what}");
            assert!(
                initdb["postInitSQL"].to_string().contains(&format!(
                    "CREATE ROLE \\\"{}\\\" NOLOGIN",
                    ward_render::postgres::MAINTENANCE_CONNECT_ROLE
                )),
                "{what}: {}",
                initdb["postInitSQL"]
            );
            let roles = cluster["managed"]["roles"]
                .as_array()
                .expect("managed roles");
            let role = roles
                .iter()
                .find(|r| r["name"] == "ward-drill")
                .expect("the drill role");
            assert_eq!(drill.user, "ward-drill");
            for (field, value) in [
                ("login", true),
                ("createdb", true),
                ("superuser", false),
                ("createrole", false),
                ("inherit", true),
            ] {
                assert_eq!(role[field], value, "{field} of {what}");
            }
            // A member of the one group that may connect to `postgres`, and of nothing else.
            assert_eq!(
                role["inRoles"],
                serde_json::json!([ward_render::postgres::MAINTENANCE_CONNECT_ROLE]),
                "{what}"
            );
            assert_eq!(role["ensure"], "present");
            assert_eq!(role["passwordSecret"]["name"], "db-ward-drill-credentials");
            // No other role may create databases.
            assert_eq!(
                roles.iter().filter(|r| r["createdb"] == true).count(),
                1,
                "{what}"
            );
            // Its Secret: basic-auth, filled from the one resolved reference.
            let folder = folder_of(&t, "drill", slug);
            let secret = &get(
                &t,
                &format!("{folder}/externalsecret-db-ward-drill-credentials.yaml"),
            )["spec"];
            assert_eq!(secret["target"]["name"], "db-ward-drill-credentials");
            let template = &secret["target"]["template"];
            assert_eq!(template["type"], "kubernetes.io/basic-auth");
            assert_eq!(template["data"]["username"], "ward-drill");
            assert_eq!(template["data"]["password"], "{{ .db_password }}");
            let r = &drill.password_secret;
            assert_eq!(secret["secretStoreRef"]["name"], r.store.value.as_str());
            assert_eq!(secret["data"][0]["secretKey"], "db_password");
            assert_eq!(secret["data"][0]["remoteRef"]["key"], r.key.value.as_str());
            assert_eq!(secret["data"][0]["remoteRef"]["property"], "password");
            // pg_hba, read first-match as PostgreSQL reads it.
            let lines: Vec<String> = cluster["postgresql"]["pg_hba"]
                .as_array()
                .expect("pg_hba")
                .iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            assert_eq!(
                lines.iter().any(|l| l.contains("/^ward_drill_")),
                pattern,
                "{what}: {lines:#?}"
            );
            for tls in [false, true] {
                let method = |db: &str, user: &str| hba_method(&lines, db, user, tls);
                let scram = Some("scram-sha-256".to_string());
                let reject = Some("reject".to_string());
                // Over TLS only, like the tenants: without it the role is rejected by its
                // own lines, never left to CloudNativePG's final `host all all all`.
                let admitted = if tls { scram.clone() } else { reject.clone() };
                assert_eq!(method("postgres", "ward-drill"), admitted, "{what}");
                assert_eq!(
                    method("ward_drill_0123456789ab", "ward-drill"),
                    admitted,
                    "{what}"
                );
                assert!(method("elsewhere", "ward-drill").is_some(), "{what}");
                assert_eq!(method(&env.database.name, "ward-drill"), reject, "{what}");
                assert_eq!(method("template1", "ward-drill"), reject, "{what}");
                if pattern {
                    // The allow-list: nothing but scratch names, exactly as drills make them.
                    for other in ["ward_drill_0123456789AB", "ward_drill_", "app", "x"] {
                        assert_eq!(method(other, "ward-drill"), reject, "{what}: {other}");
                    }
                }
            }
        }
    }
}

/// Drills restore into a cluster of their own, never the production one: the estate
/// resolves the drill server to the drill cluster's service, the tree renders that
/// cluster (one instance, its own volume sized from the stack's databases, the drill role
/// only), and only Ward's jobs may reach it.
#[test]
fn drills_restore_into_a_drill_cluster_apart_from_production() {
    let estate = common::example();
    let t = render(&estate);
    for (address, slug, production, drill, storage) in [
        (
            DEDICATED.0,
            DEDICATED.1,
            "billing-prod-db",
            "billing-prod-db-drill",
            "250Gi",
        ),
        (SHARED.0, SHARED.1, "shared-db", "shared-db-drill", "25Gi"),
    ] {
        let env = environment(&estate, address);
        assert_eq!(env.database.cluster, production);
        assert_eq!(env.database.drill.host, format!("{drill}-rw"), "{address}");
        assert_ne!(env.database.drill.host, env.database.host);
        let folder = folder_of(&t, "drill", slug);
        let cluster = get(&t, &format!("{folder}/cluster-{drill}.yaml"));
        let spec = &cluster["spec"];
        assert_eq!(spec["instances"], 1);
        assert_eq!(spec["storage"]["size"], storage, "{address}");
        assert!(
            spec.get("plugins").is_none(),
            "a scratch cluster archives nothing"
        );
        let roles: Vec<&str> = spec["managed"]["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(roles, ["ward-drill"]);
        // Reached by Ward's jobs only: the policy selecting its pods admits job pods on
        // 5432, and no Odoo pod.
        let policy = get(
            &t,
            &format!("{folder}/networkpolicy-allow-drill-postgres.yaml"),
        );
        assert_eq!(
            policy["spec"]["podSelector"]["matchLabels"]["cnpg.io/cluster"],
            drill
        );
        let from: Vec<&Value> = policy["spec"]["ingress"]
            .as_array()
            .expect("ingress")
            .iter()
            .flat_map(|r| r["from"].as_array().into_iter().flatten())
            .collect();
        assert!(
            from.iter()
                .any(|p| p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "ward-job")
        );
        assert!(
            !from
                .iter()
                .any(|p| p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "odoo"),
            "{from:?}"
        );
    }
    // A declared host is a server Ward does not render: drills go where the estate says.
    let declared = loaded(common::example_edited(|name, text| {
        if name == "workloads/billing.yaml" {
            text.replace(
                "      database:\n        passwordRef:",
                "      database:\n        host: db.st-marys.example\n        passwordRef:",
            )
        } else {
            text
        }
    }));
    let env = environment(&declared, DEDICATED.0);
    assert_eq!(env.database.drill.host, "db.st-marys.example");
    let t = render(&declared);
    assert!(
        !t.files
            .keys()
            .any(|p| p.ends_with("/cluster-billing-prod-db-drill.yaml"))
    );
}

/// One drill identity per stack: each stack's drill pods mount the identity at its own
/// key, no two stacks share one, and a stack without a declared recipient gets none.
/// (Which backups carry which recipient is `ward backup`'s side: see
/// `crates/ward-cli/tests/drill_identity.rs`.)
#[test]
fn each_stack_has_its_own_drill_identity() {
    let estate = common::example();
    let t = render(&estate);
    let keys: Vec<String> = t
        .files
        .iter()
        .filter(|(p, _)| p.ends_with("/externalsecret-ward-drill-identity.yaml"))
        .filter_map(|(_, f)| f.value.as_ref())
        .map(|v| {
            v["spec"]["data"][0]["remoteRef"]["key"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let stacks: std::collections::BTreeSet<&str> = estate
        .environments
        .iter()
        .map(|e| e.stack.as_str())
        .collect();
    assert_eq!(keys.len(), stacks.len(), "{keys:?}");
    let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        unique.len(),
        keys.len(),
        "two stacks share an identity: {keys:?}"
    );

    // A stack the platform names no recipient for has no identity to mount.
    let estate = loaded(example_with(|t| {
        t.lines()
            .filter(|l| !l.contains("dedicated-eu1/billing-staging: age1"))
            .map(|l| format!("{l}\n"))
            .collect()
    }));
    let t = render(&estate);
    assert!(volume(pod(&t, "drill", "billing-staging"), "identity").is_none());
    assert!(volume(pod(&t, "drill", "billing-prod"), "identity").is_some());
    // A recipient for a stack that does not exist is a warning naming the stacks there
    // are; a recipient that is not one is refused.
    let wrong = loaded(example_with(|t| {
        t.replace(
            "dedicated-eu1/billing-staging: age1",
            "dedicated-eu1/billing-stagin: age1",
        )
    }));
    assert!(
        wrong
            .warnings
            .iter()
            .any(|d| d.message.contains("billing-stagin")
                && d.hint
                    .as_deref()
                    .is_some_and(|h| h.contains("dedicated-eu1/billing-staging"))),
        "{:?}",
        wrong.warnings
    );
    let not_age = problems(example_with(|t| {
        t.replace(
            "dedicated-eu1/billing-staging: age1",
            "dedicated-eu1/billing-staging: ssh-ed25519 age1",
        )
    }));
    assert!(
        not_age.iter().any(|p| p.contains("not an age recipient")),
        "{not_age:?}"
    );
}

/// The names CloudNativePG puts in a cluster's server certificate when the `Cluster`
/// declares no `certificates` (its `GetClusterAltDNSNames`): each of the `-rw`, `-r` and
/// `-ro` services, bare, `.<namespace>`, `.<namespace>.svc` and
/// `.<namespace>.svc.cluster.local`.
fn cnpg_server_names(cluster: &str, namespace: &str) -> Vec<String> {
    let mut names = Vec::new();
    for service in ["rw", "r", "ro"] {
        let s = format!("{cluster}-{service}");
        names.push(s.clone());
        names.push(format!("{s}.{namespace}"));
        names.push(format!("{s}.{namespace}.svc"));
        names.push(format!("{s}.{namespace}.svc.cluster.local"));
    }
    names
}

/// Whether OpenSSL (what libpq verifies with) accepts `cert` from `ca` for `host`.
fn openssl_accepts(ca: &std::path::Path, cert: &std::path::Path, host: &str) -> bool {
    let out = std::process::Command::new("openssl")
        .args(["verify", "-verify_hostname", host, "-CAfile"])
        .arg(ca)
        .arg(cert)
        .output()
        .expect("openssl");
    out.status.success()
}

/// The backup and drill jobs connect with `verify-full` against the CA of the
/// CloudNativePG cluster they reach (its `<cluster>-ca` Secret, the certificate only,
/// read-only), and the host they connect to is one CloudNativePG's server certificate
/// carries: a certificate issued with CloudNativePG's names for that cluster and namespace
/// passes OpenSSL's host-name check for it (and fails for another namespace's name). The
/// prune job, which never connects to PostgreSQL, mounts no CA.
#[test]
fn backup_and_drill_jobs_verify_full_against_their_cluster_s_ca() {
    let estate = common::example();
    let t = render(&estate);
    let tmp = tempfile::tempdir().expect("tmp");
    let ca = ward_pgtemp::TestCa::create(&tmp.path().join("ca"), "cnpg test CA").expect("CA");
    let mut checked = BTreeMap::new();
    for (path, file) in &t.files {
        let Some(v) = &file.value else { continue };
        if v["kind"] != "CronJob" {
            continue;
        }
        let job = v["metadata"]["labels"]["ward.dev/job"]
            .as_str()
            .unwrap_or_default();
        let slug = v["metadata"]["labels"]["ward.dev/environment"]
            .as_str()
            .unwrap_or_default();
        let namespace = v["metadata"]["namespace"].as_str().unwrap_or_default();
        let env = estate
            .environments
            .iter()
            .find(|e| format!("{}-{}", e.workload, e.environment) == slug)
            .unwrap_or_else(|| panic!("{path}: no environment {slug}"));
        let p = &v["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        let c = ward(p);
        let args: Vec<&str> = c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let d = &env.database;
        let (cluster, hosts) = match job {
            "backup" => (
                d.cluster.clone(),
                vec![d.host.clone(), d.snapshot_host.clone()],
            ),
            "drill" => (
                ward_estate::resolve::drill_cluster_name(&d.cluster),
                vec![d.drill.host.clone()],
            ),
            _ => {
                assert!(volume(p, "db-ca").is_none(), "{path}");
                assert!(!args.contains(&"--db-sslmode"), "{path}: {args:?}");
                continue;
            }
        };
        let tls = args.windows(4).any(|w| {
            w == [
                "--db-sslmode",
                "verify-full",
                "--db-ca-file",
                "/var/run/ward/db-ca/ca.crt",
            ]
        });
        assert!(tls, "{path}: {args:?}");
        let secret = &volume(p, "db-ca").expect("db-ca volume")["secret"];
        assert_eq!(
            secret["secretName"],
            format!("{cluster}-ca").as_str(),
            "{path}"
        );
        let items = secret["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "the CA's key is never mounted: {path}");
        assert_eq!(
            (items[0]["key"].as_str(), items[0]["path"].as_str()),
            (Some("ca.crt"), Some("ca.crt"))
        );
        let m = mount(c, "db-ca").expect("db-ca mounted");
        assert_eq!(
            (m["mountPath"].as_str(), &m["readOnly"]),
            (Some("/var/run/ward/db-ca"), &Value::Bool(true))
        );
        // The cluster is rendered beside the job, and leaves its certificates to
        // CloudNativePG (so `<cluster>-ca` signs the server's).
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
        let rendered = t
            .files
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("{folder}/cluster-")))
            .filter_map(|(_, f)| f.value.as_ref())
            .find(|c| c["metadata"]["name"] == cluster.as_str())
            .unwrap_or_else(|| panic!("{path}: no Cluster {cluster} beside it"));
        assert!(rendered["spec"]["certificates"].is_null(), "{path}");
        let cert = checked
            .entry((cluster.clone(), namespace.to_string()))
            .or_insert_with(|| {
                let san: Vec<String> = cnpg_server_names(&cluster, namespace)
                    .iter()
                    .map(|n| format!("DNS:{n}"))
                    .collect();
                let dir = tmp.path().join(format!("{cluster}.{namespace}"));
                ca.issue_server(&dir, &san.join(","))
                    .expect("server certificate")
                    .0
            });
        for host in &hosts {
            assert!(
                openssl_accepts(ca.cert_file(), cert, host),
                "{path}: {host} is not in CloudNativePG's certificate"
            );
        }
        assert!(
            !openssl_accepts(ca.cert_file(), cert, &format!("{cluster}-rw.elsewhere")),
            "the check is real"
        );
    }
    assert!(checked.len() >= 4, "{checked:?}");
}
