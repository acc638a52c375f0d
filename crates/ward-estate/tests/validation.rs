//! Errors are for people: each test breaks the example estate one way and checks that the
//! problem is reported at the right file, line and column, with a useful hint.

mod support;
use support::*;

#[test]
fn the_example_estate_is_valid_and_classified() {
    let dir = example();
    let estate = load_ok(dir.path());
    assert_eq!(estate.workloads.len(), 4);
    assert_eq!(estate.environments.len(), 5);
    let billing = estate.environment("billing/prod").expect("billing/prod");
    assert_eq!(billing.classification.tier, 1);
    assert_eq!(billing.classification.hosting.to_string(), "dedicated");
    assert_eq!(billing.cluster, "dedicated-eu1");
    assert_eq!(billing.recovery_cluster.as_deref(), Some("recovery-eu2"));
    let sandbox = estate
        .environment("training-sandbox/sandbox")
        .expect("sandbox");
    assert_eq!(sandbox.classification.tier, 3);
    assert_eq!(sandbox.classification.hosting.to_string(), "multi-tenant");
    let portal = estate.environment("patient-portal/prod").expect("portal");
    assert_eq!(portal.classification.tier, 2);
    let coordination = estate
        .environment("care-coordination/prod")
        .expect("coordination");
    assert_eq!(coordination.classification.tier, 2);
}

#[test]
fn unknown_field_points_at_the_key_and_suggests_the_name() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      replicas: 3",
        "      replica: 3",
    );
    let p = problems(dir.path());
    let e = find(&p, "unknown field `spec.environments[0].replica`");
    let line = line_of(dir.path(), "workloads/billing.yaml", "      replica: 3");
    assert_eq!(e.location, format!("workloads/billing.yaml:{line}:7"));
    assert_eq!(e.hint, "did you mean `replicas`?");
    assert_eq!(e.line_text, "      replica: 3");
}

#[test]
fn duplicate_workload_names_the_first_definition() {
    let dir = example();
    let text = std::fs::read_to_string(dir.path().join("workloads/billing.yaml")).expect("read");
    write(
        dir.path(),
        "tenants/a.yaml",
        text.replace("billing.st-marys", "billing2.st-marys"),
    );
    let p = problems(dir.path());
    // Files load in path order, so the copy under tenants/ counts as the first.
    let e = find(&p, "duplicate workload `billing`");
    assert!(
        e.message.contains("(first defined in tenants/a.yaml:6)"),
        "{}",
        e.message
    );
    assert!(
        e.location.starts_with("workloads/billing.yaml:6:"),
        "{}",
        e.location
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "uptime: 99.95%",
        "uptime: 99.95",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "rpo: 15m",
        "rpo: 15 minutes",
    );
    edit(
        dir.path(),
        "workloads/patient-portal.yaml",
        "owner: patient-services",
        "owner: patient-servics",
    );
    edit(
        dir.path(),
        "workloads/care-coordination.yaml",
        "credentialOwner: farah",
        "credentialOwner: zoe",
    );
    edit(dir.path(), "platform.yaml", "role: shared", "role: shard");
    let p = problems(dir.path());
    let uptime = find(&p, "`spec.classification.uptime` is not a percentage");
    assert_eq!(uptime.location, "workloads/billing.yaml:14:13");
    assert!(uptime.hint.contains("99.95%"));
    let rpo = find(&p, "`spec.classification.rpo` is not a duration");
    assert_eq!(rpo.location, "workloads/billing.yaml:15:10");
    let team = find(&p, "unknown team `patient-servics`");
    assert!(
        team.hint.contains("did you mean `patient-services`?"),
        "{}",
        team.hint
    );
    let person = find(&p, "unknown person `zoe`");
    assert!(
        person
            .location
            .starts_with("workloads/care-coordination.yaml:")
    );
    let role = find(&p, "unknown value `shard`");
    assert!(
        role.hint.contains("did you mean `shared`?"),
        "{}",
        role.hint
    );
    assert!(p.len() >= 5, "{p:#?}");
}

#[test]
fn references_must_resolve() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      replicas: 3",
        "      replicas: 3\n      cluster: dedicated-eu9\n      objectStore: tape",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "refreshFrom: prod",
        "refreshFrom: production",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "store: hospital-vault, key: odoo/billing/prod",
        "store: vault-x, key: odoo/billing/prod",
    );
    let p = problems(dir.path());
    find(&p, "unknown cluster `dedicated-eu9`");
    find(&p, "unknown object store `tape`");
    find(&p, "unknown environment `production`");
    find(&p, "unknown secret store `vault-x`");
}

