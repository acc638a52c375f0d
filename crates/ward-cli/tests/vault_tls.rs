//! The PHI default end to end: billing holds PHI, so without `database.sslmode` in the
//! estate `ward backup run` and `ward restore` connect with `sslmode=verify-full`, to a
//! real PostgreSQL serving a certificate from its test CA under a `hostssl`-only pg_hba.

mod vault_support;

use vault_support::*;
use ward_vault::fixture::OdooFixture;

/// A world whose estate is the example's own (no `sslmode: prefer`), whose server serves
/// TLS with a certificate for 127.0.0.1 and admits TCP logins over TLS only; and an empty
/// home folder, so that libpq's default CA file is not there.
fn verified_world() -> (World, std::path::PathBuf) {
    let w = World::new(OdooFixture {
        attachments: 8,
        partners: 40,
        ..OdooFixture::default()
    });
    w.edit(
        "workloads/billing.yaml",
        &format!("{PROD_DATABASE}        sslmode: prefer\n"),
        PROD_DATABASE,
    );
    w.cluster.enable_tls().expect("TLS on the server");
    w.cluster
        .set_hba(&[
            "hostssl all all all scram-sha-256",
            "host all all all reject",
        ])
        .expect("pg_hba");
    let home = w.tmp.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    (w, home)
}

/// Without a CA anywhere, the backup is refused as bad input (exit 2) that says the mode,
/// where it came from and the file libpq would have read; with libpq's default file in
/// place it runs; `--db-ca-file` with a stranger's CA is refused at the handshake (exit 3,
/// naming the server and the file); and a restore with `--db-ca-file` (its `--db-url`
/// names no sslmode either) restores through a parallel `pg_restore`, which can verify
/// the server only with the `PGSSLROOTCERT` Ward gives it: the home folder holds no CA by
/// then.
#[test]
fn phi_environments_verify_the_server_by_default() {
    let (w, home) = verified_world();
    let url = w.cluster.url_for("odoo");
    let backup = |extra: &[&str]| {
        let mut args = w.backup_args(&url);
        args.extend(extra);
        args.extend(["-o", "json"]);
        run(w.command(&args).env("HOME", &home))
    };
    let (code, out, err) = backup(&[]);
    assert_eq!(code, 2, "{out}{err}");
    let root_crt = home.join(".postgresql/root.crt");
    let text = format!("{out}{err}");
    for needle in [
        "sslmode=verify-full",
        "billing/prod",
        root_crt.to_str().expect("utf8"),
        "--db-ca-file",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(!text.contains(w.cluster.password()), "{text}");

    std::fs::create_dir_all(root_crt.parent().expect("parent")).expect("folder");
    std::fs::copy(w.cluster.ca_file(), &root_crt).expect("libpq's default CA file");
    let (code, out, err) = backup(&[]);
    assert_eq!(code, 0, "with ~/.postgresql/root.crt: {out}{err}");
    let snapshot = json(&out)["snapshot"]["id"]
        .as_str()
        .expect("snapshot id")
        .to_string();
    std::fs::remove_file(&root_crt).expect("remove");

    let stranger =
        ward_pgtemp::TestCa::create(&w.tmp.path().join("stranger"), "stranger").expect("CA");
    let stranger_file = stranger.cert_file().to_str().expect("utf8");
    let (code, out, err) = backup(&["--db-ca-file", stranger_file]);
    assert_eq!(code, 3, "{out}{err}");
    let text = format!("{out}{err}");
    let server = format!("127.0.0.1:{}", w.cluster.port());
    assert!(
        text.contains(&server) && text.contains(stranger_file) && text.contains("not signed"),
        "{text}"
    );

    // The flag and the URL may not disagree.
    let conflicting = format!("{url}?sslmode=require");
    let mut args = w.backup_args(&conflicting);
    args.extend(["--db-sslmode", "verify-full"]);
    let (code, out, err) = run(w.command(&args).env("HOME", &home));
    assert_eq!(code, 2, "{out}{err}");
    assert!(format!("{out}{err}").contains("disagree"), "{out}{err}");

    let data = w.tmp.path().join("restored-data");
    let ca = w.cluster.ca_file();
    let ca = ca.to_str().expect("utf8");
    let url = w.cluster.url();
    let (code, out, err) = run(w
        .command(&[
            "restore",
            &snapshot,
            "--to-db",
            "odoo_verified",
            "--filestore",
            data.to_str().expect("utf8"),
            "--db-url",
            &url,
            "--db-ca-file",
            ca,
            "--jobs",
            "2",
        ])
        .env("HOME", &home));
    assert_eq!(code, 0, "restore with verify-full: {out}{err}");
    assert_eq!(w.counts("odoo"), w.counts("odoo_verified"));
    // The refusals and the runs are in the ledger, whose chain still verifies.
    let (code, out, err) = w.ward(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}
