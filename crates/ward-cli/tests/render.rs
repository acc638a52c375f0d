//! End-to-end tests of `ward render`'s deploy tree through the real binary: Ward records
//! what it writes (`ward-tree.json`), removes only what the record lists and names it,
//! leaves every other file alone, and refuses folders it must not write into.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::*;

const RECORD: &str = "ward-tree.json";

struct Setup {
    tmp: tempfile::TempDir,
    estate: PathBuf,
    deploy: PathBuf,
}

/// The example estate, as `ward init` makes it (a Git repository with one commit).
fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    let deploy = tmp.path().join("deploy");
    Setup {
        tmp,
        estate,
        deploy,
    }
}

/// `ward render` run from `cwd`, with `args` after the estate.
fn render_in(cwd: &Path, estate: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["render"];
    all.extend_from_slice(args);
    ward_in(cwd, estate, "erin", &all)
}

fn render(s: &Setup, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--out", s.deploy.to_str().expect("utf8")];
    all.extend_from_slice(args);
    render_in(s.tmp.path(), &s.estate, &all)
}

fn render_json(s: &Setup, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    let (code, out, err) = render(s, &all);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("json")
}

/// Every file under `dir` (relative path → bytes), dot-entries included.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).expect("inside").to_string_lossy();
                out.insert(rel.into_owned(), std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn record(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(RECORD)).expect("the tree has a record");
    serde_json::from_str(&text).expect("the record is JSON")
}

