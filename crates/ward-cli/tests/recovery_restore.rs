//! The recovery region's filestore restore, end to end: render the example estate, take the
//! suspended CronJob's command, environment and mounts, and run exactly that `ward restore`
//! (pod paths mapped to folders) against a real snapshot in a folder store.

mod vault_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vault_support::{World, files_under, json, run};
use ward_vault::fixture::OdooFixture;

const JOB: &str = "recovery-eu2/billing-prod/cronjob-ward-restore-filestore-billing-prod.yaml";

/// The example's drill recipient line for the billing/prod stack.
const STACK: &str = "dedicated-eu1/billing-prod";

/// Rewrites a pod path to the test folder its volume is at (longest mount first).
fn local(path: &str, mounts: &[(String, PathBuf)]) -> String {
    for (pod, here) in mounts {
        if path == pod {
            return here.display().to_string();
        }
        if let Some(rest) = path.strip_prefix(&format!("{pod}/")) {
            return here.join(rest).display().to_string();
        }
    }
    path.to_string()
}

#[test]
fn the_rendered_recovery_restore_puts_the_latest_verified_filestore_in_the_claim() {
    let w = World::new(OdooFixture {
        attachments: 12,
        ..OdooFixture::default()
    });
    // The stack's drill identity: its recipient is on the stack's backups (and on no other
    // stack's), and it is what the recovery restore decrypts with.
    let identity = w.tmp.path().join("identity.age");
    let recipient = ward_vault::generate_identity_file(&identity).expect("identity");
    let platform = std::fs::read_to_string(w.estate.join("platform.yaml")).expect("platform");
    let line = platform
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{STACK}: age1")))
        .expect("the example's drill recipient")
        .to_string();
    let indent = &line[..line.len() - line.trim_start().len()];
    w.edit(
        "platform.yaml",
        &line,
        &format!("{indent}{STACK}: {recipient}"),
    );

    // Two snapshots; the newest is the one restored.
    let first = w.backed_up();
    let newest = w.backed_up();
    assert_ne!(first, newest);

    let estate = ward_estate::load(&w.estate).expect("the estate loads");
    let tree = ward_render::render_kubernetes(&estate).expect("the estate renders");
    let job: Value = tree
        .files
        .get(JOB)
        .and_then(|f| f.value.clone())
        .unwrap_or_else(|| panic!("{JOB} is not rendered"));
    assert_eq!(job["spec"]["suspend"], true, "it never runs on its own");
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect()
    };
    let args = strings(&container["args"]);
    let store = args
        .windows(2)
        .find(|a| a[0] == "--object-store")
        .map(|a| a[1].clone())
        .expect("the job names its store");

    // The store the job names, as a folder holding the snapshots `ward backup` wrote (an
    // S3 bucket's replica in the cluster; here the example's local vault, copied).
    let copy = w.tmp.path().join("replica");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(w.vault())
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let text = std::fs::read_to_string(w.estate.join("platform.yaml")).expect("platform");
    let start = text
        .find(&format!("    - name: {store}\n"))
        .expect("the job's store in the platform");
    let end = text[start + 1..]
        .find("\n    - name: ")
        .map_or(text.len(), |i| start + 1 + i + 1);
    let folder_store = format!(
        "    - name: {store}\n      type: local\n      path: {}\n",
        copy.display()
    );
    std::fs::write(
        w.estate.join("platform.yaml"),
        format!("{}{folder_store}{}", &text[..start], &text[end..]),
    )
    .expect("write platform");

    // Every volume the pod mounts is a folder here; the claim starts empty, as a new one.
    let volumes = w.tmp.path().join("volumes");
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().expect("name");
        let at = m["mountPath"].as_str().expect("mountPath").to_string();
        let here = if name == "estate" {
            w.estate.clone()
        } else if name == "identity" {
            let dir = volumes.join(name);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::copy(&identity, dir.join("key.txt")).expect("identity file");
            dir
        } else {
            volumes.join(name)
        };
        std::fs::create_dir_all(&here).expect("mkdir");
        mounts.push((at, here));
    }
    mounts.sort_by_key(|(at, _)| std::cmp::Reverse(at.len()));
    let claim = mounts
        .iter()
        .find(|(at, _)| {
            container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["name"] == "filestore" && m["mountPath"] == at.as_str())
        })
        .map(|(_, here)| here.clone())
        .expect("the claim is mounted");
    let claim_volume = pod["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "filestore"))
        .expect("the filestore volume");
    assert_eq!(
        claim_volume["persistentVolumeClaim"]["claimName"],
        "odoo-filestore"
    );
    let env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(env.contains_key("WARD_IDENTITY"), "{env:?}");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ward"));
    command
        .args(args.iter().map(|a| local(a, &mounts)))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    for (name, value) in &env {
        command.env(name, local(value, &mounts));
    }
    let (code, out, err) = run(&mut command);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&newest), "the newest snapshot: {out}");

    // Byte for byte where Odoo, mounting the claim at its data dir, reads it.
    let database = args
        .windows(2)
        .find(|a| a[0] == "--to-db")
        .map(|a| a[1].clone())
        .expect("--to-db");
    let restored = claim.join("filestore").join(&database);
    let mut expected = w.fixture.store_fnames.clone();
    expected.sort();
    expected.dedup();
    let mut got: Vec<String> = files_under(&restored)
        .into_iter()
        .filter(|f| !f.starts_with('.'))
        .collect();
    got.sort();
    assert_eq!(got, expected);
    for fname in &expected {
        let want = std::fs::read(w.filestore.join(fname)).expect("the source blob");
        let have = std::fs::read(restored.join(fname)).expect("the restored blob");
        assert!(want == have, "{fname} differs");
    }
    // The evidence is in the job's own ledger, under its actor.
    let ledger =
        std::fs::read_to_string(Path::new(&local("/var/lib/ward", &mounts)).join("ledger.jsonl"))
            .expect("the job's ledger");
    let last = json(ledger.lines().last().expect("a ledger line"));
    assert_eq!(last["action"], "restore.filestore", "{last}");
    // Run again on the filled claim: refused, nothing replaced (no --replace is rendered).
    let mut again = std::process::Command::new(env!("CARGO_BIN_EXE_ward"));
    again
        .args(args.iter().map(|a| local(a, &mounts)))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1");
    for (name, value) in &env {
        again.env(name, local(value, &mounts));
    }
    let (code, out, err) = run(&mut again);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(files_under(&restored).len(), expected.len() + 1);
}