#[test]
fn secret_keys_must_be_paths_a_mounted_secret_can_hold() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "key: odoo/billing/prod, property: db_password",
        "key: odoo/../../etc, property: db_password",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "key: integrations/clearinghouse",
        "key: integrations//clearinghouse",
    );
    let p = problems(dir.path());
    let d = find(&p, "part \"..\" that cannot name a file");
    let line = line_of(
        dir.path(),
        "workloads/billing.yaml",
        "        passwordRef: { store: hospital-vault, key: odoo/../../etc, property: db_password }",
    );
    assert!(
        d.location
            .starts_with(&format!("workloads/billing.yaml:{line}:")),
        "{d:?}"
    );
    assert!(d.hint.contains("odoo/billing/prod"), "{d:?}");
    find(&p, "part \"\" that cannot name a file");
}

#[test]
fn hostnames_are_unique_across_the_estate() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/patient-portal.yaml",
        "hosts: [portal.st-marys.care.example]",
        "hosts: [billing.st-marys.care.example]",
    );
    let p = problems(dir.path());
    let e = find(&p, "duplicate hostname `billing.st-marys.care.example`");
    assert!(
        e.message.contains("workloads/billing.yaml"),
        "{}",
        e.message
    );
    assert!(e.location.starts_with("workloads/patient-portal.yaml:"));
}

#[test]
fn invalid_hostnames_are_refused() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/patient-portal.yaml",
        "hosts: [portal.st-marys.care.example]",
        "hosts: [Portal_St-Marys]",
    );
    find(&problems(dir.path()), "is not a valid hostname");
}

#[test]
fn names_must_be_dns_labels() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/training-sandbox.yaml",
        "name: training-sandbox",
        "name: ../../etc",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "`metadata.name` value `../../etc` is not a DNS-1123 label",
    );
    assert_eq!(e.location, "workloads/training-sandbox.yaml:5:9");
    assert!(e.hint.contains("lowercase"));
}

#[test]
fn literal_credentials_are_refused_and_never_echoed() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      credentialRef: { store: hospital-vault, key: integrations/clearinghouse }",
        "      password: Tr0ub4dor&3",
    );
    edit(
        dir.path(),
        "workloads/patient-portal.yaml",
        "endpoint: https://api.sms-gateway.example.com/v2",
        "endpoint: https://portal:s3cretpass@api.sms-gateway.example.com/v2",
    );
    edit(
        dir.path(),
        "workloads/care-coordination.yaml",
        "credentialRef: { store: hospital-vault, key: integrations/sms-northside }",
        "credentialRef: AKIAIOSFODNN7EXAMPLE",
    );
    let p = problems(dir.path());
    let pw = find(
        &p,
        "`spec.integrations[0].password` is a literal credential",
    );
    assert!(pw.location.starts_with("workloads/billing.yaml:"));
    find(
        &p,
        "`spec.integrations[1].endpoint` holds what looks like a literal credential (a URL with a password in it)",
    );
    find(
        &p,
        "`spec.integrations[0].credentialRef` holds what looks like a literal credential (an AWS access key id)",
    );
    for problem in &p {
        for secret in ["Tr0ub4dor", "s3cretpass", "AKIAIOSFODNN7EXAMPLE"] {
            assert!(
                !problem.message.contains(secret) && !problem.hint.contains(secret),
                "secret echoed: {problem:?}"
            );
        }
    }
}

#[test]
fn durations_and_percentages_must_parse() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/portal.yaml"
            .replace("portal", "patient-portal")
            .as_str(),
        "rto: 8h",
        "rto: 8 hours",
    );
    edit(
        dir.path(),
        "workloads/patient-portal.yaml",
        "uptime: 99.5%",
        "uptime: 101%",
    );
    let p = problems(dir.path());
    find(&p, "`spec.classification.rto` is not a duration");
    find(
        &p,
        "`spec.classification.uptime` is not a percentage: a percentage is at most 100%",
    );
}

#[test]
fn tier_objectives_may_only_tighten() {
    let dir = example();
    edit(
        dir.path(),
        "platform.yaml",
        "backupInterval: 12h",
        "backupInterval: 2d\n      baseBackupInterval: 8d",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "tierObjectives.tier1.backupInterval `2d` is looser than Ward's tier-1 default `1d`",
    );
    assert!(e.location.starts_with("platform.yaml:"));
    find(
        &p,
        "tierObjectives.tier1.baseBackupInterval `8d` is looser than Ward's tier-1 default `1d`",
    );
}

