//! The vault's own connection negotiates TLS as libpq does, against a real PostgreSQL
//! whose pg_hba admits TCP logins over TLS only (as the rendered tenants' lines do), and
//! against one without TLS at all; verify-ca/verify-full against the server's test CA,
//! and channel_binding=require against pg_hba's md5 and password methods.

mod common;

use std::path::Path;

use common::{World, assert_no_snapshots, progress, small};
use ward_vault::{
    ChannelBinding, DbConnection, RestoreRequest, SnapshotFilter, SslMode, VaultError, list,
    restore,
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

/// A world whose server's certificate is issued by its test CA for `san`, with pg_hba
/// admitting `method` over TLS only.
async fn hostssl_with(san: &str, method: &str) -> World {
    let w = World::new(small()).await;
    w.cluster.enable_tls_for(san).expect("TLS on the server");
    let line = format!("hostssl all all all {method}");
    w.cluster
        .set_hba(&[line.as_str(), "host all all all reject"])
        .expect("pg_hba");
    w
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
    let mut target = w.target();
    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", &ca),
            ("channel_binding", "require"),
        ],
    );
    let summary = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect("backup with verify-full");
    let conn = with_params(
        &w.cluster.url_for("odoo_verified"),
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    let mut req = RestoreRequest::new(conn, w.dir.path().join("restore/verified"));
    req.pg_tools = ward_vault::PgTools::in_dir(w.cluster.bindir());
    req.jobs = 2;
    let restored = restore(
        &repo,
        &summary.snapshot,
        &w.trusted(),
        &w.identities(),
        &req,
        progress(),
    )
    .await
    .expect("restore with verify-full");
    assert!(
        restored.is_consistent(),
        "{:?}",
        restored.row_count_mismatches
    );
    let q = "SELECT (SELECT count(*) FROM res_partner), (SELECT count(*) FROM ir_attachment)";
    assert_eq!(w.psql("odoo", q), w.psql("odoo_verified", q));
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
        let mut target = w.target();
        let ca = stranger.cert_file().display().to_string();
        target.db = with_params(
            &w.cluster.url_for("odoo"),
            &[("sslmode", mode), ("sslrootcert", &ca)],
        );
        let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
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
    let mut target = w.target();
    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect_err("127.0.0.1 is not in the certificate");
    let text = database_error_naming_the_server(&w, &err);
    assert!(
        text.contains("does not name the host") && text.contains("localhost"),
        "{text}"
    );
    assert_no_snapshots(&repo).await;

    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[("sslmode", "verify-ca"), ("sslrootcert", &ca)],
    );
    ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect("verify-ca does not check the name");
    let by_name = w
        .cluster
        .url_for("odoo")
        .replace("@127.0.0.1:", "@localhost:");
    target.db = with_params(
        &by_name,
        &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
    );
    ward_vault::backup(&repo, &target, &key, &w.options(), progress())
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
        let mut target = w.target();
        let path = file.display().to_string();
        target.db = with_params(
            &w.cluster.url_for("odoo"),
            &[("sslmode", "verify-full"), ("sslrootcert", &path)],
        );
        let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
            .await
            .expect_err("unusable CA file");
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2, "{text}");
        assert!(text.contains(&path) && text.contains(why), "{text}");
        assert!(!text.contains(w.cluster.password()), "{text}");
    }
    let mut target = w.target();
    target.db = with_sslmode(&w, "odoo", "verify-full");
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
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
        let line = format!("hostssl all all all {method}");
        w.cluster
            .set_hba(&[line.as_str(), "host all all all reject"])
            .expect("pg_hba");
        for pw in [password, "not-the-password"] {
            let mut target = w.target();
            target.db = with_params(
                &url_as(&w, user, pw),
                &[
                    ("sslmode", "verify-full"),
                    ("sslrootcert", &ca),
                    ("channel_binding", "require"),
                ],
            );
            let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
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
        let mut target = w.target();
        target.db = with_params(
            &url_as(&w, user, password),
            &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
        );
        ward_vault::backup(&repo, &target, &key, &w.options(), progress())
            .await
            .unwrap_or_else(|e| panic!("{method} with channel_binding=prefer: {e}"));
    }
    w.cluster
        .set_hba(&[
            "hostssl all all all scram-sha-256",
            "host all all all reject",
        ])
        .expect("pg_hba");
    let mut target = w.target();
    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", &ca),
            ("channel_binding", "require"),
        ],
    );
    ward_vault::backup(&repo, &target, &key, &w.options(), progress())
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
    let mut target = w.target();
    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[("sslmode", "disable"), ("channel_binding", "require")],
    );
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect_err("disable cannot bind");
    assert_eq!(err.exit_code(), 2, "{err}");
    target.db = with_params(
        &w.cluster.url_for("odoo"),
        &[("sslmode", "prefer"), ("channel_binding", "require")],
    );
    let err = ward_vault::backup(&repo, &target, &key, &w.options(), progress())
        .await
        .expect_err("plain text cannot bind");
    let text = database_error_naming_the_server(&w, &err);
    assert!(text.contains("channel_binding=require"), "{text}");
    assert_no_snapshots(&repo).await;
}