/// `--latest` restores the newest snapshot whose statement verifies (a copy under a newer
/// id does not), `--filestore-only` creates no database, and a folder Ward did not fill is
/// refused and left as it was.
#[test]
fn latest_skips_an_unverifiable_newer_snapshot_and_a_foreign_folder_is_refused() {
    let w = World::new(OdooFixture {
        attachments: 4,
        ..OdooFixture::default()
    });
    let id = w.backed_up();
    // A newer-looking snapshot: the committed one copied under a later id, which its
    // signed statement does not name.
    let snapshots = w.vault().join("tenants/st-marys/snapshots/billing/prod");
    let forged = "29991231T235959Z-0badf00d";
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(snapshots.join(&id))
        .arg(snapshots.join(forged))
        .status()
        .expect("cp");
    assert!(status.success());
    let (code, listed, err) = w.ward(&["backup", "list", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(listed.contains(forged), "the copy is listed: {listed}");
    let data = w.tmp.path().join("restored");
    let restore = |data: &Path| {
        w.ward(&[
            "restore",
            "--latest",
            "billing/prod",
            "--filestore-only",
            "--to-db",
            "billing_check",
            "--filestore",
            data.to_str().expect("utf8"),
            "-o",
            "json",
        ])
    };
    let (code, out, err) = restore(&data);
    assert_eq!(code, 0, "{out}{err}");
    let summary = json(&out);
    assert_eq!(summary["snapshot"]["id"], id.as_str(), "{summary}");
    assert_eq!(
        summary["blobsRestored"].as_u64(),
        Some(w.fixture.store_fnames.len() as u64)
    );
    assert!(!w.has_database("billing_check"), "no database is created");
    let folder = data.join("filestore/billing_check");
    for fname in &w.fixture.store_fnames {
        let want = std::fs::read(w.filestore.join(fname)).expect("the source blob");
        assert!(
            std::fs::read(folder.join(fname)).ok() == Some(want),
            "{fname}"
        );
    }
    // A folder Ward did not restore: refused, untouched.
    let foreign = w.tmp.path().join("foreign");
    let theirs = foreign.join("filestore/billing_check/notes.txt");
    std::fs::create_dir_all(theirs.parent().expect("parent")).expect("mkdir");
    std::fs::write(&theirs, b"not Ward's").expect("write");
    let (code, out, err) = restore(&foreign);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("did not restore it"),
        "{out}{err}"
    );
    assert_eq!(
        files_under(&foreign.join("filestore/billing_check")),
        ["notes.txt"]
    );
}
