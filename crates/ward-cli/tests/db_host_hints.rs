//! A database host that does not resolve from here: the estate's in-cluster service name,
//! run from a laptop, gets the hint to use `--db-url`; a `--db-url` host that does not
//! resolve is pointed back at the URL instead. No database is needed: resolution fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(estate: &Path, args: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("--estate")
        .arg(estate)
        .args(args)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env_remove("WARD_PUSHGATEWAY")
        .env_remove("PGPASSWORD")
        // billing/prod's own store is S3; hand-run backups here go to the local one.
        .env("WARD_OBJECT_STORE", "vault")
        .env("WARD_ACTOR", "alice")
        .env("NO_COLOR", "1")
        .output()
        .expect("run ward");
    // One line: the text report wraps long lines and marks continuations with `│`.
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    )
    .lines()
    .map(|l| l.trim().trim_start_matches('│').trim())
    .collect::<Vec<_>>()
    .join(" ");
    (status.code().unwrap_or(-1), said)
}

/// The example estate with billing/prod's database at its in-cluster service address.
fn estate(tmp: &tempfile::TempDir) -> PathBuf {
    let dir = tmp.path().join("care");
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .arg("init")
        .arg(&dir)
        .args(["--example", "healthcare", "--actor", "alice"])
        .env_remove("WARD_STATE")
        .output()
        .expect("run ward init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&path).expect("test setup");
    let from = "      database:\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n";
    assert!(text.contains(from), "{text}");
    let to = "      database:\n        host: billing-rw.care-prod.svc\n        passwordRef: { store: hospital-vault, key: odoo/billing/prod, property: db_password }\n";
    std::fs::write(&path, text.replace(from, to)).expect("test setup");
    dir
}

#[test]
fn an_in_cluster_host_run_from_outside_hints_at_db_url() {
    let tmp = tempfile::tempdir().expect("test setup");
    let dir = estate(&tmp);
    let filestore = tmp.path().join("filestore");
    std::fs::create_dir_all(&filestore).expect("test setup");
    let filestore = filestore.to_str().expect("test setup");

    // `--db-sslmode require`: the example demands a CA file for PHI, which is beside the point.
    let (code, said) = ward(
        &dir,
        &[
            "backup",
            "run",
            "billing/prod",
            "--filestore",
            filestore,
            "--db-sslmode",
            "require",
        ],
    );
    assert_eq!(code, 3, "{said}");
    assert!(
        said.contains("billing-rw.care-prod.svc does not resolve from here")
            && said.contains("this is the in-cluster address; use --db-url"),
        "{said}"
    );

    let (code, said) = ward(
        &dir,
        &[
            "backup",
            "run",
            "billing/prod",
            "--filestore",
            filestore,
            "--db-url",
            "postgres://billing@billing-rw.care-prod.svc.cluster.local:5432/billing?sslmode=require",
        ],
    );
    assert_eq!(code, 3, "{said}");
    assert!(
        said.contains("check the host in the --db-url") && !said.contains("in-cluster address"),
        "{said}"
    );
}