#[test]
fn wrong_kind_and_api_version() {
    let dir = example();
    write(
        dir.path(),
        "extra.yaml",
        "apiVersion: ward.dev/v2\nkind: Workoad\nmetadata: {name: x}\nspec: {}\n",
    );
    let p = problems(dir.path());
    find(&p, "unsupported apiVersion `ward.dev/v2`");
    let k = find(&p, "unknown kind `Workoad`");
    assert_eq!(k.hint, "did you mean `Workload`?");
    assert_eq!(k.location, "extra.yaml:2:7");
}

#[test]
fn missing_required_fields_are_named() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/training-sandbox.yaml",
        "    rto: 72h\n",
        "",
    );
    let p = problems(dir.path());
    find(&p, "missing field `spec.classification.rto`");
}

#[test]
fn a_second_platform_is_refused() {
    let dir = example();
    let text = std::fs::read_to_string(dir.path().join("platform.yaml")).expect("read");
    write(
        dir.path(),
        "zz/platform.yaml",
        text.replace("name: care-platform", "name: other-platform"),
    );
    let p = problems(dir.path());
    let e = find(&p, "duplicate platform `other-platform`");
    assert!(
        e.message.contains("first defined in platform.yaml:6"),
        "{}",
        e.message
    );
}

#[test]
fn multi_document_files_load() {
    let dir = example();
    let portal =
        std::fs::read_to_string(dir.path().join("workloads/patient-portal.yaml")).expect("read");
    let coord =
        std::fs::read_to_string(dir.path().join("workloads/care-coordination.yaml")).expect("read");
    std::fs::remove_file(dir.path().join("workloads/patient-portal.yaml")).expect("rm");
    std::fs::remove_file(dir.path().join("workloads/care-coordination.yaml")).expect("rm");
    write(
        dir.path(),
        "workloads/both.yml",
        format!("{portal}\n---\n{coord}\n...\n"),
    );
    let estate = load_ok(dir.path());
    assert_eq!(estate.workloads.len(), 4);
}

#[test]
fn git_head_and_dirty_state_are_read() {
    let dir = example();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    assert_eq!(load_ok(dir.path()).git.commit, None);
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "x"]);
    let clean = load_ok(dir.path()).git;
    assert_eq!(clean.commit.as_ref().map(String::len), Some(40));
    assert!(!clean.dirty);
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "replicas: 3",
        "replicas: 4",
    );
    let dirty = load_ok(dir.path()).git;
    assert_eq!(dirty.commit, clean.commit);
    assert!(dirty.dirty);
}

/// The drill's login is resolved once, per database server: a dedicated environment's
/// server is its own, multi-tenant environments of one cluster, stage and Odoo major share
/// one (and its one drill role's password); stages and majors never share.
#[test]
fn the_drill_password_is_one_per_database_server() {
    let dir = example();
    let sandbox = "    - name: sandbox\n      stage: development\n      hosts: [training.st-marys.care.example]\n      size: { cpu: 1, memory: 2Gi, database: 5Gi, filestore: 2Gi }\n";
    edit(
        dir.path(),
        "workloads/training-sandbox.yaml",
        sandbox,
        &format!(
            "{sandbox}{}",
            sandbox
                .replace("sandbox", "sandbox2")
                .replace("training.", "training2.")
        ),
    );
    let estate = load_ok(dir.path());
    let drill = |address: &str| {
        let env = estate.environment(address).expect("environment");
        (
            env.database.drill.clone(),
            env.database.password_secret.clone(),
        )
    };
    let (billing, own) = drill("billing/prod");
    assert_eq!(billing.user, "ward-drill");
    assert_eq!(billing.database, "postgres");
    let r = &billing.password_secret;
    assert_eq!(r.store.value, "hospital-vault");
    assert_eq!(
        r.key.value,
        "ward/drill/dedicated-eu1/dedicated/billing/prod"
    );
    assert_eq!(
        r.property.as_ref().map(|p| p.value.as_str()),
        Some("password")
    );
    assert_ne!(
        r.key.value, own.key.value,
        "not the environment's own password"
    );
    let key = |address: &str| drill(address).0.password_secret.key.value;
    assert_eq!(
        key("billing/staging"),
        "ward/drill/dedicated-eu1/dedicated/billing/staging"
    );
    assert_eq!(
        key("training-sandbox/sandbox"),
        "ward/drill/shared-eu1/shared/development/v17"
    );
    assert_eq!(
        key("training-sandbox/sandbox"),
        key("training-sandbox/sandbox2")
    );
    assert_eq!(
        key("patient-portal/prod"),
        "ward/drill/shared-eu1/shared/production/v17"
    );
    assert_eq!(
        key("care-coordination/prod"),
        "ward/drill/shared-eu1/shared/production/v16"
    );
    // Every key is a file path under the secrets folder.
    for env in &estate.environments {
        let k = &env.database.drill.password_secret.key.value;
        assert!(
            k.split('/').all(|s| !s.is_empty() && s != "." && s != ".."),
            "{k}"
        );
    }
}

