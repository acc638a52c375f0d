//! `ward backup run` with a standby, through the real binary against a real primary and
//! its streaming hot standby: `--standby-url` reads the snapshot there; a standby that is
//! down gives a warning and a snapshot read from the primary, or, with
//! `--require-standby`, a failure naming the standby; `--no-standby` reads the primary.

mod vault_support;

use vault_support::{World, json};
use ward_vault::fixture::OdooFixture;

fn small() -> OdooFixture {
    OdooFixture {
        attachments: 6,
        partners: 20,
        ..OdooFixture::default()
    }
}

#[test]
fn backup_run_reads_the_standby_url_and_falls_back_with_a_warning() {
    let w = World::new(small());
    let mut standby = w.cluster.start_standby().expect("standby");
    let primary_url = w.cluster.url_for("odoo");
    // No password in it: the primary's (from --db-url) is used, as for the same role.
    let standby_url = format!("postgres://postgres@127.0.0.1:{}/odoo", standby.port());
    let standby_server = format!("127.0.0.1:{}", standby.port());
    let primary_server = format!("127.0.0.1:{}", w.cluster.port());

    let mut args = w.backup_args(&primary_url);
    args.extend([
        "--standby-url",
        &standby_url,
        "--require-standby",
        "-o",
        "json",
    ]);
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 0, "backup from the standby: {out}{err}");
    let summary = json(&out);
    assert_eq!(summary["source"]["role"], "standby");
    assert_eq!(summary["source"]["server"], standby_server.as_str());
    assert!(summary.get("standbySkipped").is_none(), "{summary}");
    assert!(!err.contains("warning"), "{err}");

    let mut args = w.backup_args(&primary_url);
    args.extend(["--standby-url", &standby_url]);
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("source     standby {standby_server}")),
        "{out}"
    );

    // --no-standby reads the primary, and says nothing about the standby.
    let mut args = w.backup_args(&primary_url);
    args.extend(["--no-standby", "-o", "json"]);
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out)["source"]["role"], "primary");
    assert!(!err.contains("warning"), "{err}");

    standby.stop();
    let mut args = w.backup_args(&primary_url);
    args.extend(["--standby-url", &standby_url, "-o", "json"]);
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 0, "a stopped standby falls back: {out}{err}");
    let summary = json(&out);
    assert_eq!(summary["source"]["role"], "primary");
    assert_eq!(summary["source"]["server"], primary_server.as_str());
    assert_eq!(summary["standbySkipped"]["server"], standby_server.as_str());
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: the standby at"))
        .unwrap_or_else(|| panic!("no warning line: {err}"));
    assert!(warning.contains(&standby_server), "{warning}");
    assert!(warning.contains(&primary_server), "{warning}");
    assert!(
        !err.contains(w.cluster.password()),
        "the password leaked: {err}"
    );

    let mut args = w.backup_args(&primary_url);
    args.extend(["--standby-url", &standby_url, "--require-standby"]);
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 3, "a required standby that is down fails: {out}{err}");
    assert!(
        err.contains(&format!("the standby at {standby_server}")),
        "{err}"
    );
    assert!(err.contains("--require-standby"), "{err}");
    assert!(
        !err.contains(w.cluster.password()),
        "the password leaked: {err}"
    );

    // Four snapshots committed, none by the failed run.
    let (code, out, err) = w.ward(&["backup", "list", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out).as_array().map(Vec::len), Some(4), "{out}");
}

/// With --db-url, there is no standby to require unless --standby-url names one.
#[test]
fn require_standby_without_one_is_bad_input() {
    let w = World::new(small());
    let url = w.cluster.url_for("odoo");
    let mut args = w.backup_args(&url);
    args.push("--require-standby");
    let (code, out, err) = w.ward(&args);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no standby to read"), "{err}");
    assert!(err.contains("--standby-url"), "{err}");
    let (code, _, err) = w.ward(&[
        "backup",
        "run",
        "billing/prod",
        "--no-standby",
        "--require-standby",
    ]);
    assert_eq!(code, 2, "{err}");
}