fn recorded_paths(dir: &Path) -> Vec<String> {
    record(dir)["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A hand-written manifest inside a cluster folder Ward renders.
const NOTES: &str = "dedicated-eu1/billing-prod/notes.yaml";
const NOTES_TEXT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n";

#[test]
fn render_into_the_estate_is_refused_and_deletes_nothing() {
    let s = setup();
    let before = snapshot(&s.estate);
    let estate = s.estate.to_str().expect("utf8");
    let sibling = s.tmp.path().join("elsewhere");
    std::fs::create_dir_all(&sibling).expect("mkdir");
    // `--out .` inside the estate (the case that removed teams/ and workloads/), a
    // subfolder, the estate by its absolute path, and by a path through `..`.
    for (cwd, out) in [
        (s.estate.as_path(), "."),
        (s.estate.as_path(), "deploy"),
        (s.tmp.path(), estate),
        (sibling.as_path(), "../estate/deploy/k8s"),
    ] {
        let (code, stdout, err) = render_in(cwd, &s.estate, &["--out", out]);
        assert_eq!(code, 2, "--out {out} from {}: {stdout}{err}", cwd.display());
        assert!(err.contains("inside the estate folder"), "{err}");
        assert_eq!(
            snapshot(&s.estate),
            before,
            "--out {out} changed the estate"
        );
    }
    // Dry runs are refused the same way.
    let (code, _, err) = render_in(&s.estate, &s.estate, &["--out", ".", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(snapshot(&s.estate), before);
}

#[test]
fn a_folder_of_other_files_is_refused_without_a_record_and_kept_with_adopt() {
    let s = setup();
    write(&s.deploy.join(NOTES), NOTES_TEXT);
    let (code, out, err) = render(&s, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(RECORD) && err.contains("--adopt"), "{err}");
    assert_eq!(
        snapshot(&s.deploy).keys().collect::<Vec<_>>(),
        [NOTES],
        "nothing is written when refused"
    );

    // Taken over: Ward's paths are written, the notes are left alone and named.
    let (code, out, err) = render(&s, &["--adopt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("kept (not Ward's) {NOTES}")), "{out}");
    assert_eq!(
        std::fs::read_to_string(s.deploy.join(NOTES)).expect("kept"),
        NOTES_TEXT
    );
    assert!(!recorded_paths(&s.deploy).contains(&NOTES.to_string()));

    // From now on the record says what is Ward's: the notes stay, named each time.
    let json = render_json(&s, &[]);
    assert_eq!(strings(&json["tree"]["kept"]), [NOTES]);
    assert_eq!(json["removed"], 0);
    assert!(s.deploy.join(NOTES).is_file());
}

#[test]
fn a_manifest_at_the_top_of_a_folder_without_a_record_is_refused_and_named() {
    let s = setup();
    // Another tool's tree (a kustomization, a manifest) at the top: not a fresh clone.
    write(&s.deploy.join("README.md"), "# deploy\n");
    write(
        &s.deploy.join("kustomization.yaml"),
        "resources: [app.yaml]\n",
    );
    write(&s.deploy.join("app.yaml"), NOTES_TEXT);
    let (code, out, err) = render(&s, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("app.yaml, kustomization.yaml") && err.contains("--adopt"),
        "{err}"
    );
    assert!(!err.contains("README"), "{err}");
    assert_eq!(
        snapshot(&s.deploy).keys().collect::<Vec<_>>(),
        ["README.md", "app.yaml", "kustomization.yaml"],
        "nothing is written when refused"
    );
    // With --adopt Ward writes its tree beside them, touching neither.
    let (code, out, err) = render(&s, &["--adopt"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(s.deploy.join("app.yaml")).expect("kept"),
        NOTES_TEXT
    );
    assert!(!recorded_paths(&s.deploy).contains(&"app.yaml".to_string()));
}

#[test]
fn a_fresh_clone_of_a_deploy_repository_is_not_refused() {
    let s = setup();
    write(&s.deploy.join("README.md"), "# deploy\n");
    write(&s.deploy.join("Makefile"), "all:\n");
    write(&s.deploy.join(".github/workflows/ci.yaml"), "on: push\n");
    git(&s.deploy, &["init", "-q"]);
    let json = render_json(&s, &[]);
    assert!(json["written"].as_u64().unwrap_or(0) > 100, "{json}");
    assert_eq!(strings(&json["tree"]["kept"]), Vec::<String>::new());
    assert!(s.deploy.join("README.md").is_file());
    assert!(s.deploy.join(".github/workflows/ci.yaml").is_file());
    assert!(s.deploy.join(".git").is_dir());
}

#[test]
fn a_file_ward_wrote_and_no_longer_renders_is_removed_and_named() {
    let s = setup();
    render_json(&s, &[]);
    let first = recorded_paths(&s.deploy);
    write(&s.deploy.join(NOTES), NOTES_TEXT);
    std::fs::remove_file(s.estate.join("workloads/training-sandbox.yaml")).expect("rm");
    let (code, out, err) = render(&s, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let second = recorded_paths(&s.deploy);
    let gone: Vec<&String> = first.iter().filter(|p| !second.contains(p)).collect();
    assert!(gone.len() > 10, "the sandbox stack's files: {gone:?}");
    for path in &gone {
        assert!(
            out.contains(&format!("  removed {path}\n")),
            "{path}: {out}"
        );
        assert!(!s.deploy.join(path).exists(), "{path} is still there");
    }
    assert!(out.contains(&format!("{} removed", gone.len())), "{out}");
    assert!(
        s.deploy.join(NOTES).is_file(),
        "never Ward's, never removed"
    );
    assert!(out.contains(&format!("kept (not Ward's) {NOTES}")), "{out}");
}

#[test]
fn a_hand_edit_of_a_ward_file_is_overwritten_and_named() {
    let s = setup();
    render_json(&s, &[]);
    let path = "dedicated-eu1/billing-prod/deployment-odoo-web.yaml";
    let rendered = std::fs::read_to_string(s.deploy.join(path)).expect("rendered");
    write(&s.deploy.join(path), "kind: Deployment\n# edited by hand\n");
    let json = render_json(&s, &[]);
    assert_eq!(strings(&json["tree"]["handEdited"]), [path]);
    assert_eq!(strings(&json["tree"]["written"]), [path]);
    assert_eq!(
        std::fs::read_to_string(s.deploy.join(path)).expect("rewritten"),
        rendered
    );
}

#[test]
fn dry_run_writes_nothing_and_lists_what_would_change() {
    let s = setup();
    // A fresh folder: every file would be written, none is, the folder is not made.
    let json = render_json(&s, &["--dry-run"]);
    assert_eq!(json["dryRun"], true);
    assert_eq!(json["written"], json["files"]);
    assert!(!s.deploy.exists(), "a dry run makes no folder");

    render_json(&s, &[]);
    let before = snapshot(&s.deploy);
    std::fs::remove_file(s.estate.join("workloads/training-sandbox.yaml")).expect("rm");
    let edited = "dedicated-eu1/billing-prod/deployment-odoo-web.yaml";
    write(&s.deploy.join(edited), "edited\n");
    let before_edit = snapshot(&s.deploy);
    let (code, out, err) = render(&s, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("would remove "), "{out}");
    assert!(out.contains(&format!("  would write {edited}\n")), "{out}");
    assert!(
        out.contains(&format!("would overwrite a hand edit: {edited}")),
        "{out}"
    );
    assert_eq!(snapshot(&s.deploy), before_edit, "a dry run writes nothing");
    assert_ne!(before, before_edit);

    // What the dry run listed is what the write does.
    let dry = render_json(&s, &["--dry-run"]);
    let wet = render_json(&s, &[]);
    assert_eq!(dry["tree"], wet["tree"]);
    assert_eq!(
        render_json(&s, &["--dry-run"])["tree"]["written"],
        serde_json::json!([])
    );
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_record_names_the_estate_commit_and_the_bytes_written() {
    let s = setup();
    render_json(&s, &[]);
    let r = record(&s.deploy);
    assert_eq!(r["format"], 1);
    assert_eq!(r["target"], "kubernetes");
    let head = git_head(&s.estate);
    assert_eq!(head.len(), 40);
    assert_eq!(r["estateCommit"], head.as_str());
    assert_eq!(r["estateDirty"], false);
    let files = r["files"].as_object().expect("files");
    let on_disk = snapshot(&s.deploy);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        on_disk.keys().filter(|p| *p != RECORD).collect::<Vec<_>>(),
        "the record lists exactly the files Ward wrote"
    );
    for (path, hash) in files {
        assert_eq!(
            hash.as_str(),
            Some(sha256sum(&s.deploy.join(path)).as_str()),
            "{path}"
        );
    }
    // Deterministic: the same estate gives the same record bytes.
    let bytes = std::fs::read(s.deploy.join(RECORD)).expect("record");
    render_json(&s, &[]);
    assert_eq!(std::fs::read(s.deploy.join(RECORD)).expect("record"), bytes);
    // An uncommitted change is recorded as such.
    let team = s.estate.join("teams/platform.yaml");
    let text = std::fs::read_to_string(&team).expect("team");
    std::fs::write(&team, format!("{text}\n# uncommitted\n")).expect("write");
    render_json(&s, &[]);
    assert_eq!(record(&s.deploy)["estateDirty"], true);
}

#[test]
fn a_record_that_does_not_parse_is_refused_and_named() {
    let s = setup();
    render_json(&s, &[]);
    std::fs::write(s.deploy.join(RECORD), "{\"format\": 1,\n  \"files\": [").expect("write");
    let before = snapshot(&s.deploy);
    let (code, out, err) = render(&s, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(RECORD) && err.contains("line 2"), "{err}");
    assert_eq!(snapshot(&s.deploy), before);
    // A record that lists a path outside the tree is refused, not followed.
    let outside = s.tmp.path().join("precious.yaml");
    std::fs::write(&outside, "x: 1\n").expect("write");
    let hash = "0".repeat(64);
    std::fs::write(
        s.deploy.join(RECORD),
        format!("{{\"format\":1,\"target\":\"kubernetes\",\"estateCommit\":null,\"estateDirty\":false,\"files\":{{\"../precious.yaml\":\"{hash}\"}}}}"),
    )
    .expect("write");
    let (code, _, err) = render(&s, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        outside.is_file(),
        "a file outside the tree is never removed"
    );
}

#[test]
fn the_compose_target_records_and_removes_only_its_own_files() {
    let s = setup();
    // Compose refuses tier 1 (billing/prod): no WAL archive, no backup job.
    let (code, _, err) = render(&s, &["--target", "compose"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("billing/prod") && err.contains("tier 1"),
        "{err}"
    );
    std::fs::remove_file(s.estate.join("workloads/billing.yaml")).expect("rm");
    let json = render_json(&s, &["--target", "compose"]);
    assert!(json["written"].as_u64().unwrap_or(0) > 3, "{json}");
    assert_eq!(record(&s.deploy)["target"], "compose");
    let first = recorded_paths(&s.deploy);
    // The operator's secret files live inside the compose tree: never Ward's.
    let host = first
        .iter()
        .find_map(|p| p.strip_suffix("/compose.yaml"))
        .expect("a compose host")
        .to_string();
    let secret = format!("{host}/secrets/some-stack/db_password");
    write(&s.deploy.join(&secret), "not-a-real-password\n");
    std::fs::remove_file(s.estate.join("workloads/training-sandbox.yaml")).expect("rm");
    let json = render_json(&s, &["--target", "compose"]);
    let removed = strings(&json["tree"]["removed"]);
    let second = recorded_paths(&s.deploy);
    let gone: Vec<String> = first
        .iter()
        .filter(|p| !second.contains(p))
        .cloned()
        .collect();
    assert!(!gone.is_empty(), "the sandbox's compose files are gone");
    assert_eq!(removed, gone);
    assert!(strings(&json["tree"]["kept"]).contains(&secret));
    assert!(
        s.deploy.join(&secret).is_file(),
        "secrets are never removed"
    );
    // A Kubernetes render into a compose tree is refused.
    let (code, _, err) = render(&s, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("compose"), "{err}");
}

#[test]
fn a_plan_never_lists_a_file_ward_did_not_write() {
    let s = setup();
    render_json(&s, &[]);
    write(&s.deploy.join(NOTES), NOTES_TEXT);
    let plan = plan_json(&s.estate, &s.deploy);
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]), "{plan}");
    // The same at a commit of the deploy repository.
    git(&s.deploy, &["init", "-q"]);
    git(&s.deploy, &["add", "-A"]);
    git(&s.deploy, &["commit", "-qm", "deploy tree and notes"]);
    let plan = plan_git_json(&s.estate, &s.deploy, "HEAD");
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]), "{plan}");
}
