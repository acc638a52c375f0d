//! Starts a real throwaway cluster, queries it over the socket, and checks teardown.

use ward_pgtemp::TempCluster;

#[test]
fn starts_queries_and_cleans_up() {
    let cluster = TempCluster::start().expect("cluster starts");
    assert!(cluster.port() > 0);
    let out = cluster
        .psql("CREATE TABLE t(x int); INSERT INTO t VALUES (1),(2),(3); SELECT sum(x) FROM t;")
        .expect("query runs");
    assert_eq!(out, "6");
    let version = cluster.psql("SHOW server_version_num").expect("version");
    assert!(version.parse::<u32>().expect("number") >= 120000);
    assert!(cluster.url().contains(&cluster.port().to_string()));

    let err = cluster
        .psql("SELECT * FROM missing_table")
        .expect_err("bad SQL fails");
    assert!(err.to_string().contains("missing_table"), "{err}");

    let socket_dir = cluster.socket_dir();
    let root = socket_dir.parent().expect("root").to_path_buf();
    assert!(root.exists());
    drop(cluster);
    assert!(!root.exists(), "folder removed on drop");
}

#[test]
fn two_clusters_run_side_by_side() {
    let a = TempCluster::start().expect("a");
    let b = TempCluster::start().expect("b");
    assert_ne!(a.port(), b.port());
    a.psql("CREATE DATABASE only_in_a").expect("create");
    let dbs = b
        .psql("SELECT count(*) FROM pg_database WHERE datname = 'only_in_a'")
        .expect("q");
    assert_eq!(dbs, "0");
}

/// psql over TCP as the superuser with `sslmode`: its exit status, stdout and stderr.
fn psql_tcp(cluster: &TempCluster, sslmode: &str, sql: &str) -> (bool, String, String) {
    let out = cluster
        .psql_tcp(cluster.user(), cluster.password(), sslmode, "postgres", sql)
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// TLS comes up with a certificate from the test CA, and a `hostssl`-only pg_hba is in force as
/// soon as `set_hba` returns: plain text is refused, TLS admitted; a bad line is refused
/// and leaves the rules that were there.
#[test]
fn tls_and_a_hostssl_only_pg_hba() {
    let cluster = TempCluster::start().expect("cluster starts");
    let (ok, _, err) = psql_tcp(&cluster, "require", "SELECT 1");
    assert!(!ok, "TLS before enable_tls: {err}");
    cluster.enable_tls().expect("TLS on");
    cluster
        .set_hba(&[
            "hostssl all all all scram-sha-256",
            "host all all all reject",
        ])
        .expect("pg_hba");
    let (ok, out, err) = psql_tcp(
        &cluster,
        "require",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "t");
    let (ok, _, err) = psql_tcp(&cluster, "disable", "SELECT 1");
    assert!(!ok && err.contains("no encryption"), "{err}");
    // The unix socket stays trusted, for psql().
    assert_eq!(cluster.psql("SELECT 1").expect("socket"), "1");

    let err = cluster
        .set_hba(&["hostssl all all all no-such-method"])
        .expect_err("a bad line");
    assert!(err.to_string().contains("pg_hba.conf"), "{err}");
}

/// A standby streams from its primary, is in recovery and read-only, replays what the
/// primary commits, and stops on its own (connections refused) without the primary.
#[test]
fn a_streaming_hot_standby_replays_the_primary() {
    let primary = TempCluster::start().expect("primary");
    primary
        .psql("CREATE TABLE t(x int); INSERT INTO t VALUES (1)")
        .expect("seed");
    let mut standby = primary.start_standby().expect("standby starts");
    assert_ne!(standby.port(), primary.port());
    assert_eq!(standby.psql("SELECT pg_is_in_recovery()").expect("q"), "t");
    assert_eq!(standby.password(), primary.password());
    let refused = standby
        .psql("INSERT INTO t VALUES (2)")
        .expect_err("a standby is read-only");
    assert!(refused.to_string().contains("read-only"), "{refused}");
    assert_eq!(
        primary
            .psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            .expect("q"),
        "1"
    );

    primary.psql("INSERT INTO t VALUES (3)").expect("insert");
    let lsn = primary
        .psql("SELECT pg_current_wal_insert_lsn()")
        .expect("lsn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let caught_up = standby
            .psql(&format!(
                "SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
            ))
            .expect("q");
        if caught_up == "t" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no replay to {lsn}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(standby.psql("SELECT sum(x) FROM t").expect("q"), "4");

    // Over TCP with the primary's password, as a client of the standby logs in.
    let out = standby
        .psql_tcp(
            "postgres",
            standby.password(),
            "disable",
            "postgres",
            "SELECT 1",
        )
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    standby.stop();
    assert!(
        standby.psql("SELECT 1").is_err(),
        "a stopped standby answers"
    );
    assert_eq!(primary.psql("SELECT sum(x) FROM t").expect("q"), "4");
}

/// The server's certificate is issued by the cluster's test CA for what `enable_tls_for`
/// names, as libpq itself checks it: `psql` with `verify-full` and the CA file logs in to
/// `127.0.0.1` when the certificate names it, and is refused when it names only
/// `localhost` (which `verify-ca` accepts), or against another CA.
#[test]
fn the_test_ca_satisfies_libpq_verify_full() {
    let run = |cluster: &TempCluster, mode: &str, ca: &std::path::Path| {
        let out = cluster
            .psql_tcp(
                cluster.user(),
                cluster.password(),
                mode,
                "postgres",
                "SELECT 1",
            )
            .env("PGSSLROOTCERT", ca)
            .output()
            .expect("psql");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let by_ip = TempCluster::start().expect("cluster starts");
    by_ip.enable_tls().expect("TLS on");
    let (ok, err) = run(&by_ip, "verify-full", &by_ip.ca_file());
    assert!(ok, "{err}");

    let by_name = TempCluster::start().expect("cluster starts");
    by_name.enable_tls_for("DNS:localhost").expect("TLS on");
    // Each cluster has a CA of its own.
    let (ok, err) = run(&by_ip, "verify-ca", &by_name.ca_file());
    assert!(!ok && err.contains("certificate verify failed"), "{err}");
    let (ok, err) = run(&by_name, "verify-full", &by_name.ca_file());
    assert!(!ok && err.contains("does not match host name"), "{err}");
    let (ok, err) = run(&by_name, "verify-ca", &by_name.ca_file());
    assert!(ok, "{err}");
}
