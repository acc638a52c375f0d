//! The vault's own connection negotiates TLS as libpq does, against a real PostgreSQL
//! whose pg_hba admits TCP logins over TLS only (as the rendered tenants' lines do), and
//! against one without TLS at all; verify-ca/verify-full against the server's test CA,
//! and channel_binding=require against pg_hba's md5 and password methods.

mod common;

use std::path::Path;

use common::{World, assert_consistent, assert_no_snapshots, small};
use ward_vault::{ChannelBinding, DbConnection, Repository, SnapshotRef, SslMode, VaultError};

/// A world whose server's certificate is issued by its test CA for `san`, with pg_hba
/// admitting `method` over TLS only.
async fn hostssl_with(san: &str, method: &str) -> World {
    let w = World::new(small()).await;
    w.cluster.enable_tls_for(san).expect("TLS on the server");
    admit_over_tls_only(&w, method);
    w
}

/// A world whose server serves TLS (a certificate for 127.0.0.1) and whose pg_hba is
/// `hostssl` with SCRAM or nothing over TCP.
async fn hostssl_only() -> World {
    hostssl_with("IP:127.0.0.1", "scram-sha-256").await
}

/// Sets pg_hba to `hostssl … method` and nothing else over TCP.
fn admit_over_tls_only(w: &World, method: &str) {
    let line = format!("hostssl all all all {method}");
    w.cluster
        .set_hba(&[line.as_str(), "host all all all reject"])
        .expect("pg_hba");
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
    let summary = w.backup(&repo, &key).await.expect("backup over TLS");
    assert_eq!(summary.attachments as usize, w.fixture.store_fnames.len());
    w.verify_read_data(&repo, &summary.snapshot).await;

    for (mode, db, jobs) in [(None, "odoo_copy", 2), (Some("require"), "odoo_copy2", 1)] {
        let conn = match mode {
            None => w.db.with_dbname(db),
            Some(mode) => with_sslmode(&w, db, mode),
        };
        restore_and_compare(&w, &repo, &summary.snapshot, conn, jobs)
            .await
            .unwrap_or_else(|e| panic!("restore with sslmode {mode:?}: {e}"));
    }
}

/// Restores `snapshot` through `conn` with `jobs` parallel jobs, and asserts that the
/// restored database is consistent and counts the source's partners and attachments.
async fn restore_and_compare(
    w: &World,
    repo: &Repository,
    snapshot: &SnapshotRef,
    conn: DbConnection,
    jobs: u32,
) -> Result<(), VaultError> {
    let db = conn.dbname.clone();
    let mut req = w.restore_request_over(conn);
    req.jobs = jobs;
    let restored = w.restore(repo, snapshot, &req).await?;
    assert_consistent(&restored);
    let q = "SELECT (SELECT count(*) FROM res_partner), (SELECT count(*) FROM ir_attachment)";
    assert_eq!(w.psql("odoo", q), w.psql(&db, q));
    Ok(())
}

/// `sslmode=disable` where pg_hba admits TLS only: refused before anything is written,
/// with an operational error (exit 3) that names the server and what to change, and no
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_is_refused_naming_the_server() {
    let w = hostssl_only().await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let db = with_sslmode(&w, "odoo", "disable");
    assert_eq!(db.sslmode, SslMode::Disable);
    let err = w
        .backup_through(&repo, &key, db)
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
    w.backup(&repo, &key)
        .await
        .expect("prefer falls back to plain text");

    let err = w
        .backup_through(&repo, &key, with_sslmode(&w, "odoo", "require"))
        .await
        .expect_err("no TLS to require");
    let text = database_error_naming_the_server(&w, &err);
    assert!(
        text.contains("does not offer TLS") && text.contains("sslmode=require"),
        "{text}"
    );
    assert_eq!(w.listed(&repo).await.len(), 1);
}

