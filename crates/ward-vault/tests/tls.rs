//! The vault's own connection negotiates TLS as libpq does, against a real PostgreSQL
//! whose pg_hba admits TCP logins over TLS only (as the rendered tenants' lines do), and
//! against one without TLS at all.

mod common;

use common::{World, assert_no_snapshots, progress, small};
use ward_vault::{
    DbConnection, RestoreRequest, SnapshotFilter, SslMode, VaultError, list, restore,
};

/// A world whose server serves TLS and whose pg_hba is `hostssl` or nothing over TCP.
async fn hostssl_only() -> World {
    let w = World::new(small()).await;
    w.cluster.enable_tls().expect("TLS on the server");
    w.cluster
        .set_hba(&[
            "hostssl all all all scram-sha-256",
            "host all all all reject",
        ])
        .expect("pg_hba");
    w
}

fn with_sslmode(w: &World, db: &str, mode: &str) -> DbConnection {
    DbConnection::from_url(&format!("{}?sslmode={mode}", w.cluster.url_for(db))).expect("url")
}

/// Asserts that `err` is an operational database error (exit 3) that names the world's
/// server and not its password; returns its text.
fn database_error_naming_the_server(w: &World, err: &VaultError) -> String {
    let text = err.to_string();
    assert!(matches!(err, VaultError::Database(_)), "{text}");
    assert_eq!(err.exit_code(), 3);
    let server = format!("127.0.0.1:{}", w.cluster.port());
    assert!(text.contains(&server), "{text}");
    assert!(!text.contains(w.cluster.password()), "{text}");
    text
}

/// The default (`prefer`) backs up, verifies and restores where only TLS is admitted:
/// our connection, `pg_dump` and `pg_restore` (parallel, so several connections) alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_over_tls_by_default() {
    let w = hostssl_only().await;
    assert_eq!(w.db.sslmode, SslMode::Prefer);
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let summary = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup over TLS");
    assert_eq!(summary.attachments as usize, w.fixture.store_fnames.len());
    w.verify_read_data(&repo, &summary.snapshot).await;
    let ids = w.identities();

    for (mode, db, jobs) in [(None, "odoo_copy", 2), (Some("require"), "odoo_copy2", 1)] {
        let conn = match mode {
            None => w.db.with_dbname(db),
            Some(mode) => with_sslmode(&w, db, mode),
        };
        let mut req = RestoreRequest::new(conn, w.dir.path().join("restore").join(db));
        req.pg_tools = ward_vault::PgTools::in_dir(w.cluster.bindir());
        req.jobs = jobs;
        let restored = restore(
            &repo,
            &summary.snapshot,
            &w.trusted(),
            &ids,
            &req,
            progress(),
        )
        .await
        .unwrap_or_else(|e| panic!("restore with sslmode {mode:?}: {e}"));
        assert!(
            restored.is_consistent(),
            "{:?}",
            restored.row_count_mismatches
        );
        let q = "SELECT (SELECT count(*) FROM res_partner), (SELECT count(*) FROM ir_attachment)";
        assert_eq!(w.psql("odoo", q), w.psql(db, q));
    }
}

/// `sslmode=disable` where pg_hba admits TLS only: refused before anything is written,
/// with an operational error (exit 3) that names the server and what to change, and no
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_is_refused_naming_the_server() {
    let w = hostssl_only().await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let mut target = w.target();
    target.db = with_sslmode(&w, "odoo", "disable");
    assert_eq!(target.db.sslmode, SslMode::Disable);
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect_err("plain text is refused");
    let text = database_error_naming_the_server(&w, &err);
    assert!(
        text.contains("TLS only") && text.contains("sslmode=prefer"),
        "{text}"
    );
    assert_no_snapshots(&repo).await;
}

/// Against a server without TLS, `prefer` falls back to plain text (a backup works) and
/// `require` fails clearly, naming the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_fails_clearly_without_server_tls() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("prefer falls back to plain text");

    let mut target = w.target();
    target.db = with_sslmode(&w, "odoo", "require");
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect_err("no TLS to require");
    let text = database_error_naming_the_server(&w, &err);
    assert!(
        text.contains("does not offer TLS") && text.contains("sslmode=require"),
        "{text}"
    );
    assert_eq!(
        list(&repo, &SnapshotFilter::default(), &w.trusted())
            .await
            .expect("list")
            .len(),
        1
    );
}

/// libpq's modes Ward does not support are named as such (bad input, exit 2); nothing else
/// of the URL, its password least of all, is echoed.
#[test]
fn unsupported_sslmodes_are_refused_by_name() {
    for mode in ["verify-full", "verify-ca", "allow"] {
        let err = DbConnection::from_url(&format!(
            "postgres://u:hunter2@db.example:5432/odoo?sslmode={mode}"
        ))
        .expect_err("unsupported");
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2);
        assert!(
            text.contains(&format!("sslmode={mode}")) && text.contains("not supported"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("db.example"),
            "{text}"
        );
    }
    let err = DbConnection::from_url("postgres://u:hunter2@db.example/odoo?sslmode=hunter2")
        .expect_err("nonsense");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    for (url, mode) in [
        ("postgres://u@h/d", SslMode::Prefer),
        ("postgres://u@h/d?sslmode=disable", SslMode::Disable),
        ("postgres://u@h/d?sslmode=prefer", SslMode::Prefer),
        ("postgres://u@h/d?sslmode=require", SslMode::Require),
    ] {
        assert_eq!(
            DbConnection::from_url(url).expect(url).sslmode,
            mode,
            "{url}"
        );
    }
}
