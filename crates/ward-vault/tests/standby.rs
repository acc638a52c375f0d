//! Logical snapshots read from a real streaming hot standby (`ward-pgtemp`): the dump and
//! the attachment list come from the standby once it has replayed past the primary's
//! position, and the backup falls back to the primary, saying why, when the standby is
//! down, lagging or not a standby at all (or fails, when a standby is required).

mod common;

use std::time::{Duration, Instant};

use common::{World, assert_consistent, small};
use ward_pgtemp::TempCluster;
use ward_vault::{
    BackupOptions, BackupTarget, DbConnection, DumpRole, DumpSource, ListedSnapshot, VaultError,
};

fn with_standby(w: &World, standby: &TempCluster) -> BackupTarget {
    let mut target = w.target();
    target.standby = Some(DbConnection::from_url(&standby.url_for("odoo")).expect("url"));
    target
}

/// The world's options, failing the backup rather than reading the primary.
fn requiring_standby(w: &World) -> BackupOptions {
    let mut options = w.options();
    options.require_standby = true;
    options
}

/// Pauses WAL replay on `standby` and returns once it is paused.
fn pause_replay(standby: &TempCluster) {
    standby.psql("SELECT pg_wal_replay_pause()").expect("pause");
    let deadline = Instant::now() + Duration::from_secs(20);
    while standby
        .psql("SELECT pg_get_wal_replay_pause_state()")
        .expect("state")
        != "paused"
    {
        assert!(Instant::now() < deadline, "replay did not pause");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sequential scans of `table` in database odoo on `cluster`, once its statistics show
/// at least `at_least` (or after 10 s, whatever they show).
fn seq_scans(cluster: &TempCluster, table: &str, at_least: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = cluster
            .psql_db(
                "odoo",
                &format!(
                    "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relname = '{table}'"
                ),
            )
            .expect("stats")
            .parse()
            .expect("number");
        if n >= at_least || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The dump comes from the standby: pg_dump's scan of a table no other part of the backup
/// reads shows in the standby's statistics and not the primary's, and the manifest says
/// so. A row committed on the primary while the standby's replay was paused is in the
/// restored database: the backup waited for the standby to replay past the barrier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_with_a_standby_dumps_from_it_once_it_has_caught_up() {
    let w = World::new(small()).await;
    w.psql(
        "odoo",
        "CREATE TABLE ward_probe(x int); INSERT INTO ward_probe VALUES (1)",
    );
    let standby = w.cluster.start_standby().expect("standby");
    let repo = w.repo().await;
    let key = w.key(&repo).await;

    pause_replay(&standby);
    w.psql("odoo", "INSERT INTO ward_probe VALUES (42)");
    assert_eq!(
        standby
            .psql_db("odoo", "SELECT count(*) FROM ward_probe")
            .expect("q"),
        "1",
        "the standby replayed while paused"
    );
    let resume = {
        let psql = standby.bindir().join("psql");
        let (sock, port) = (standby.socket_dir(), standby.port().to_string());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::process::Command::new(psql)
                .args(["-X", "-At", "-h"])
                .arg(sock)
                .args([
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-c",
                    "SELECT pg_wal_replay_resume()",
                ])
                .output()
                .expect("resume")
        })
    };
    let mut options = requiring_standby(&w);
    options.standby_catch_up = Duration::from_secs(60);
    let summary = w
        .backup_with(&repo, &key, &with_standby(&w, &standby), &options)
        .await
        .expect("backup");
    let resumed = resume.join().expect("resume thread");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let server = format!("127.0.0.1:{}", standby.port());
    let expected = DumpSource {
        role: DumpRole::Standby,
        server: server.clone(),
    };
    assert_eq!(summary.source, expected);
    assert!(summary.standby_skipped.is_none());
    assert!(summary.problems.is_empty());
    let listed = w.listed(&repo).await;
    let ListedSnapshot::Verified { manifest: m, .. } = &listed[0] else {
        panic!("the snapshot does not verify")
    };
    assert_eq!(m.source.as_ref(), Some(&expected));

    assert!(
        seq_scans(&standby, "ward_probe", 1) >= 1,
        "pg_dump did not read the standby"
    );
    assert_eq!(
        seq_scans(&w.cluster, "ward_probe", 0),
        0,
        "pg_dump read the primary"
    );

    let restored = w
        .restore(&repo, &summary.snapshot, &w.restore_request("odoo_copy"))
        .await
        .expect("restore");
    assert_consistent(&restored);
    assert_eq!(
        w.psql(
            "odoo_copy",
            "SELECT string_agg(x::text, ',' ORDER BY x) FROM ward_probe"
        ),
        "1,42"
    );
    assert_eq!(
        restored.blobs_restored as usize,
        w.fixture.store_fnames.len()
    );
}

