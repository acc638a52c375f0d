//! A database that never answers fails `backup run`, `restore` and `drill` within their
//! limits, with an exit-3 message naming host:port, the phase and how to raise the limit:
//! a real TCP listener that accepts and stays silent, and a real PostgreSQL whose tables
//! another session holds locked.

mod vault_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vault_support::{World, json};
use ward_vault::fixture::OdooFixture;

fn small() -> OdooFixture {
    OdooFixture {
        attachments: 6,
        partners: 30,
        ..OdooFixture::default()
    }
}

/// A listener on 127.0.0.1 that accepts every connection and never says a word.
struct Silent {
    port: u16,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream); // kept open, never read or written
            }
        });
        Silent { port }
    }
}

/// Runs `ward` with `args`, killing it after `limit`; returns its exit code, stderr and how
/// long it took.
fn ward_within(w: &World, args: &[&str], limit: Duration) -> (i32, String, Duration) {
    let started = Instant::now();
    let mut child = w
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ward");
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
                .expect("stderr");
            return (status.code().unwrap_or(-1), err, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ward {args:?} still hung after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out_in_every_command() {
    let w = World::new(small());
    let id = w.backed_up();
    let silent = Silent::start();
    let hung = format!("postgres://odoo:s3cret-pw@127.0.0.1:{}/odoo", silent.port);
    let server = format!("127.0.0.1:{}", silent.port);
    let data = w.tmp.path().join("data");
    let scratch = w.tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let data_s = data.to_str().expect("utf8").to_string();
    let scratch_s = scratch.to_str().expect("utf8").to_string();
    let commands: [Vec<&str>; 3] = [
        w.backup_args(&hung),
        vec![
            "restore",
            &id,
            "--to-db",
            "r",
            "--filestore",
            &data_s,
            "--db-url",
            &hung,
        ],
        vec![
            "drill",
            "billing/prod",
            "--db-url",
            &hung,
            "--scratch-dir",
            &scratch_s,
        ],
    ];
    for args in &commands {
        let mut args = args.clone();
        args.extend(["--db-connect-timeout", "2s"]);
        let (code, err, took) = ward_within(&w, &args, Duration::from_secs(60));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(took < Duration::from_secs(30), "{args:?} took {took:?}");
        assert!(
            err.contains(&server) && err.contains("within 2s while connecting"),
            "{args:?}: {err}"
        );
        assert!(err.contains("--db-connect-timeout"), "{err}");
        assert!(err.contains("database.connectTimeout"), "{err}");
        assert!(!err.contains("s3cret-pw"), "{err}");
        assert!(!err.contains("dropped"), "{err}");
    }
    assert!(!data.exists());
    assert!(
        std::fs::read_dir(&scratch)
            .expect("scratch")
            .next()
            .is_none()
    );

    // The default applies without the flag, and the estate's connectTimeout over it.
    let (code, err, took) = ward_within(&w, &commands[0], Duration::from_secs(60));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("within 10s while connecting"), "{err}");
    assert!(took < Duration::from_secs(40), "{took:?}");
    let declared = "      database:\n        passwordRef:";
    w.edit(
        "workloads/billing.yaml",
        declared,
        "      database:\n        connectTimeout: 1s\n        passwordRef:",
    );
    let (code, err, _) = ward_within(&w, &commands[0], Duration::from_secs(60));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("within 1s while connecting"), "{err}");
    // A flag of nonsense is bad input.
    let mut bad = commands[0].clone();
    bad.extend(["--db-connect-timeout", "soon"]);
    let (code, err, _) = ward_within(&w, &bad, Duration::from_secs(60));
    assert_eq!(code, 2, "{err}");
}

/// A psql session holding `LOCK TABLE <table> IN <mode> MODE` (ACCESS EXCLUSIVE unless
/// said) in an open transaction, until dropped.
struct Locker {
    child: Child,
}

impl Locker {
    fn hold(w: &World, table: &str) -> Locker {
        Locker::hold_in(w, table, "ACCESS EXCLUSIVE")
    }

