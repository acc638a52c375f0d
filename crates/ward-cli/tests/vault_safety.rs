//! What a restore, a drill and an Odoo zip may touch, through the real binary against a
//! real PostgreSQL: a database name is never a path, `--replace` removes only what Ward
//! restored, and every failure cleans up what it created and says so truthfully.

mod vault_support;

use std::path::Path;

use vault_support::{World, files_under, json};
use ward_vault::fixture::OdooFixture;

fn small() -> OdooFixture {
    OdooFixture {
        attachments: 8,
        partners: 40,
        ..OdooFixture::default()
    }
}

/// Truncates the first pack of the vault (its chunks and blobs) to half its size; returns
/// its path and bytes.
fn truncate_a_blob(w: &World) -> (std::path::PathBuf, Vec<u8>) {
    let vault = w.vault();
    let rel = files_under(&vault)
        .into_iter()
        .find(|f| f.contains("/packs/") && !f.ends_with(".index"))
        .expect("a pack");
    let path = vault.join(rel);
    let original = std::fs::read(&path).expect("blob");
    std::fs::write(&path, &original[..original.len() / 2]).expect("truncate");
    (path, original)
}

#[test]
fn restore_to_db_takes_a_database_name_never_a_path() {
    let w = World::new(small());
    let id = w.backed_up();
    let data = w.tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // A folder of someone else's files that `--to-db /that/folder --replace` once emptied.
    let precious = w.tmp.path().join("precious");
    std::fs::create_dir_all(&precious).expect("precious");
    std::fs::write(precious.join("notes.txt"), b"keep me").expect("file");
    let long = "a".repeat(64);
    let precious_s = precious.to_str().expect("utf8").to_string();
    for name in [
        "../../escaped",
        "../escaped",
        "..",
        ".",
        "",
        ".hidden",
        precious_s.as_str(),
        "a/b",
        "a\\b",
        "line\nbreak",
        long.as_str(),
    ] {
        for extra in [&[][..], &["--replace"][..]] {
            let (code, out, err) = w.restore(&id, name, &data, extra);
            assert_eq!(code, 2, "--to-db {name:?} {extra:?}: {out}{err}");
            assert!(err.contains("--to-db takes a database name"), "{err}");
            assert!(!w.has_database(name), "{name:?} was created");
        }
    }
    assert!(!w.tmp.path().join("escaped").exists());
    assert!(!data.join("escaped").exists());
    assert_eq!(files_under(&data), Vec::<String>::new());
    assert_eq!(
        std::fs::read(precious.join("notes.txt")).expect("still there"),
        b"keep me"
    );
    // A name as long as PostgreSQL allows is fine.
    let longest = "b".repeat(63);
    let (code, out, err) = w.restore(&id, &longest, &data, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(data.join("filestore").join(&longest).is_dir());
}

#[test]
fn replace_removes_only_a_filestore_ward_restored() {
    let w = World::new(small());
    let id = w.backed_up();
    let data = w.tmp.path().join("data");
    let (code, out, err) = w.restore(&id, "billing_check", &data, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let restored = data.join("filestore/billing_check");
    let marker = std::fs::read_to_string(restored.join(".ward-restored"))
        .expect("Ward marks the filestore it restored");
    assert!(marker.contains(&id), "{marker}");
    // Ward's own restore is replaced on request, and only then.
    let (code, _, err) = w.restore(&id, "billing_check", &data, &[]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = w.restore(&id, "billing_check", &data, &["--replace"]);
    assert_eq!(code, 0, "{out}{err}");

    // A filestore Ward did not restore is never deleted, database or not.
    for (name, make_db) in [("hand_made", false), ("hand_made_db", true)] {
        let foreign = data.join("filestore").join(name);
        std::fs::create_dir_all(foreign.join("ab")).expect("foreign");
        std::fs::write(foreign.join("ab/keep"), b"odoo's own").expect("file");
        if make_db {
            w.psql("postgres", &format!("CREATE DATABASE {name}"));
        }
        let (code, out, err) = w.restore(&id, name, &data, &["--replace"]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(foreign.to_str().expect("utf8"))
                && err.contains("Ward did not restore it"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(foreign.join("ab/keep")).expect("kept"),
            b"odoo's own"
        );
        assert_eq!(w.has_database(name), make_db, "{name}");
    }
    // A symbolic link is not a filestore folder to write through.
    let elsewhere = w.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, data.join("filestore/linked")).expect("symlink");
    let (code, out, err) = w.restore(&id, "linked", &data, &["--replace"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(files_under(&elsewhere), Vec::<String>::new());
    assert!(!w.has_database("linked"));
}

#[test]
fn a_failed_restore_cleans_up_what_it_created_and_can_run_again() {
    let w = World::new(small());
    let id = w.backed_up();
    let (blob, original) = truncate_a_blob(&w);

    // Into a data folder that does not exist yet: all of it is Ward's, and all of it goes.
    let data = w.tmp.path().join("new-data");
    let (code, out, err) = w.restore(&id, "after_failure", &data, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("Ward dropped the database \"after_failure\" it had created"),
        "{err}"
    );
    assert!(err.contains("removed the folder"), "{err}");
    assert!(!err.contains("the database created for this restore was dropped"));
    assert!(!w.has_database("after_failure"));
    assert!(!data.exists(), "{:?}", files_under(&data));

    // Into an empty folder someone made: it stays, empty.
    let empty_data = w.tmp.path().join("empty-data");
    let made = empty_data.join("filestore/after_failure");
    std::fs::create_dir_all(&made).expect("empty folder");
    let (code, out, err) = w.restore(&id, "after_failure", &empty_data, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("emptied"), "{err}");
    assert!(made.is_dir());
    assert_eq!(files_under(&made), Vec::<String>::new());
    assert!(!w.has_database("after_failure"));

    // The hinted "run it again" then works, without --replace.
    std::fs::write(&blob, &original).expect("repair");
    let (code, out, err) = w.restore(&id, "after_failure", &data, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = w.restore(&id, "after_failure", &empty_data, &["--replace"]);
    assert_eq!(code, 0, "{out}{err}");

    // A --replace that fails says the old database was dropped first, and leaves no half
    // restore that a later run would refuse.
    let (blob, _) = truncate_a_blob(&w);
    let (code, out, err) = w.restore(&id, "after_failure", &data, &["--replace"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("had been dropped first"), "{err}");
    assert!(!w.has_database("after_failure"));
    assert!(!data.join("filestore/after_failure").exists());
    std::fs::write(&blob, &original).expect("repair");
    let (code, out, err) = w.restore(&id, "after_failure", &data, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

/// 15b: only a database Ward created and dropped is said to be dropped.
#[test]
fn a_restore_or_drill_that_created_nothing_does_not_say_dropped() {
    let w = World::new(small());
    let id = w.backed_up();
    let data = w.tmp.path().join("data");
    let port = w.cluster.port();
    let password = w.cluster.password().to_string();
    let nobody = format!("postgres://nobody:{password}@127.0.0.1:{port}/postgres");
    let unreachable = "postgres://postgres@127.0.0.1:1/postgres".to_string();
    for url in [&nobody, &unreachable] {
        let (code, out, err) = w.ward(&[
            "restore",
            &id,
            "--to-db",
            "never_made",
            "--filestore",
            data.to_str().expect("utf8"),
            "--db-url",
            url,
        ]);
        assert_eq!(code, 3, "{out}{err}");
        assert!(!err.contains("dropped"), "{err}");
        assert!(!err.contains(&password), "{err}");
        assert!(!data.exists());
        let scratch = w.tmp.path().join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch");
        let (code, out, err) = w.ward(&[
            "drill",
            "billing/prod",
            "--db-url",
            url,
            "--scratch-dir",
            scratch.to_str().expect("utf8"),
        ]);
        assert_eq!(code, 3, "{out}{err}");
        assert!(!err.contains("dropped"), "{err}");
        assert_eq!(files_under(&scratch), Vec::<String>::new());
    }
}

#[test]
fn a_failed_drill_leaves_nothing_and_says_what_it_dropped() {
    let w = World::new(small());
    w.backed_up();
    let (blob, original) = truncate_a_blob(&w);
    let scratch = w.tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let url = w.cluster.url();
    let drill = || {
        w.ward(&[
            "drill",
            "billing/prod",
            "--db-url",
            &url,
            "--scratch-dir",
            scratch.to_str().expect("utf8"),
        ])
    };
    let (code, out, err) = drill();
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("Ward dropped the database \"ward_drill_"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(&scratch)
            .expect("scratch")
            .next()
            .is_none()
    );
    let left = w.psql(
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'ward_drill_%'",
    );
    assert_eq!(left.trim(), "0");
    std::fs::write(&blob, &original).expect("repair");
    let (code, out, err) = drill();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        std::fs::read_dir(&scratch)
            .expect("scratch")
            .next()
            .is_none()
    );
}

#[test]
fn to_zip_replaces_only_a_zip_ward_wrote() {
    let w = World::new(small());
    let id = w.backed_up();
    let zip = |path: &Path, extra: &[&str]| {
        let mut args = vec!["restore", &id, "--to-zip", path.to_str().expect("utf8")];
        args.extend_from_slice(extra);
        w.ward(&args)
    };
    let ours = w.tmp.path().join("billing.zip");
    let (code, out, err) = zip(&ours, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = zip(&ours, &[]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = zip(&ours, &["--replace"]);
    assert_eq!(code, 0, "{out}{err}");

    // Someone else's file, a folder and a link to a file are never overwritten.
    let theirs = w.tmp.path().join("report.pdf");
    std::fs::write(&theirs, b"%PDF-1.7 not a zip").expect("file");
    let folder = w.tmp.path().join("a-folder");
    std::fs::create_dir_all(folder.join("inside")).expect("folder");
    let link = w.tmp.path().join("link.zip");
    std::os::unix::fs::symlink(&ours, &link).expect("symlink");
    for path in [&theirs, &folder, &link] {
        let (code, out, err) = zip(path, &["--replace"]);
        assert_eq!(code, 2, "{path:?}: {out}{err}");
        assert!(err.contains("not a zip Ward wrote"), "{err}");
    }
    assert_eq!(std::fs::read(&theirs).expect("kept"), b"%PDF-1.7 not a zip");
    assert!(folder.join("inside").is_dir());
    // A failed export leaves no zip and no temporary file.
    let (blob, _) = truncate_a_blob(&w);
    let failed = w.tmp.path().join("failed.zip");
    let (code, out, err) = zip(&failed, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(blob.exists());
    let hidden: Vec<String> = std::fs::read_dir(w.tmp.path())
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".ward-") || n == "failed.zip")
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    let (_, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    assert!(json(&out).as_array().is_some_and(|a| !a.is_empty()));
}

/// 15a: a role the server does not have is named as such, with where the name came from,
/// never as a password problem.
#[test]
fn a_missing_role_is_named_with_where_the_user_name_came_from() {
    let w = World::new(small());
    // With password authentication PostgreSQL hides whether a role exists; with trust (or
    // peer, or cert) it says `role "x" does not exist`.
    w.cluster
        .set_hba(&["host all all 127.0.0.1/32 trust"])
        .expect("hba");
    let port = w.cluster.port();
    let filestore = w.filestore.to_str().expect("utf8").to_string();
    let url = format!("postgres://ghost@127.0.0.1:{port}/odoo");
    let (code, out, err) = w.ward(&w.backup_args(&url));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port} has no role \"ghost\"")),
        "{err}"
    );
    assert!(err.contains("came from the --db-url"), "{err}");
    assert!(!err.contains("check the password"), "{err}");

    // The estate's user: the hint names the environment and its file.
    w.endpoint_here(Some("ghost"));
    let (code, out, err) = w.ward(&["backup", "run", "billing/prod", "--filestore", &filestore]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("has no role \"ghost\""), "{err}");
    assert!(
        err.contains("environment billing/prod's database.user") && err.contains("billing.yaml"),
        "{err}"
    );
    assert!(!err.contains("check the password"), "{err}");

    // A restore as that role, and a drill as the drill role the server lacks.
    let id = w.backed_up();
    let data = w.tmp.path().join("data");
    let (code, out, err) = w.ward(&[
        "restore",
        &id,
        "--to-db",
        "r",
        "--filestore",
        data.to_str().expect("utf8"),
        "--db-url",
        &format!("postgres://ghost@127.0.0.1:{port}/postgres"),
    ]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("has no role \"ghost\"") && !err.contains("dropped"),
        "{err}"
    );
    let (code, out, err) = w.ward(&["drill", "billing/prod"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("has no role \"ward-drill\""), "{err}");
    assert!(err.contains("drill role"), "{err}");
    assert!(
        !err.contains("check the password") && !err.contains("dropped"),
        "{err}"
    );
}

/// Manifests are input: one rewritten (with a valid checksum line) to name objects outside
/// its snapshot is corrupted for every command, and nothing is created from it.
#[test]
fn a_manifest_pointing_outside_its_snapshot_is_refused() {
    let w = World::new(small());
    let id = w.backed_up();
    let manifest = files_under(&w.vault())
        .into_iter()
        .find(|f| f.ends_with(&format!("{id}/manifest.json")))
        .expect("manifest");
    let path = w.vault().join(&manifest);
    let original = std::fs::read_to_string(&path).expect("manifest");
    let (_, body) = original.split_once('\n').expect("header");
    let data = w.tmp.path().join("data");
    for (field, value) in [
        (
            "dump",
            "tenants/other/snapshots/billing/prod/20260101T000000Z-00000000/dump.age",
        ),
        ("dump", "../../../../etc/passwd"),
        ("sealed", "tenants/st-marys/key.age"),
    ] {
        let mut json: serde_json::Value = serde_json::from_str(body).expect("json");
        json[field]["object"] = value.into();
        let body = serde_json::to_vec_pretty(&json).expect("json");
        let mut text = format!("ward-vault-manifest/1 sha256:{}\n", sha256_hex(&body)).into_bytes();
        text.extend_from_slice(&body);
        std::fs::write(&path, text).expect("rewrite");
        let (code, out, err) = w.restore(&id, "from_hostile", &data, &[]);
        assert_eq!(code, 3, "{field}={value}: {out}{err}");
        // The signed statement names the manifest's checksum: a rewritten one stops there.
        assert!(
            err.contains("not the manifest the snapshot's signed statement names"),
            "{err}"
        );
        assert!(!w.has_database("from_hostile") && !data.exists());
        let (code, out, err) = w.ward(&["backup", "verify", &id]);
        assert_ne!(code, 0, "{out}{err}");
        let (_, out, _) = w.ward(&["backup", "list", "-o", "json"]);
        assert!(json_has_unreadable(&out), "{out}");
    }
    std::fs::write(&path, original).expect("put back");
    let (code, out, err) = w.restore(&id, "from_hostile", &data, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

fn json_has_unreadable(out: &str) -> bool {
    json(out).as_array().is_some_and(|rows| {
        rows.iter()
            .any(|r| r["unverified"].is_string() && r["verified"] == false)
    })
}

/// SHA-256 in hex, by the coreutils `sha256sum` (this crate has no SHA-256 of its own).
fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}
