//! `spec.controlPlane`: where `ward serve` runs and who schedules backups. Defaults when
//! absent, and each mistake reported where it is written, with a hint.

mod support;
use support::*;
use ward_estate::model::Scheduler;

/// The example's platform with `controlPlane` written in as given (indented under `spec`).
fn with_control_plane(dir: &std::path::Path, yaml: &str) {
    edit(
        dir,
        "platform.yaml",
        "spec:\n  clusters:",
        &format!("spec:\n  controlPlane:\n{yaml}\n  clusters:"),
    );
}

#[test]
fn without_control_plane_the_server_runs_in_the_first_shared_cluster_and_cronjobs_schedule() {
    let dir = example();
    let estate = load_ok(dir.path());
    let p = &estate.platform.as_ref().expect("platform").spec;
    let cp = &p.control_plane;
    assert!(cp.enabled);
    assert_eq!(cp.cluster_name(&p.clusters), Some("shared-eu1"));
    assert_eq!(cp.replicas(), 2);
    assert_eq!(cp.storage_bytes(), 10 << 30);
    assert_eq!(cp.scheduler(), Scheduler::CronJobs);
    assert_eq!(cp.poll_interval().as_secs(), 60);
    // Sized for the estate: 768 MiB plus 384 KiB an environment, to a whole MiB.
    assert_eq!(cp.memory_bytes(0), 768 << 20);
    assert_eq!(cp.memory_bytes(6000), (768 << 20) + 6000 * (384 << 10));
    assert_eq!(cp.memory_bytes(3), 770 << 20);
}

#[test]
fn a_declared_control_plane_is_read() {
    let dir = example();
    with_control_plane(
        dir.path(),
        "    cluster: dedicated-eu1\n    replicas: 3\n    storage: 20Gi\n    memory: 4Gi\n    scheduler: server\n    pollInterval: 30s\n    url: https://ward.care.example\n    oidc:\n      issuer: https://login.care.example/realms/ward\n      clientId: ward\n      groupsPrefix: 'idp:'\n      clientSecretRef: { store: hospital-vault, key: platform/ward/oidc, property: client_secret }",
    );
    let estate = load_ok(dir.path());
    let p = &estate.platform.as_ref().expect("platform").spec;
    let cp = &p.control_plane;
    assert_eq!(cp.cluster_name(&p.clusters), Some("dedicated-eu1"));
    assert_eq!(cp.replicas(), 3);
    assert_eq!(cp.storage_bytes(), 20 << 30);
    assert_eq!(cp.memory_bytes(6000), 4 << 30);
    assert_eq!(cp.scheduler(), Scheduler::Server);
    assert_eq!(cp.poll_interval().as_secs(), 30);
    let oidc = cp.oidc.as_ref().expect("oidc");
    assert_eq!(oidc.client_id.value, "ward");
    assert!(oidc.client_secret_ref.is_some());
    assert_eq!(
        oidc.groups_prefix.as_ref().map(|p| p.value.as_str()),
        Some("idp:")
    );
    assert_eq!(
        cp.url.as_ref().map(|u| u.value.as_str()),
        Some("https://ward.care.example")
    );
}

#[test]
fn a_disabled_control_plane_renders_nowhere_and_cannot_schedule() {
    let dir = example();
    with_control_plane(dir.path(), "    enabled: false");
    let estate = load_ok(dir.path());
    let p = &estate.platform.as_ref().expect("platform").spec;
    assert_eq!(p.control_plane.cluster_name(&p.clusters), None);
    assert_eq!(p.control_plane.scheduler(), Scheduler::CronJobs);

    let dir = example();
    with_control_plane(dir.path(), "    enabled: false\n    scheduler: server");
    let p = problems(dir.path());
    let e = find(
        &p,
        "`spec.controlPlane.scheduler: server` with `enabled: false`",
    );
    assert!(e.hint.contains("cronjobs"), "{}", e.hint);
}