/// An Odoo version that would make the drill secret's key name no file is an error at
/// the version, not a path outside the secrets folder at run time.
#[test]
fn an_odoo_version_that_breaks_the_drill_key_is_reported() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/training-sandbox.yaml",
        "    version: \"17.0\"",
        "    version: \"17//0\"",
    );
    let p = problems(dir.path());
    let problem = find(&p, "drill password's secret key");
    assert!(
        problem
            .location
            .starts_with("workloads/training-sandbox.yaml:"),
        "{problem:?}"
    );
    assert!(problem.line_text.contains("17//0"), "{problem:?}");
}

/// A name of `n` bytes: `x` repeated, a valid DNS label.
fn long_label(prefix: &str, n: usize) -> String {
    format!("{prefix}{}", "x".repeat(n - prefix.len()))
}

#[test]
fn database_and_role_names_over_63_bytes_are_refused_where_they_come_from() {
    const BILLING: &str = "workloads/billing.yaml";
    const SANDBOX: &str = "workloads/training-sandbox.yaml";
    const PROD_DB: &str = "      database:\n        passwordRef:";
    // (case, file, from, to, the line the error points at, message, hint)
    let name64 = "d".repeat(64);
    let user64 = "u".repeat(64);
    let long_env = long_label("e", 60); // billing-<60> is 68 bytes
    let long_host = format!("{}.care.example", long_label("h", 60)); // 73 bytes
    let sandbox_env = long_label("s", 50); // training-sandbox-<50> is 67 bytes
    let cases: Vec<(&str, &str, String, String, String, &str, &str)> = vec![
        (
            "an explicit database.name",
            BILLING,
            PROD_DB.into(),
            format!("      database:\n        name: {name64}\n        passwordRef:"),
            format!("        name: {name64}"),
            "`database.name`",
            "at most 63 bytes",
        ),
        (
            "an explicit database.user",
            BILLING,
            PROD_DB.into(),
            format!("      database:\n        user: {user64}\n        passwordRef:"),
            format!("        user: {user64}"),
            "`database.user`",
            "at most 63 bytes",
        ),
        (
            "a dedicated default <workload>-<env> database",
            BILLING,
            "    - name: staging".into(),
            format!("    - name: {long_env}"),
            format!("    - name: {long_env}"),
            "database name",
            "set `database.name`",
        ),
        (
            "a multi-tenant database named after its first host",
            SANDBOX,
            "hosts: [training.st-marys.care.example]".into(),
            format!("hosts: [{long_host}]"),
            format!("      hosts: [{long_host}]"),
            "database name",
            "set `database.name`",
        ),
        (
            "a multi-tenant default <workload>-<env> role",
            SANDBOX,
            "    - name: sandbox".into(),
            format!("    - name: {sandbox_env}"),
            format!("    - name: {sandbox_env}"),
            "role name",
            "set `database.user`",
        ),
    ];
    for (case, file, from, to, line, message, hint) in &cases {
        let dir = example();
        edit(dir.path(), file, from, to);
        let p = problems(dir.path());
        let hits: Vec<_> = p
            .iter()
            .filter(|x| x.message.contains("63") && x.message.contains(message))
            .collect();
        assert_eq!(hits.len(), 1, "{case}: {p:#?}");
        let at = line_of(dir.path(), file, line);
        assert!(
            hits[0].location.starts_with(&format!("{file}:{at}:")),
            "{case}: {:#?}",
            hits[0]
        );
        assert!(hits[0].hint.contains(hint), "{case}: {:#?}", hits[0]);
    }
    // At exactly 63 bytes, and once `database.name` / `database.user` are set, all is well.
    let dir = example();
    let name63 = "d".repeat(63);
    edit(
        dir.path(),
        BILLING,
        PROD_DB,
        &format!(
            "      database:\n        name: {name63}\n        user: {}\n        passwordRef:",
            "u".repeat(63)
        ),
    );
    edit(
        dir.path(),
        BILLING,
        "    - name: staging",
        &format!("    - name: {long_env}\n      database: {{ name: billing-short }}"),
    );
    edit(
        dir.path(),
        SANDBOX,
        "    - name: sandbox",
        &format!("    - name: {sandbox_env}\n      database: {{ user: sandbox-user }}"),
    );
    let estate = load_ok(dir.path());
    let prod = estate.environment("billing/prod").expect("billing/prod");
    assert_eq!(prod.database.name, name63);
}