/// `allow`, the one libpq mode Ward does not support, is named as such (bad input, exit
/// 2); nothing else of the URL, its password least of all, is echoed; the others parse.
#[test]
fn unsupported_sslmodes_are_refused_by_name() {
    let err = DbConnection::from_url("postgres://u:hunter2@db.example:5432/odoo?sslmode=allow")
        .expect_err("unsupported");
    let text = err.to_string();
    assert_eq!(err.exit_code(), 2);
    assert!(
        text.contains("sslmode=allow") && text.contains("not supported"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("db.example"),
        "{text}"
    );
    for bad in [
        "sslmode=hunter2",
        "channel_binding=hunter2",
        "sslmode=%ZZhunter2",
    ] {
        let err = DbConnection::from_url(&format!("postgres://u:hunter2@db.example/odoo?{bad}"))
            .expect_err("nonsense");
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    for (url, mode) in [
        ("postgres://u@h/d", SslMode::Prefer),
        ("postgres://u@h/d?sslmode=disable", SslMode::Disable),
        ("postgres://u@h/d?sslmode=prefer", SslMode::Prefer),
        ("postgres://u@h/d?sslmode=require", SslMode::Require),
        ("postgres://u@h/d?sslmode=verify-ca", SslMode::VerifyCa),
        ("postgres://u@h/d?sslmode=verify-full", SslMode::VerifyFull),
    ] {
        assert_eq!(
            DbConnection::from_url(url).expect(url).sslmode,
            mode,
            "{url}"
        );
    }
    // libpq's names, percent-decoded, and the other parameters still reach tokio-postgres.
    let db = DbConnection::from_url(
        "postgres://u@h:6432/d?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20file.crt&channel_binding=require",
    )
    .expect("url");
    assert_eq!(db.sslmode, SslMode::VerifyFull);
    assert_eq!(
        db.sslrootcert.as_deref(),
        Some(Path::new("/etc/ca file.crt"))
    );
    assert_eq!(db.channel_binding, ChannelBinding::Require);
    assert_eq!(
        (db.host.as_str(), db.port, db.dbname.as_str()),
        ("h", 6432, "d")
    );
    let err = DbConnection::from_url("postgres://u@h/d?sslrootcert=system").expect_err("system");
    assert!(err.to_string().contains("not supported"), "{err}");
}

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &[(&str, &str)]) -> DbConnection {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
        .collect();
    DbConnection::from_url(&format!("{url}?{}", query.join("&"))).expect("url")
}

fn ca_of(w: &World) -> String {
    w.cluster.ca_file().display().to_string()
}

/// `url` under `sslmode` (verify-ca or verify-full) against the CA file `ca`.
fn checked(url: &str, sslmode: &str, ca: &str) -> DbConnection {
    with_params(url, &[("sslmode", sslmode), ("sslrootcert", ca)])
}

/// `verify-full` with the server's CA: a backup (our connection and `pg_dump`) and a
/// parallel restore (`pg_restore`, several connections) go through. The children can only
/// verify with the CA file they were given (`PGSSLROOTCERT`; libpq's default
/// `~/.postgresql/root.crt` does not exist here), so this proves they got it, and the
/// mode, and that every session was encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_backs_up_and_restores_with_the_server_s_ca() {
    let w = hostssl_with("IP:127.0.0.1", "scram-sha-256").await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let ca = ca_of(&w);
    let summary = w
        .backup_through(
            &repo,
            &key,
            bound_and_verified(&w.cluster.url_for("odoo"), &ca),
        )
        .await
        .expect("backup with verify-full");
    let conn = checked(&w.cluster.url_for("odoo_verified"), "verify-full", &ca);
    restore_and_compare(&w, &repo, &summary.snapshot, conn, 2)
        .await
        .expect("restore with verify-full");
}

/// Against a CA that did not sign the server's certificate, `verify-ca` and `verify-full`
/// fail at the handshake (exit 3), naming the server and the CA file, before a backup
/// writes anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_refused_naming_the_server_and_the_file() {
    let w = hostssl_with("IP:127.0.0.1", "scram-sha-256").await;
    let stranger = ward_pgtemp::TestCa::create(&w.dir.path().join("stranger"), "stranger")
        .expect("another CA");
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    for mode in ["verify-ca", "verify-full"] {
        let ca = stranger.cert_file().display().to_string();
        let err = w
            .backup_through(&repo, &key, checked(&w.cluster.url_for("odoo"), mode, &ca))
            .await
            .expect_err("wrong CA");
        let text = database_error_naming_the_server(&w, &err);
        assert!(
            text.contains("not signed by the CA in") && text.contains(&ca) && text.contains(mode),
            "{text}"
        );
    }
    assert_no_snapshots(&repo).await;
}

/// `verify-full` checks the host name against the certificate's subjectAltName: a
/// certificate for `localhost` is refused at `127.0.0.1` (naming what it is for), and
/// admitted at `localhost`; `verify-ca` admits it at either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name() {
    let w = hostssl_with("DNS:localhost", "scram-sha-256").await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let ca = ca_of(&w);
    let url = w.cluster.url_for("odoo");
    let err = w
        .backup_through(&repo, &key, checked(&url, "verify-full", &ca))
        .await
        .expect_err("127.0.0.1 is not in the certificate");
    let text = database_error_naming_the_server(&w, &err);
    assert!(
        text.contains("does not name the host") && text.contains("localhost"),
        "{text}"
    );
    assert_no_snapshots(&repo).await;

    w.backup_through(&repo, &key, checked(&url, "verify-ca", &ca))
        .await
        .expect("verify-ca does not check the name");
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    w.backup_through(&repo, &key, checked(&by_name, "verify-full", &ca))
        .await
        .expect("verify-full at the name the certificate carries");
}

