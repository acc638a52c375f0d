//! End-to-end tests of `ward backup` and `ward restore` through the real binary, against a
//! real throwaway PostgreSQL holding an Odoo-shaped database and a real filestore.
//!
//! They cover the README's backup-and-restore job on the example estate, the refusals
//! (`--replace`, a wrong key), the ledger, and SIGKILL at random points of `ward backup run`.

mod vault_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use vault_support::{World, files_under, json, rt, run};
use ward_vault::fixture::{self, OdooFixture, Xorshift};
#[test]
fn init_backup_list_verify_restore_and_the_ledger() {
    let w = World::new(OdooFixture::default());
    let state = w.state();

    // init generated the identities (0600) and put their recipients in the committed estate.
    use std::os::unix::fs::PermissionsExt;
    for name in ["bob.age", "break-glass.age"] {
        let meta = std::fs::metadata(state.join("keys").join(name)).expect("identity");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
    }
    let team = std::fs::read_to_string(w.estate.join("teams/platform.yaml")).expect("team");
    assert!(team.contains("        age: age1"), "{team}");
    let platform = std::fs::read_to_string(w.estate.join("platform.yaml")).expect("platform");
    assert!(platform.contains("breakGlassRecipient: age1"), "{platform}");
    let (code, out, err) = w.ward(&["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("-dirty"), "the keys are committed: {out}");

    // backup run
    let (code, out, err) = w.backup();
    assert_eq!(code, 0, "backup: {out}{err}");
    let summary = json(&out);
    let snapshot = summary["snapshot"].clone();
    let id = snapshot["id"].as_str().expect("id").to_string();
    assert_eq!(snapshot["tenant"], "st-marys");
    assert_eq!(
        summary["blobsUploaded"].as_u64(),
        Some(w.fixture.store_fnames.len() as u64)
    );
    assert!(summary["newBytes"].as_u64().unwrap_or(0) > 0);
    for phase in ["dumpSeconds", "filestoreSeconds", "manifestSeconds"] {
        assert!(summary["phases"][phase].is_number(), "{phase}");
    }
    // A second backup reuses every blob.
    let (code, out, err) = w.backup();
    assert_eq!(code, 0, "{err}");
    let second = json(&out);
    assert_eq!(second["blobsUploaded"], 0);
    assert_eq!(
        second["blobsReused"].as_u64(),
        Some(w.fixture.store_fnames.len() as u64)
    );
    let (code, out, _) = w.ward(&[
        "backup",
        "run",
        "billing/prod",
        "--db-url",
        &w.cluster.url_for("odoo"),
        "--filestore",
        w.filestore.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0);
    for needle in ["committed", "new bytes", "reused", "throughput"] {
        assert!(out.contains(needle), "text summary lacks {needle}: {out}");
    }

    // list works without any identity, and reveals no content hash.
    let hidden = state.join("keys/bob.age.hidden");
    std::fs::rename(state.join("keys/bob.age"), &hidden).expect("hide");
    let (code, out, err) = w.ward(&["backup", "list", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let listed = json(&out);
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert_eq!(listed[0]["id"].as_str(), Some(id.as_str()));
    // Each is signed with the key `ward init` pinned for billing/prod, and says so.
    for row in listed.as_array().expect("rows") {
        assert_eq!(row["verified"], true, "{row}");
        assert!(row.get("unverified").is_none(), "{row}");
    }
    for f in &w.fixture.store_fnames {
        let sha = f.rsplit('/').next().expect("sha");
        assert!(!out.contains(sha), "list reveals {sha}");
    }
    let (code, out, _) = w.ward(&["backup", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&id) && out.contains("billing/prod"), "{out}");
    assert!(
        out.contains("VERIFIED") && !out.contains("NOT VERIFIED"),
        "{out}"
    );
    // verify without --read-data needs no key either; with it, an identity is required.
    let (code, out, err) = w.ward(&["backup", "verify", &id]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK"), "{out}");
    let (code, _, err) = w.ward(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 2, "no identity anywhere: {err}");
    assert!(err.contains("identity"), "{err}");
    std::fs::rename(&hidden, state.join("keys/bob.age")).expect("unhide");

    // verify --read-data with the state folder's DBA identity.
    let (code, out, err) = w.ward(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("every byte read"), "{out}");

    // restore into a new database; the break-glass identity works too.
    let data = w.tmp.path().join("restored-data");
    let data_s = data.to_str().expect("utf8");
    let restore = |to_db: &str, extra: &[&str]| {
        let mut args = vec![
            "restore",
            &id,
            "--to-db",
            to_db,
            "--filestore",
            data_s,
            "--db-url",
        ];
        let url = w.cluster.url();
        let mut owned: Vec<String> = args.drain(..).map(String::from).collect();
        owned.push(url);
        owned.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        w.ward(&refs)
    };
    let (code, out, err) = restore("restored", &[]);
    assert_eq!(code, 0, "restore: {out}{err}");
    assert!(out.contains("match the manifest"), "{out}");
    assert_eq!(w.counts("odoo"), w.counts("restored"));
    let modules = "SELECT string_agg(name || ' ' || latest_version, ',' ORDER BY name) FROM ir_module_module WHERE state = 'installed'";
    assert_eq!(w.psql("odoo", modules), w.psql("restored", modules));
    let restored_fs = data.join("filestore/restored");
    // Beside the blobs, only Ward's marker that it restored this folder.
    let mut files = files_under(&restored_fs);
    assert_eq!(files.first().map(String::as_str), Some(".ward-restored"));
    files.remove(0);
    assert_eq!(files, w.fixture.store_fnames);
    for f in &files {
        let bytes = std::fs::read(restored_fs.join(f)).expect("blob");
        let sha = hex::encode(Sha1::digest(&bytes));
        assert!(f.ends_with(&sha), "{f} hashes to {sha}");
    }

    // An existing database is refused without --replace (exit 2), replaced with it.
    let (code, _, err) = restore("restored", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("already exists") && err.contains("--replace"),
        "{err}"
    );
    let (code, out, err) = restore("restored", &["--replace", "--jobs", "2"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("replacing"), "{out}");
    let break_glass = state.join("keys/break-glass.age");
    let (code, out, err) = restore(
        "by_break_glass",
        &["--identity", break_glass.to_str().expect("utf8")],
    );
    // The filestore folder differs per database, so this one is new.
    assert_eq!(code, 0, "{out}{err}");

    // A wrong key: exit 3, a clear message, and no database left behind.
    let stranger = w.tmp.path().join("stranger.age");
    ward_vault::generate_identity_file(&stranger).expect("identity");
    let (code, out, err) = run(w
        .command(&[
            "restore",
            &id,
            "--to-db",
            "by_stranger",
            "--filestore",
            data_s,
            "--db-url",
            &w.cluster.url(),
        ])
        .env("WARD_IDENTITY", &stranger));
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("not one of the recipients"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    assert_eq!(
        w.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'by_stranger'"
        )
        .trim(),
        "0"
    );

    // A flipped byte in a pack (its middle: an object, never the padding at its end, which
    // is at most 12%) is named by verify --read-data, by the object it falls in (exit 1).
    // The largest pack is the first backup's, all of whose objects that snapshot reads; the
    // later backups' packs hold only their new chunks.
    let vault = state.join("vault");
    let pack = files_under(&vault)
        .into_iter()
        .filter(|f| f.contains("/packs/") && !f.ends_with(".index"))
        .max_by_key(|f| std::fs::metadata(vault.join(f)).map_or(0, |m| m.len()))
        .expect("a pack");
    let path = vault.join(&pack);
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let (code, out, err) = w.ward(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("BAD tenants/st-marys/blobs/"), "{out}");

    // prune --dry-run keeps everything of a tier-1 environment.
    let (code, out, err) = w.ward(&["backup", "prune", "billing/prod", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("kept 3"), "{out}");

    // Every command is in the ledger, failures included, and the ledger is intact.
    let (code, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    assert_eq!(code, 0);
    let log = json(&out);
    let entries = log.as_array().expect("entries");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["result"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for wanted in [
        ("init", "ok"),
        ("backup.run", "ok"),
        ("backup.verify", "ok"),
        ("backup.verify", "failed"),
        ("backup.verify", "findings"),
        ("restore", "ok"),
        ("restore", "failed"),
        ("backup.prune", "ok"),
    ] {
        assert!(actions.contains(&wanted), "{wanted:?} not in {actions:?}");
    }
    let first_backup = entries
        .iter()
        .find(|e| e["action"] == "backup.run")
        .expect("backup entry");
    assert_eq!(first_backup["actor"], "bob");
    assert!(
        first_backup["details"]["snapshot"]
            .as_str()
            .is_some_and(|s| s.ends_with(&id))
    );
    assert!(first_backup["details"]["newBytes"].as_u64().is_some());
    let replaced = entries
        .iter()
        .find(|e| e["action"] == "restore" && e["details"]["replaced"] == true)
        .expect("the replace is recorded");
    assert_eq!(replaced["result"], "ok");
    let wrong_key = entries
        .iter()
        .find(|e| e["action"] == "restore" && e["details"]["toDb"] == "by_stranger")
        .expect("the failed restore is recorded");
    assert!(
        wrong_key["details"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("recipients")),
        "{wrong_key}"
    );
    let text = std::fs::read_to_string(state.join("ledger.jsonl")).expect("ledger");
    assert!(
        !text.contains(w.cluster.password()),
        "no password in the ledger"
    );
    let (code, out, err) = w.ward(&["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn failures_are_clear_exit_3_and_recorded() {
    let w = World::new(OdooFixture {
        attachments: 10,
        ..OdooFixture::default()
    });
    // Wrong password.
    let url = w
        .cluster
        .url_for("odoo")
        .replace(w.cluster.password(), "not-the-password");
    let (code, _, err) = w.ward(&[
        "backup",
        "run",
        "billing/prod",
        "--db-url",
        &url,
        "--filestore",
        w.filestore.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("refused user"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    // Unreachable database (the estate's own endpoint does not resolve here).
    let (code, _, err) = w.ward(&[
        "backup",
        "run",
        "billing/prod",
        "--db-url",
        "postgres://odoo@127.0.0.1:1/odoo",
        "--filestore",
        w.filestore.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot reach the database"), "{err}");
    // A referenced blob missing: refused, named; accepted with --allow-missing-blobs.
    let gone = &w.fixture.store_fnames[0];
    std::fs::remove_file(w.filestore.join(gone)).expect("remove");
    let (code, out, _) = w.backup();
    assert_eq!(code, 3, "{out}");
    let failure = json(&out);
    assert_eq!(failure["error"], "operational");
    assert!(
        failure["message"]
            .as_str()
            .is_some_and(|m| m.contains(gone.as_str()))
            && failure["hint"]
                .as_str()
                .is_some_and(|h| h.contains("--allow-missing-blobs")),
        "{out}"
    );
    let (code, out, err) = w.ward(&[
        "backup",
        "run",
        "billing/prod",
        "--db-url",
        &w.cluster.url_for("odoo"),
        "--filestore",
        w.filestore.to_str().expect("utf8"),
        "--allow-missing-blobs",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(gone.as_str()),
        "the missing blob is named: {err}"
    );
    // Unknown environment and snapshot: exit 2.
    let (code, _, err) = w.ward(&["backup", "run", "billing/production"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = w.ward(&["backup", "verify", "20990101T000000Z-00000000"]);
    assert_eq!(code, 2, "{err}");
    let (_, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    let log = json(&out);
    let runs: Vec<&serde_json::Value> = log
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "backup.run")
        .collect();
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(runs[3]["result"], "findings");
    assert!(
        runs[2]["details"]["error"]
            .as_str()
            .is_some_and(|e| e.contains(gone.as_str()))
    );
    // Nothing half-written exists as a snapshot.
    let (_, out, _) = w.ward(&["backup", "list", "-o", "json"]);
    assert_eq!(json(&out).as_array().map(Vec::len), Some(1));
}

/// Without --db-url, the estate names the endpoint and the password's secret reference;
/// the password is read from the secrets folder, as a mounted Kubernetes Secret lays it out.
#[test]
fn the_password_comes_from_the_estate_secret_reference() {
    let w = World::new(OdooFixture {
        attachments: 5,
        ..OdooFixture::default()
    });
    w.endpoint_here(Some(w.cluster.user()));
    let fs = w.filestore.to_str().expect("utf8");
    let backup = || w.ward(&["backup", "run", "billing/prod", "--filestore", fs]);
    let secret = w
        .state()
        .join("secrets/hospital-vault/odoo/billing/prod/db_password");

    // No secret file: the server refuses, and the hint says where the password belongs.
    let (code, _, err) = backup();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("refused user"), "{err}");
    assert!(
        err.contains("hospital-vault:odoo/billing/prod#db_password") && err.contains("not at"),
        "{err}"
    );
    // A wrong password in the file: the hint names the secret it came from, not its value.
    std::fs::create_dir_all(secret.parent().expect("parent")).expect("mkdir");
    std::fs::write(&secret, "not-the-password\n").expect("write");
    let (code, _, err) = backup();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("the password came from the secret"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    // The right one: the backup runs with nothing on the command line but the filestore.
    std::fs::write(&secret, format!("{}\n", w.cluster.password())).expect("write");
    let (code, out, err) = backup();
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(w.cluster.password()) && !err.contains(w.cluster.password()));
    // --secrets-dir points elsewhere: the file there is what counts.
    let other = w.tmp.path().join("mounted");
    let (code, _, err) = w.ward(&[
        "--secrets-dir",
        other.to_str().expect("utf8"),
        "backup",
        "run",
        "billing/prod",
        "--filestore",
        fs,
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(other.to_str().expect("utf8")), "{err}");
    // The audit log never holds the password either.
    let ledger = std::fs::read_to_string(w.state().join("ledger.jsonl")).expect("ledger");
    assert!(!ledger.contains(w.cluster.password()));
}

/// A drill restores the newest snapshot into a scratch database, checks it, times it
/// against the RTO, holds its age to the RPO, drops it and records the evidence.
#[test]
fn drill_restores_checks_times_and_drops_the_scratch_copy() {
    let w = World::new(OdooFixture {
        attachments: 12,
        ..OdooFixture::default()
    });
    let (code, _, err) = w.ward(&["drill", "billing/prod", "--db-url", &w.cluster.url()]);
    assert_eq!(code, 3, "nothing to drill yet: {err}");
    assert!(err.contains("no verified snapshot"), "{err}");
    let (code, out, err) = w.backup();
    assert_eq!(code, 0, "{out}{err}");
    let id = json(&out)["snapshot"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let scratch = w.tmp.path().join("drills");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let pushgateway = LocalServer::pushgateway();
    let pushed = |metric: &str| {
        let page = pushgateway.http("GET /metrics HTTP/1.1");
        let prefix =
            format!("{metric}{{environment=\"billing/prod\",instance=\"\",job=\"ward_drill\"}} ");
        page.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|v| v.parse::<f64>().expect("number"))
    };
    let drill = |extra: &[&str]| {
        let mut args = vec![
            "drill",
            "billing/prod",
            "--db-url",
            w.cluster.url().leak(),
            "--scratch-dir",
            scratch.to_str().expect("utf8"),
            "--pushgateway",
            pushgateway.url().leak(),
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        w.ward(&args)
    };
    let scratch_databases = || {
        w.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'ward_drill_%'",
        )
        .trim()
        .to_string()
    };

    let (code, out, err) = drill(&[]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report["snapshot"]["id"], id.as_str());
    assert!(
        report["failures"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
    assert!(report["rtoSeconds"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(
        report["rtoTargetSeconds"].as_f64(),
        Some(3600.0),
        "billing's rto: 1h"
    );
    assert_eq!(
        report["rpoTargetSeconds"].as_f64(),
        Some(900.0),
        "billing's rpo: 15m"
    );
    assert_eq!(
        report["restore"]["blobsRestored"].as_u64(),
        Some(w.fixture.store_fnames.len() as u64)
    );
    assert_eq!(scratch_databases(), "0", "the scratch database is dropped");
    assert_eq!(
        files_under(&scratch),
        Vec::<String>::new(),
        "the scratch folder too"
    );
    // The Pushgateway holds the series the rendered RestoreDrillOverdue alert reads.
    assert_eq!(pushed("ward_drill_passed"), Some(1.0));
    let success = pushed("ward_drill_last_success_timestamp_seconds").expect("pushed");
    assert!(success > 1.7e9, "{success}");
    assert!(pushed("ward_drill_rto_seconds").is_some_and(|s| s > 0.0));

    // --keep leaves the restored copy, equal to the source, for inspection.
    let (code, out, err) = drill(&["--keep"]);
    assert_eq!(code, 0, "{out}{err}");
    let kept = json(&out);
    let db = kept["scratchDatabase"].as_str().expect("name").to_string();
    assert_eq!(w.counts(&db), w.counts("odoo"));
    w.psql("postgres", &format!("DROP DATABASE {db}"));

    // An objective the snapshot cannot meet: the drill fails (exit 1) and says why.
    w.edit("workloads/billing.yaml", "rpo: 15m", "rpo: 1s");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let last_success = pushed("ward_drill_last_success_timestamp_seconds");
    let (code, out, err) = drill(&[]);
    assert_eq!(code, 1, "{out}{err}");
    let failed = json(&out);
    assert!(
        failed["failures"][0]
            .as_str()
            .is_some_and(|f| f.contains("over the RPO of 1s")),
        "{failed}"
    );
    assert_eq!(scratch_databases(), "0");
    // A failed drill says so, and leaves the last success where it was.
    assert_eq!(pushed("ward_drill_passed"), Some(0.0));
    assert_eq!(
        pushed("ward_drill_last_success_timestamp_seconds"),
        last_success
    );

    // A wrong key: a clear error, exit 3, nothing left behind.
    let stranger = w.tmp.path().join("stranger.age");
    ward_vault::generate_identity_file(&stranger).expect("identity");
    let (code, out, err) = drill(&["--identity", stranger.to_str().expect("utf8")]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        json(&out)["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot decrypt")),
        "{out}"
    );
    assert_eq!(scratch_databases(), "0");

    // The ledger holds every drill with its evidence.
    let (_, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    let drills: Vec<serde_json::Value> = json(&out)
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "drill")
        .cloned()
        .collect();
    let results: Vec<&str> = drills.iter().filter_map(|e| e["result"].as_str()).collect();
    assert_eq!(
        results,
        ["failed", "ok", "ok", "findings", "failed"],
        "{drills:?}"
    );
    assert!(drills[1]["details"]["rtoSeconds"].is_number());
    assert_eq!(drills[1]["details"]["passed"], true);
}

/// Without --db-url a drill logs in to the environment's drill server as the drill role
/// the renderer gives every drill cluster: created here with exactly the attributes the
/// rendered managed role declares, under the pg_hba lines rendered for the major this
/// server runs, with its password at the file the rendered drill job mounts it at. It
/// drills; a missing or wrong password is exit 3 naming the file, never the value; and
/// the role can make scratch databases but cannot connect to the environment's own. The
/// server serves TLS and pg_hba admits the role over TLS only, so the drill passing shows
/// that `ward` and `pg_restore` both negotiate it.
#[test]
fn the_drill_logs_in_as_the_rendered_drill_role() {
    let w = World::new(OdooFixture {
        attachments: 5,
        ..OdooFixture::default()
    });
    w.endpoint_here(None);
    // The pg_hba form depends on the server's major: render for the one running here.
    let version: u32 = w
        .psql("postgres", "SHOW server_version_num")
        .trim()
        .parse()
        .expect("a version number");
    w.edit(
        "platform.yaml",
        "postgresql:17.5@sha256:",
        &format!("postgresql:{}.0@sha256:", version / 10_000),
    );
    let (code, out, err) = w.backup();
    assert_eq!(code, 0, "{out}{err}");

    let estate = ward_estate::load(&w.estate).expect("the estate loads");
    let env = estate.environment("billing/prod").expect("billing/prod");
    // The drill role lives on the stack's drill cluster, which is rendered when the
    // environment does not declare its own server: rendered so, with the same database
    // name, for the role and its pg_hba lines.
    let declared_host = format!(
        "        host: 127.0.0.1\n        port: {}\n",
        w.cluster.port()
    );
    w.edit("workloads/billing.yaml", &declared_host, "");
    let undeclared = ward_estate::load(&w.estate).expect("the estate loads");
    w.edit(
        "workloads/billing.yaml",
        "      database:\n        name: odoo\n",
        &format!("      database:\n{declared_host}        name: odoo\n"),
    );
    let tree = ward_render::render_kubernetes(&undeclared).expect("the estate renders");
    let rendered = |suffix: &str| {
        tree.files
            .iter()
            .find(|(path, _)| path.ends_with(suffix))
            .and_then(|(_, f)| f.value.clone())
            .unwrap_or_else(|| panic!("nothing rendered at *{suffix}"))
    };
    // The stack's drill cluster: the production one has no drill role.
    let cluster = rendered("/billing-prod/cluster-billing-prod-db-drill.yaml");
    let role = cluster["spec"]["managed"]["roles"]
        .as_array()
        .and_then(|roles| roles.iter().find(|r| r["name"] == "ward-drill"))
        .expect("the drill role")
        .clone();
    let attributes: Vec<&str> = [
        ("login", "LOGIN", "NOLOGIN"),
        ("createdb", "CREATEDB", "NOCREATEDB"),
        ("superuser", "SUPERUSER", "NOSUPERUSER"),
        ("createrole", "CREATEROLE", "NOCREATEROLE"),
        ("inherit", "INHERIT", "NOINHERIT"),
    ]
    .iter()
    .map(|(field, yes, no)| if role[*field] == true { *yes } else { *no })
    .collect();
    assert_eq!(
        attributes,
        [
            "LOGIN",
            "CREATEDB",
            "NOSUPERUSER",
            "NOCREATEROLE",
            "INHERIT"
        ]
    );
    let password = hex::encode(Sha1::digest(format!("drill {}", w.cluster.password())));
    w.psql(
        "postgres",
        &format!(
            "CREATE ROLE \"ward-drill\" {} PASSWORD '{password}'",
            attributes.join(" ")
        ),
    );
    // The rendered lines between what CloudNativePG puts around them: its own local
    // access first (trust here, for this test's psql) and its default last. The drill's
    // lines are `hostssl`: the server serves TLS, as CloudNativePG's always do.
    let mut lines: Vec<&str> = cluster["spec"]["postgresql"]["pg_hba"]
        .as_array()
        .expect("pg_hba")
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    lines.push("host all all all scram-sha-256");
    w.cluster.enable_tls().expect("TLS on the server");
    w.cluster
        .set_hba(&lines)
        .unwrap_or_else(|e| panic!("{e}: {lines:#?}"));
    let as_drill_with = |sslmode: &str, db: &str, sql: &str| {
        run(&mut w
            .cluster
            .psql_tcp("ward-drill", &password, sslmode, db, sql))
    };
    let as_drill = |db: &str, sql: &str| as_drill_with("require", db, sql);
    // Without TLS the role is refused everywhere, by its own lines.
    for db in ["postgres", "ward_drill_0123456789ab", "odoo"] {
        let (code, _, err) = as_drill_with("disable", db, "SELECT 1");
        assert!(
            code != 0
                && err.contains("pg_hba.conf rejects connection")
                && err.contains("no encryption"),
            "{db}: {err}"
        );
    }
    // set_hba returns once the new rules are in force: the environment's database refuses
    // the role even over TLS.
    let (code, _, err) = as_drill("odoo", "SELECT 1");
    assert!(
        code != 0 && err.contains("pg_hba.conf rejects connection"),
        "still admitted to odoo: {err}"
    );
    let (code, _, err) = as_drill("template1", "SELECT 1");
    assert!(
        code != 0 && err.contains("pg_hba.conf rejects connection"),
        "{err}"
    );
    // What a drill needs, and only as scratch databases: create, connect, drop.
    let (code, _, err) = as_drill("postgres", "CREATE DATABASE ward_drill_0123456789ab");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = as_drill("ward_drill_0123456789ab", "SELECT current_user");
    assert_eq!((code, out.trim()), (0, "ward-drill"), "{err}");
    let (code, _, err) = as_drill("postgres", "DROP DATABASE ward_drill_0123456789ab");
    assert_eq!(code, 0, "{err}");

    // The file `ward` reads is the file the rendered drill job mounts the password at.
    let reference = &env.database.drill.password_secret;
    let expected = reference.file();
    let job = rendered("/billing-prod/cronjob-ward-drill-billing-prod.yaml");
    let volumes = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"];
    let mounted: Vec<String> = volumes
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "secrets"))
        .and_then(|v| v["projected"]["sources"].as_array())
        .into_iter()
        .flatten()
        .filter(|s| s["secret"]["name"] == "db-ward-drill-credentials")
        .flat_map(|s| s["secret"]["items"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(mounted, vec![expected.clone()]);
    let secrets = w.tmp.path().join("mounted");
    let file = secrets.join(&expected);
    let scratch = w.tmp.path().join("drills");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let drill = || {
        w.ward(&[
            "--secrets-dir",
            secrets.to_str().expect("utf8"),
            "drill",
            "billing/prod",
            "--scratch-dir",
            scratch.to_str().expect("utf8"),
            "-o",
            "json",
        ])
    };
    let named = format!("{}:{}#password", reference.store.value, reference.key.value);
    // No file: refused, and the hint names the secret and where its file belongs.
    let (code, out, err) = drill();
    let err = format!("{out}{err}");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("ward-drill"), "{err}");
    assert!(
        err.contains(&named)
            && err.contains("not at")
            && err.contains(file.to_str().expect("utf8")),
        "{err}"
    );
    // A wrong password: the hint names the file it came from, never the value.
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, "not-the-password\n").expect("write");
    let (code, out, err) = drill();
    let err = format!("{out}{err}");
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("the password came from the secret")
            && err.contains(&named)
            && err.contains(file.to_str().expect("utf8")),
        "{err}"
    );
    assert!(!err.contains("not-the-password"));
    // The right one: the drill passes as the drill role, and leaves nothing behind.
    std::fs::write(&file, format!("{password}\n")).expect("write");
    let (code, out, err) = drill();
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert!(
        report["failures"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
    let scratch_db = report["scratchDatabase"].as_str().expect("scratch name");
    let hex = scratch_db
        .strip_prefix("ward_drill_")
        .expect("the scratch prefix");
    assert!(
        hex.len() == 12 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{scratch_db} is not a name the rendered pg_hba admits"
    );
    assert_eq!(
        w.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'ward_drill_%'"
        ),
        "0"
    );
    assert!(!out.contains(&password) && !err.contains(&password));
    let ledger = std::fs::read_to_string(w.state().join("ledger.jsonl")).expect("ledger");
    assert!(!ledger.contains(&password));
}

/// `restore --to-zip` writes Odoo's own backup zip; Python's zipfile (what Odoo uses) reads
/// it, and `psql -f dump.sql` (what Odoo's restore runs) rebuilds the database.
#[test]
fn restore_to_an_odoo_backup_zip_that_odoo_tooling_reads() {
    let w = World::new(OdooFixture {
        attachments: 15,
        ..OdooFixture::default()
    });
    let (code, out, err) = w.backup();
    assert_eq!(code, 0, "{out}{err}");
    let id = json(&out)["snapshot"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let zip = w.tmp.path().join("billing.zip");
    let zip_str = zip.to_str().expect("utf8");
    let (code, out, err) = w.ward(&["restore", &id, "--to-zip", zip_str, "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        json(&out)["blobs"].as_u64(),
        Some(w.fixture.store_fnames.len() as u64)
    );
    // Never over an existing file without --replace; --to-zip excludes --to-db.
    let (code, _, err) = w.ward(&["restore", &id, "--to-zip", zip_str]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = w.ward(&["restore", &id, "--to-zip", zip_str, "--to-db", "x"]);
    assert_eq!(code, 2, "{err}");

    let unpacked = w.tmp.path().join("unpacked");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e", zip_str])
        .arg(&unpacked)
        .status()
        .expect("python3");
    assert!(status.success());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(unpacked.join("manifest.json")).expect("manifest.json"),
    )
    .expect("json");
    assert_eq!(manifest["odoo_dump"], "1");
    let modules = w.psql(
        "odoo",
        "SELECT count(*) FROM ir_module_module WHERE state = 'installed'",
    );
    assert_eq!(
        manifest["modules"].as_object().map(|m| m.len().to_string()),
        Some(modules.trim().to_string())
    );
    for f in &w.fixture.store_fnames {
        let bytes = std::fs::read(unpacked.join("filestore").join(f)).expect("blob in the zip");
        let sha = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&bytes));
        assert!(f.ends_with(&sha), "{f} holds other bytes");
    }
    w.cluster.psql("CREATE DATABASE from_zip").expect("create");
    let status = Command::new(w.cluster.bindir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(w.cluster.socket_dir())
        .args([
            "-p",
            &w.cluster.port().to_string(),
            "-U",
            "postgres",
            "-d",
            "from_zip",
            "-f",
        ])
        .arg(unpacked.join("dump.sql"))
        .stdout(Stdio::null())
        .status()
        .expect("psql");
    assert!(status.success(), "psql -f dump.sql");
    assert_eq!(w.counts("from_zip"), w.counts("odoo"));
    let (_, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    assert!(out.contains("restore.zip"), "{out}");
}

#[test]
fn every_vault_command_has_help_with_an_example() {
    for args in [
        vec!["backup", "--help"],
        vec!["backup", "run", "--help"],
        vec!["backup", "list", "--help"],
        vec!["backup", "verify", "--help"],
        vec!["backup", "prune", "--help"],
        vec!["restore", "--help"],
        vec!["drill", "--help"],
    ] {
        let (code, out, _) = run(Command::new(env!("CARGO_BIN_EXE_ward")).args(&args));
        assert_eq!(code, 0, "{args:?}");
        if args.len() > 2 || args[0] != "backup" {
            assert!(
                out.contains("Example"),
                "{args:?} help has no example:\n{out}"
            );
        }
    }
}

/// Kills the real `ward backup run` with SIGKILL at random points, at least 20 times: no
/// listed snapshot is ever incomplete, the next backup succeeds, every snapshot passes
/// `verify --read-data`, and prune + garbage collection never delete a referenced blob.
#[test]
fn sigkill_of_ward_backup_run_never_leaves_an_incomplete_snapshot() {
    let w = World::new(OdooFixture {
        partners: 20_000,
        attachments: 300,
        max_blob_bytes: 96 * 1024,
        ..OdooFixture::default()
    });
    let check_all = |read_data: bool| -> usize {
        let (code, out, err) = w.ward(&["backup", "list", "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        let listed = json(&out);
        let listed = listed.as_array().expect("list");
        let mut verified = 0;
        for s in listed {
            // Killed between the manifest and its statement: unsigned, never used.
            if s["unsigned"] == true {
                continue;
            }
            assert!(
                s.get("unverified").is_none() && s["verified"] == true,
                "a snapshot that does not verify after a kill: {s}"
            );
            verified += 1;
            let snap = s["snapshot"].as_str().expect("ref");
            let mut args = vec!["backup", "verify", snap];
            if read_data {
                args.push("--read-data");
            }
            let (code, out, err) = w.ward(&args);
            assert_eq!(code, 0, "snapshot {snap} incomplete: {out}{err}");
        }
        verified
    };
    let spawn = || {
        let mut c = w.command(&[
            "backup",
            "run",
            "billing/prod",
            "--db-url",
            &w.cluster.url_for("odoo"),
            "--filestore",
            w.filestore.to_str().expect("utf8"),
        ]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c.spawn().expect("spawn ward")
    };
    let (code, _, err) = w.backup();
    assert_eq!(code, 0, "{err}");
    let t = Instant::now();
    let (code, _, err) = w.backup();
    assert_eq!(code, 0, "{err}");
    let mut window = t.elapsed();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7);
    eprintln!("ward crash test seed {seed}, incremental backup {window:?}");
    let mut rng = Xorshift::new(seed);
    let runtime = rt();
    let (mut killed, mut round) = (0, 0u64);
    while killed < 22 && round < 90 {
        round += 1;
        // New attachments every round, so kills also land among blob uploads.
        let spec = OdooFixture {
            seed: 1000 + round,
            max_blob_bytes: 96 * 1024,
            ..OdooFixture::default()
        };
        let mut add = Xorshift::new(1000 + round);
        runtime
            .block_on(fixture::add_attachments(
                &w.db,
                &w.filestore,
                40,
                &spec,
                &mut add,
            ))
            .expect("add attachments");
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64 * 9 / 10 + 1));
        let started = Instant::now();
        let mut child = spawn();
        std::thread::sleep(delay);
        if child.try_wait().expect("poll").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        } else {
            window = started.elapsed();
        }
        let _ = child.wait();
        check_all(false);
    }
    assert!(killed >= 20, "only {killed} runs were killed mid-way");

    // The next backup succeeds (the dead holder's lease is taken over).
    let (code, _, err) = w.backup();
    assert_eq!(code, 0, "after the kills: {err}");
    let n = check_all(true);
    assert!(n >= 3);
    // Prune and GC with no grace never delete a referenced blob.
    let (code, out, err) = w.ward(&[
        "backup",
        "prune",
        "billing/prod",
        "--grace",
        "0s",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    let removed = report["prune"]["removed"].as_array().map_or(0, Vec::len);
    eprintln!(
        "garbage collected after the kills: {} object(s)",
        report["gc"]["deleted"].as_array().map_or(0, Vec::len)
    );
    assert_eq!(check_all(true), n - removed);
    let (_, out, _) = w.ward(&["audit", "verify"]);
    assert!(out.contains("ledger intact"), "{out}");
}

/// A real server (moto's S3, Prometheus' Pushgateway) on a free loopback port, killed on
/// drop.
struct LocalServer {
    child: std::process::Child,
    port: u16,
}

impl LocalServer {
    fn start(program: &str, args: impl FnOnce(u16) -> Vec<String>, install: &str) -> LocalServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(program)
            .args(args(port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} is not on PATH ({e}): {install} (CI does)"));
        let server = LocalServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// moto's S3 (it does not check signatures).
    fn moto() -> LocalServer {
        LocalServer::start(
            "moto_server",
            |port| {
                vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ]
            },
            "the S3 tests need a real S3-compatible server; install it with `pip install 'moto[server]'`",
        )
    }

    /// Prometheus' Pushgateway, keeping what it is pushed in memory only.
    fn pushgateway() -> LocalServer {
        LocalServer::start(
            "prometheus-pushgateway",
            |port| vec![format!("--web.listen-address=127.0.0.1:{port}")],
            "install the Debian package prometheus-pushgateway",
        )
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One raw HTTP/1.1 request (`head` holds the request line and any extra headers);
    /// returns the whole response.
    fn http(&self, head: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let req = format!(
            "{head}\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        s.write_all(req.as_bytes()).expect("send");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        resp
    }

    /// Creates a bucket with Object Lock enabled.
    fn create_locked_bucket(&self, bucket: &str) {
        let resp = self.http(&format!(
            "PUT /{bucket} HTTP/1.1\r\nx-amz-bucket-object-lock-enabled: true\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
        ));
        assert!(resp.starts_with("HTTP/1.1 200"), "create bucket: {resp}");
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The estate's object store as S3 with Object Lock (moto): backup, list, verify, restore,
/// and prune leaves locked objects alone.
#[test]
fn s3_object_store_with_object_lock_from_the_estate() {
    let moto = LocalServer::moto();
    moto.create_locked_bucket("care-vault");
    let w = World::new(OdooFixture {
        attachments: 20,
        ..OdooFixture::default()
    });
    w.edit(
        "platform.yaml",
        "    - name: vault\n      type: local\n      path: vault\n",
        &format!(
            "    - name: vault\n      type: s3\n      endpoint: http://127.0.0.1:{}\n      bucket: care-vault\n      region: us-east-1\n      prefix: ward\n      objectLock: {{ mode: governance, days: 1 }}\n      credentials: {{ store: hospital-vault, key: platform/vault }}\n",
            moto.port
        ),
    );
    // The credentials come from the store's secret reference, as a mounted Secret holds
    // them; none are in the environment.
    let creds = w.state().join("secrets/hospital-vault/platform/vault");
    std::fs::create_dir_all(&creds).expect("secrets");
    for part in ["access_key_id", "secret_access_key"] {
        std::fs::write(creds.join(part), "testing\n").expect("secret");
    }
    let s3 = |args: &[&str]| run(&mut w.command(args));
    let url = w.cluster.url_for("odoo");
    let fs = w.filestore.to_str().expect("utf8");
    let (code, out, err) = s3(&[
        "backup",
        "run",
        "billing/prod",
        "--db-url",
        &url,
        "--filestore",
        fs,
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let id = json(&out)["snapshot"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(
        !w.state().join("vault").exists(),
        "nothing went to the local folder"
    );
    let (code, out, err) = s3(&["backup", "list", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let listed = json(&out);
    assert_eq!(listed[0]["objectLock"]["mode"], "governance", "{listed}");
    let (code, out, err) = s3(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
    let data = w.tmp.path().join("from-s3");
    let (code, out, err) = s3(&[
        "restore",
        &id,
        "--to-db",
        "from_s3",
        "--filestore",
        data.to_str().expect("utf8"),
        "--db-url",
        &w.cluster.url(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(w.counts("odoo"), w.counts("from_s3"));
    let (code, out, err) = s3(&["backup", "prune", "billing/prod", "--grace", "0s"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = s3(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 0, "locked snapshot intact after prune: {out}{err}");
}