/// A stopped standby: the backup reads the primary and says which standby it skipped and
/// why; with a standby required, it fails naming the standby, and commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_standby_falls_back_to_the_primary_unless_required() {
    let w = World::new(small()).await;
    let mut standby = w.cluster.start_standby().expect("standby");
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let target = with_standby(&w, &standby);
    let server = format!("127.0.0.1:{}", standby.port());
    standby.stop();

    let summary = w
        .backup_with(&repo, &key, &target, &w.options())
        .await
        .expect("backup falls back");
    assert_eq!(summary.source.role, DumpRole::Primary);
    assert_eq!(summary.source.server, w.db.server());
    let skipped = summary
        .standby_skipped
        .expect("the skipped standby is named");
    assert_eq!(skipped.server, server);
    assert!(
        skipped.reason.contains("cannot reach"),
        "{}",
        skipped.reason
    );
    w.verify_read_data(&repo, &summary.snapshot).await;

    let err = w
        .backup_with(&repo, &key, &target, &requiring_standby(&w))
        .await
        .expect_err("a required standby that is down fails the backup");
    assert!(
        matches!(err, VaultError::StandbyUnavailable { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&server), "{message}");
    assert!(message.contains("cannot reach"), "{message}");
    assert_eq!(
        w.listed(&repo).await.len(),
        1,
        "the failed backup committed a snapshot"
    );
}

/// A standby that does not replay up to the primary within the catch-up limit, and a
/// "standby" that is not in recovery, are skipped for the primary, each with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_standby_or_a_primary_named_as_one_is_skipped() {
    let w = World::new(small()).await;
    let standby = w.cluster.start_standby().expect("standby");
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    pause_replay(&standby);
    w.psql("odoo", "CREATE TABLE ward_probe(x int)");
    let mut options = w.options();
    options.standby_catch_up = Duration::from_secs(1);
    let summary = w
        .backup_with(&repo, &key, &with_standby(&w, &standby), &options)
        .await
        .expect("backup falls back");
    assert_eq!(summary.source.role, DumpRole::Primary);
    let reason = summary.standby_skipped.expect("skipped").reason;
    assert!(reason.contains("not yet to the primary's"), "{reason}");

    let mut itself = w.target();
    itself.standby = Some(w.db.clone());
    let summary = w
        .backup_with(&repo, &key, &itself, &w.options())
        .await
        .expect("backup");
    assert_eq!(summary.source.role, DumpRole::Primary);
    let reason = summary.standby_skipped.expect("skipped").reason;
    assert!(reason.contains("not in recovery"), "{reason}");
}

/// A TCP front for several servers that sends each new connection to the next one, as a
/// Kubernetes Service spreads connections over the pods it selects.
struct RoundRobin {
    port: u16,
}

impl RoundRobin {
    fn start(backends: Vec<u16>) -> RoundRobin {
        use std::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for (i, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", backends[i % backends.len()]))
                else {
                    continue;
                };
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        RoundRobin { port }
    }
}

/// Behind a service spreading connections over two replicas, pg_dump still attaches to
/// the snapshot: it connects to the instance that exported it, not to the service,
/// which would send it to the other replica, where the snapshot does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_follows_the_snapshot_to_its_replica_behind_a_service() {
    let w = World::new(small()).await;
    let a = w.cluster.start_standby().expect("standby a");
    let b = w.cluster.start_standby().expect("standby b");
    let service = RoundRobin::start(vec![a.port(), b.port()]);
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let mut target = w.target();
    let mut standby = w.db.clone();
    standby.port = service.port;
    target.standby = Some(standby);
    let summary = w
        .backup_with(&repo, &key, &target, &requiring_standby(&w))
        .await
        .expect("backup behind the service");
    assert_eq!(summary.source.role, DumpRole::Standby);
    assert_eq!(summary.source.server, format!("127.0.0.1:{}", service.port));
    w.verify_read_data(&repo, &summary.snapshot).await;
}

/// Under `verify-full`, `pg_dump` reaches the standby instance that exported the snapshot
/// by its address (libpq's `hostaddr`) while checking the certificate against the name
/// the target gave: here certificates that name only `localhost`, as CloudNativePG's
/// name only its services, while the instance's address is 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_dump_under_verify_full_checks_the_name_not_the_address() {
    let w = World::new(small()).await;
    w.cluster
        .enable_tls_for("DNS:localhost")
        .expect("TLS naming localhost");
    // The standby copies the primary's TLS settings with its data folder.
    let standby = w.cluster.start_standby().expect("standby");
    let by_name = |cluster: &TempCluster| {
        let url = cluster
            .url_for("odoo")
            .replace("@127.0.0.1:", "@localhost:");
        let ca = w.cluster.ca_file();
        DbConnection::from_url(&format!(
            "{url}?sslmode=verify-full&sslrootcert={}",
            ca.display()
        ))
        .expect("url")
    };
    let mut target = w.target();
    target.db = by_name(&w.cluster);
    target.standby = Some(by_name(&standby));
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let summary = w
        .backup_with(&repo, &key, &target, &requiring_standby(&w))
        .await
        .expect("a verify-full backup from the standby");
    assert_eq!(summary.source.role, DumpRole::Standby);
    assert!(summary.dump_bytes > 0);
}