    fn hold_in(w: &World, table: &str, mode: &str) -> Locker {
        let mut child = Command::new(w.cluster.bindir().join("psql"))
            .args(["-X", "-q", "-At", "-h"])
            .arg(w.cluster.socket_dir())
            .args([
                "-p",
                &w.cluster.port().to_string(),
                "-U",
                "postgres",
                "-d",
                "odoo",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            "BEGIN; LOCK TABLE {table} IN {mode} MODE; SELECT 'locked';"
        )
        .expect("lock");
        // Keep stdin open in the child: the session lives while the pipe does.
        std::mem::forget(stdin);
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "locked");
        Locker { child }
    }
}

impl Drop for Locker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_statement_or_lock_that_never_ends_times_out_backup_and_pg_dump() {
    let w = World::new(small());
    // A table Ward's own session never counts: only pg_dump waits for its lock.
    w.psql(
        "odoo",
        "CREATE TABLE clinic_notes (id int PRIMARY KEY, body text)",
    );
    let url = w.cluster.url_for("odoo");
    let server = format!("127.0.0.1:{}", w.cluster.port());
    let mut backup = w.backup_args(&url);
    backup.extend(["--db-statement-timeout", "2s"]);
    for (table, phase) in [
        ("res_partner", "within 2s while running a statement"),
        (
            "clinic_notes",
            "within 2s while pg_dump waited for a table lock",
        ),
    ] {
        let locker = Locker::hold(&w, table);
        let (code, err, took) = ward_within(&w, &backup, Duration::from_secs(90));
        drop(locker);
        assert_eq!(code, 3, "{table}: {err}");
        assert!(took < Duration::from_secs(45), "{table}: {took:?}");
        assert!(
            err.contains(&server) && err.contains(phase),
            "{table}: {err}"
        );
        assert!(
            err.contains("--db-statement-timeout") && err.contains("database.statementTimeout"),
            "{err}"
        );
        assert!(!err.contains(w.cluster.password()), "{err}");
    }
    // Nothing was committed; with the locks gone the same backup succeeds.
    let (code, out, _) = w.ward(&["backup", "list", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out).as_array().map(Vec::len), Some(0), "{out}");
    let (code, err, _) = ward_within(&w, &backup, Duration::from_secs(90));
    assert_eq!(code, 0, "{err}");
}

/// Restores and drills run under the statement limit too: CREATE DATABASE waits for a lock
/// another session holds on pg_database, and the restore gives up, removes what it made,
/// and says it dropped nothing.
#[test]
fn a_restore_or_drill_whose_create_database_waits_times_out() {
    let w = World::new(small());
    let id = w.backed_up();
    let url = w.cluster.url();
    let data = w.tmp.path().join("data");
    let scratch = w.tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let data_s = data.to_str().expect("utf8").to_string();
    let scratch_s = scratch.to_str().expect("utf8").to_string();
    // EXCLUSIVE lets logins and reads of pg_database through, not a new database's row.
    let locker = Locker::hold_in(&w, "pg_catalog.pg_database", "EXCLUSIVE");
    let server = format!("127.0.0.1:{}", w.cluster.port());
    for args in [
        vec![
            "restore",
            &id,
            "--to-db",
            "r",
            "--filestore",
            &data_s,
            "--db-url",
            &url,
        ],
        vec![
            "drill",
            "billing/prod",
            "--db-url",
            &url,
            "--scratch-dir",
            &scratch_s,
        ],
    ] {
        let mut args = args.clone();
        args.extend(["--db-statement-timeout", "2s"]);
        let (code, err, took) = ward_within(&w, &args, Duration::from_secs(90));
        assert_eq!(code, 3, "{args:?}: {err}");
        assert!(took < Duration::from_secs(45), "{took:?}");
        assert!(
            err.contains(&server) && err.contains("within 2s while running a statement"),
            "{args:?}: {err}"
        );
        assert!(err.contains("--db-statement-timeout"), "{err}");
        assert!(!err.contains("dropped the database"), "{err}");
    }
    drop(locker);
    assert!(!data.exists());
    assert!(
        std::fs::read_dir(&scratch)
            .expect("scratch")
            .next()
            .is_none()
    );
    assert!(!w.has_database("r"));
}