/// Staging inheriting the integration's `credentialRef` would mount production's
/// clearinghouse credential: refused at the environment, naming the production reference.
#[test]
fn a_staging_environment_may_not_mount_a_production_integration_credential() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "        clearinghouse: { store: hospital-vault, key: integrations/staging/clearinghouse }\n",
        "",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "the test environment `billing/staging` would mount a production credential: the credential of integration `clearinghouse` is `hospital-vault:integrations/clearinghouse`",
    );
    let line = line_of(dir.path(), "workloads/billing.yaml", "    - name: staging");
    assert_eq!(e.location, format!("workloads/billing.yaml:{line}:13"));
    let prod = line_of(
        dir.path(),
        "workloads/billing.yaml",
        "      credentialRef: { store: hospital-vault, key: integrations/clearinghouse }",
    );
    assert!(
        e.message
            .contains(&format!("(workloads/billing.yaml:{prod}:")),
        "{}",
        e.message
    );
    assert!(e.hint.contains("integrationCredentials"), "{}", e.hint);
    // Only that one: the other two integrations have staging's own credentials.
    assert_eq!(
        p.iter()
            .filter(|d| d.message.contains("would mount a production credential"))
            .count(),
        1,
        "{p:#?}"
    );
}

/// An environment's own entry pointing at production's key, and a staging database
/// password that is production's, are refused where they are written.
#[test]
fn a_staging_override_or_password_equal_to_production_is_refused_where_written() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "key: integrations/staging/documents }",
        "key: integrations/documents }",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      size: { cpu: 2, memory: 4Gi, database: 50Gi, filestore: 20Gi }\n",
        "      size: { cpu: 2, memory: 4Gi, database: 50Gi, filestore: 20Gi }\n      database:\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n",
    );
    let p = problems(dir.path());
    let docs = find(
        &p,
        "the credential of integration `documents` is `hospital-vault:integrations/documents`",
    );
    let line = line_of(
        dir.path(),
        "workloads/billing.yaml",
        "        documents: { store: hospital-vault, key: integrations/documents }",
    );
    assert_eq!(docs.location, format!("workloads/billing.yaml:{line}:50"));
    let pw = find(
        &p,
        "its database password is `hospital-vault:odoo/billing/prod`, which is the database password of `billing/prod`",
    );
    assert!(
        pw.location.starts_with("workloads/billing.yaml:"),
        "{}",
        pw.location
    );
}

#[test]
fn integration_credentials_must_name_an_integration() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "        identity: { store: hospital-vault, key: integrations/staging/oidc-billing }",
        "        identiy: { store: hospital-vault, key: integrations/staging/oidc-billing }",
    );
    let p = problems(dir.path());
    find(
        &p,
        "`integrationCredentials.identiy` of `billing/staging` names no integration of the workload",
    );
}

#[test]
fn a_secret_store_provider_needs_a_namespaced_store() {
    let dir = example();
    edit(
        dir.path(),
        "platform.yaml",
        "      kind: SecretStore\n",
        "      kind: ClusterSecretStore\n",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "secret store `hospital-vault` declares a `provider` but is a ClusterSecretStore",
    );
    assert!(e.hint.contains("kind: SecretStore"), "{}", e.hint);
}

