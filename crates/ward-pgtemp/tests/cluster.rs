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