#[test]
fn every_mistake_in_the_control_plane_is_reported_in_one_run() {
    let dir = example();
    with_control_plane(
        dir.path(),
        "    cluster: recovery-eu2\n    replicas: 1\n    storage: 100Mi\n    memory: 256Mi\n    scheduler: servr\n    pollInterval: 2s\n    replica: 2\n    oidc:\n      issuer: http://login.care.example\n      clientId: 'my client'\n      clientSecretRef: { store: hospital-vault2, key: platform/ward/oidc }",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "`spec.controlPlane.cluster`: `recovery-eu2` is a recovery cluster",
    );
    assert!(e.hint.contains("shared or dedicated"), "{}", e.hint);
    find(&p, "`spec.controlPlane.replicas` must be at least 2");
    find(&p, "`spec.controlPlane.storage` must be at least 1Gi");
    find(&p, "`spec.controlPlane.memory` must be at least 512Mi");
    let e = find(
        &p,
        "`spec.controlPlane.scheduler` has unknown value `servr`",
    );
    assert!(e.hint.contains("did you mean `server`?"), "{}", e.hint);
    find(
        &p,
        "`spec.controlPlane.pollInterval` must be between 10s and 24h",
    );
    let e = find(&p, "unknown field `spec.controlPlane.replica`");
    assert_eq!(e.hint, "did you mean `replicas`?");
    find(
        &p,
        "`spec.controlPlane.oidc.issuer` must be an https:// URL",
    );
    let e = find(&p, "`spec.controlPlane.oidc` needs `spec.controlPlane.url`");
    assert!(e.hint.contains("https://"), "{}", e.hint);
    find(
        &p,
        "`spec.controlPlane.oidc.clientId` must be a client id without spaces",
    );
    let e = find(&p, "unknown secret store `hospital-vault2`");
    assert!(
        e.hint.contains("did you mean `hospital-vault`?"),
        "{}",
        e.hint
    );
    let line = line_of(dir.path(), "platform.yaml", "    replica: 2");
    assert_eq!(
        e_location(&p, "unknown field `spec.controlPlane.replica`"),
        format!("platform.yaml:{line}:5")
    );
}

#[test]
fn the_servers_url_is_an_https_address() {
    let dir = example();
    with_control_plane(
        dir.path(),
        "    url: http://ward.care.example\n    oidc: { issuer: 'https://login.care.example', clientId: ward, groupsPrefix: 'idp:' }",
    );
    let p = problems(dir.path());
    let e = find(&p, "`spec.controlPlane.url` must be an https:// URL");
    assert!(e.hint.contains("https://ward.care.example"), "{}", e.hint);
    assert_eq!(p.len(), 1, "{p:?}");
}

#[test]
fn an_unknown_control_plane_cluster_gets_a_suggestion() {
    let dir = example();
    with_control_plane(dir.path(), "    cluster: shared-eu2");
    let p = problems(dir.path());
    let e = find(&p, "unknown cluster `shared-eu2`");
    assert_eq!(e.hint, "did you mean `shared-eu1`?");
}

fn e_location(p: &[Problem], message: &str) -> String {
    find(p, message).location.clone()
}

#[test]
fn the_identity_providers_groups_are_roles_through_the_teams() {
    use ward_estate::model::Role;
    let dir = example();
    let estate = load_ok(dir.path());
    let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The example's Teams: platform maps idp:care-dba to dba (and the other three roles),
    // revenue-cycle maps idp:revenue-cycle to app-support.
    assert_eq!(
        estate.roles_of_groups(&groups(&["care-dba", "revenue-cycle", "everyone"]), "idp:"),
        vec![Role::Dba, Role::AppSupport]
    );
    assert_eq!(
        estate.roles_of_groups(&groups(&["idp:care-security"]), ""),
        vec![Role::SecurityReviewer]
    );
    // Without its prefix a provider's group is not the Team's.
    assert!(
        estate
            .roles_of_groups(&groups(&["care-dba"]), "")
            .is_empty()
    );
    assert!(
        estate
            .roles_of_groups(&groups(&["everyone"]), "idp:")
            .is_empty()
    );
    assert_eq!(
        estate
            .person_by_email("Bob@Care.Example")
            .map(|p| p.name.value.as_str()),
        Some("bob")
    );
    assert!(estate.person_by_email("eve@care.example").is_none());
}