/// A `database.user` that names a role Ward renders for itself on the same server is
/// refused where written: `ward-drill` anywhere, and `odoo` on a multi-tenant environment,
/// where that role owns every tenant's database. A dedicated environment may be `odoo`.
#[test]
fn database_users_that_name_wards_own_roles_are_refused() {
    const SANDBOX: &str = "workloads/training-sandbox.yaml";
    const BILLING: &str = "workloads/billing.yaml";
    const SANDBOX_HOSTS: &str = "      hosts: [training.st-marys.care.example]";
    for user in ["odoo", "ward-drill"] {
        let dir = example();
        edit(
            dir.path(),
            SANDBOX,
            SANDBOX_HOSTS,
            &format!("{SANDBOX_HOSTS}\n      database: {{ user: {user} }}"),
        );
        let p = problems(dir.path());
        let problem = find(&p, "a role Ward renders for its own use");
        assert!(problem.location.starts_with(SANDBOX), "{problem:?}");
        assert!(problem.line_text.contains(user), "{problem:?}");
    }
    let dir = example();
    edit(
        dir.path(),
        BILLING,
        "      database:\n        passwordRef:",
        "      database:\n        user: odoo\n        passwordRef:",
    );
    let estate = load_ok(dir.path());
    let prod = estate.environment("billing/prod").expect("billing/prod");
    assert_eq!(
        (prod.database.user.as_str(), prod.database.owner.as_str()),
        ("odoo", "odoo")
    );
    let dir = example();
    edit(
        dir.path(),
        BILLING,
        "      database:\n        passwordRef:",
        "      database:\n        user: ward-drill\n        passwordRef:",
    );
    find(&problems(dir.path()), "a role Ward renders for its own use");
}

/// Where the estate declares no `database.sslmode`, an environment whose workload holds
/// PHI gets `verify-full` in every stage, any other `require` (never `prefer`); a declared
/// mode wins; a mode libpq does not have is refused where written, with a suggestion.
#[test]
fn the_database_sslmode_is_verify_full_for_phi_unless_declared() {
    use ward_estate::model::DbSslMode;
    let dir = example();
    let estate = load_ok(dir.path());
    let mode = |estate: &ward_estate::Estate, address: &str| {
        estate.environment(address).expect(address).database.sslmode
    };
    assert_eq!(mode(&estate, "billing/prod"), DbSslMode::VerifyFull);
    assert_eq!(mode(&estate, "billing/staging"), DbSslMode::VerifyFull);
    assert_eq!(mode(&estate, "patient-portal/prod"), DbSslMode::Require);
    assert_eq!(
        mode(&estate, "training-sandbox/sandbox"),
        DbSslMode::Require
    );

    let declared = "      database:\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n";
    edit(
        dir.path(),
        "workloads/billing.yaml",
        declared,
        &declared.replace(
            "      database:\n",
            "      database:\n        sslmode: prefer\n",
        ),
    );
    let estate = load_ok(dir.path());
    assert_eq!(mode(&estate, "billing/prod"), DbSslMode::Prefer);
    assert_eq!(mode(&estate, "billing/staging"), DbSslMode::VerifyFull);

    edit(
        dir.path(),
        "workloads/billing.yaml",
        "sslmode: prefer",
        "sslmode: verify-ful",
    );
    let p = problems(dir.path());
    let e = find(&p, "sslmode");
    let line = line_of(
        dir.path(),
        "workloads/billing.yaml",
        "        sslmode: verify-ful",
    );
    assert!(
        e.location
            .starts_with(&format!("workloads/billing.yaml:{line}:")),
        "{}",
        e.location
    );
    assert!(e.hint.contains("verify-full"), "{}", e.hint);
}

#[test]
fn backup_signing_keys_are_read_and_malformed_ones_are_located() {
    let dir = example();
    let good = "ed25519:bQl/5OVpFd2c05crFg53XJKycwX/AZ/+11HjmoMHj2g=";
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      replicas: 3",
        &format!("      replicas: 3\n      backup:\n        signingKeys: [\"{good}\", \"{good}\"]"),
    );
    let estate = load_ok(dir.path());
    let billing = estate.environment("billing/prod").expect("billing/prod");
    assert_eq!(billing.backup_signing_keys, [good, good]);
    assert!(
        estate
            .environment("billing/staging")
            .expect("staging")
            .backup_signing_keys
            .is_empty()
    );

    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "      replicas: 3",
        "      replicas: 3\n      backup:\n        signingKeys: [\"ed25519:short\"]",
    );
    let p = problems(dir.path());
    let e = find(&p, "is not a backup signing key");
    let line = line_of(
        dir.path(),
        "workloads/billing.yaml",
        "        signingKeys: [\"ed25519:short\"]",
    );
    assert!(
        e.location
            .starts_with(&format!("workloads/billing.yaml:{line}:")),
        "{}",
        e.location
    );
    assert!(e.hint.contains("ward backup keygen"), "{}", e.hint);
}