/// A CA file that is missing, not PEM, or holds no certificate, and a verify mode without
/// one, are bad input (exit 2) naming the file, refused before any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_ca_files_are_bad_input_naming_the_file() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let missing = w.dir.path().join("missing.crt");
    let garbled = w.dir.path().join("garbled.crt");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let empty = w.dir.path().join("empty.crt");
    std::fs::write(&empty, "").expect("write");
    for (file, why) in [
        (&missing, "does not exist"),
        (&garbled, "PEM"),
        (&empty, "no PEM certificate"),
    ] {
        let path = file.display().to_string();
        let db = checked(&w.cluster.url_for("odoo"), "verify-full", &path);
        let err = w
            .backup_through(&repo, &key, db)
            .await
            .expect_err("unusable CA file");
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2, "{text}");
        assert!(text.contains(&path) && text.contains(why), "{text}");
        assert!(!text.contains(w.cluster.password()), "{text}");
    }
    let err = w
        .backup_through(&repo, &key, with_sslmode(&w, "odoo", "verify-full"))
        .await
        .expect_err("no CA file");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("--db-ca-file"), "{err}");
    assert_no_snapshots(&repo).await;
}

/// A superuser whose password is stored as MD5 (so that pg_hba's `md5` really asks for
/// an MD5 answer rather than upgrading to SCRAM): its name and password.
fn md5_superuser(w: &World) -> (&'static str, &'static str) {
    w.cluster
        .psql("SET password_encryption = 'md5'; CREATE ROLE md5_admin SUPERUSER LOGIN PASSWORD 'md5-secret'")
        .expect("md5 role");
    ("md5_admin", "md5-secret")
}

/// `url` under `verify-full` against the CA file `ca`, with `channel_binding=require`.
fn bound_and_verified(url: &str, ca: &str) -> DbConnection {
    with_params(
        url,
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", ca),
            ("channel_binding", "require"),
        ],
    )
}

fn url_as(w: &World, user: &str, password: &str) -> String {
    format!(
        "postgres://{user}:{password}@127.0.0.1:{}/odoo",
        w.cluster.port()
    )
}

/// `channel_binding=require` refuses a server that asks for an MD5 or a cleartext
/// password (over TLS), naming the server, before the password is sent: a wrong password
/// gets the same refusal, not the server's "password authentication failed", so the
/// server never saw it. `prefer` logs in to the same server (the methods are real), and
/// `require` logs in where pg_hba says `scram-sha-256` (SCRAM-SHA-256-PLUS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_require_refuses_md5_and_cleartext_passwords() {
    let w = hostssl_with("IP:127.0.0.1", "md5").await;
    let (user, password) = md5_superuser(&w);
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let ca = ca_of(&w);
    for method in ["md5", "password"] {
        admit_over_tls_only(&w, method);
        for pw in [password, "not-the-password"] {
            let err = w
                .backup_through(&repo, &key, bound_and_verified(&url_as(&w, user, pw), &ca))
                .await
                .expect_err("no channel binding");
            let text = database_error_naming_the_server(&w, &err);
            assert!(
                text.contains("before sending the password")
                    && text.contains("channel_binding=require"),
                "{method}: {text}"
            );
            assert!(!text.contains(pw), "{text}");
        }
        let db = checked(&url_as(&w, user, password), "verify-full", &ca);
        w.backup_through(&repo, &key, db)
            .await
            .unwrap_or_else(|e| panic!("{method} with channel_binding=prefer: {e}"));
    }
    admit_over_tls_only(&w, "scram-sha-256");
    let db = bound_and_verified(&w.cluster.url_for("odoo"), &ca);
    w.backup_through(&repo, &key, db)
        .await
        .expect("SCRAM-SHA-256-PLUS");
}

/// `channel_binding=require` cannot hold without TLS: with `disable` it is bad input, and
/// where `prefer` falls back to plain text (no TLS on the server) the login is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_require_needs_tls() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let url = w.cluster.url_for("odoo");
    let db = with_params(
        &url,
        &[("sslmode", "disable"), ("channel_binding", "require")],
    );
    let err = w
        .backup_through(&repo, &key, db)
        .await
        .expect_err("disable cannot bind");
    assert_eq!(err.exit_code(), 2, "{err}");
    let db = with_params(
        &url,
        &[("sslmode", "prefer"), ("channel_binding", "require")],
    );
    let err = w
        .backup_through(&repo, &key, db)
        .await
        .expect_err("plain text cannot bind");
    let text = database_error_naming_the_server(&w, &err);
    assert!(text.contains("channel_binding=require"), "{text}");
    assert_no_snapshots(&repo).await;
}
