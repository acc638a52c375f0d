//! What the deploy-tree tests share: running `ward` as an actor, and SSH approvals made
//! and signed with the real `ssh-keygen`.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn ward(estate: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
    ward_in(Path::new("."), estate, actor, args)
}

/// [`ward`], run from the folder `cwd` (relative paths in `args` are read from there).
pub fn ward_in(cwd: &Path, estate: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .current_dir(cwd)
        .args(["--estate", estate.to_str().expect("utf8"), "--actor", actor])
        .args(args)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run ward");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ward init DIR --example healthcare`: the example estate as a Git repository with one
/// commit, at `dir/estate`.
pub fn init_example(dir: &Path) -> PathBuf {
    let estate = dir.join("estate");
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "init",
            estate.to_str().expect("utf8"),
            "--example",
            "healthcare",
        ])
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    estate
}

pub fn has_ssh_keygen() -> bool {
    Command::new("ssh-keygen").arg("-?").output().is_ok()
}

/// Generates an ed25519 key pair in `dir`; returns the private key path and public key.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    (key, public.trim().to_string())
}

/// `printf %s CHANGE_ID | ssh-keygen -Y sign -f KEY -n NAMESPACE`
pub fn sign(key: &Path, namespace: &str, message: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", namespace, "-f"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh-keygen -Y sign");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("signs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("armored signature")
}

pub fn write_approvals(estate: &Path, change_id: &str, entries: &[(&str, &str)]) {
    let mut text = format!("changeId: \"{change_id}\"\napprovals:\n");
    for (by, sig) in entries {
        text.push_str(&format!("  - by: {by}\n    signature: |\n"));
        for line in sig.lines() {
            text.push_str(&format!("      {line}\n"));
        }
    }
    std::fs::create_dir_all(estate.join("approvals")).expect("mkdir");
    std::fs::write(estate.join(format!("approvals/{change_id}.yaml")), text)
        .expect("write approvals");
}

/// `git -C dir args…` with a fixed identity that is no Team person; fails the test if
/// git fails.
pub fn git(dir: &Path, args: &[&str]) {
    git_as(dir, "t", "t@example.invalid", args);
}

/// `git -C dir args…` as author and committer `name <email>`.
pub fn git_as(dir: &Path, name: &str, email: &str, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commits everything in the estate as the Team person `name` (`<name>@care.example`).
pub fn commit_as(estate: &Path, name: &str, message: &str) {
    let email = format!("{name}@care.example");
    git_as(estate, name, &email, &["add", "-A"]);
    git_as(estate, name, &email, &["commit", "-qm", message]);
}

/// `ward plan --against DEPLOY -o json`, as erin.
pub fn plan_json(estate: &Path, deploy: &Path) -> serde_json::Value {
    let (code, out, err) = ward(
        estate,
        "erin",
        &[
            "plan",
            "--against",
            deploy.to_str().expect("utf8"),
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("plan json")
}

/// `ward plan --against-git REV --repo REPO -o json`, as erin.
pub fn plan_git_json(estate: &Path, repo: &Path, rev: &str) -> serde_json::Value {
    let repo = repo.to_str().expect("utf8");
    let args = ["plan", "--against-git", rev, "--repo", repo, "-o", "json"];
    let (code, out, err) = ward(estate, "erin", &args);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str(&out).expect("plan json")
}

/// The plan's change id, with the whole plan.
pub fn change_id(estate: &Path, deploy: &Path) -> (String, serde_json::Value) {
    let v = plan_json(estate, deploy);
    (
        v["plan"]["changeId"]
            .as_str()
            .expect("change id")
            .to_string(),
        v,
    )
}

/// Sets `keys.ssh` of a person of the team file: replacing the key `ward init` wrote, else
/// beside an existing `keys:` block, else as a new one.
pub fn add_ssh_key(text: &str, name: &str, role: &str, public: &str) -> String {
    let anchor = format!("email: {name}@care.example\n      roles: [{role}]\n");
    let Some(at) = text.find(&anchor) else {
        panic!("team file layout changed: no `{anchor}`");
    };
    let (head, rest) = text.split_at(at + anchor.len());
    // The person's own lines run until the next `    - name:` entry.
    let person_end = if rest.starts_with("    - ") {
        0
    } else {
        rest.find("\n    - ").map_or(rest.len(), |i| i + 1)
    };
    let (person, tail) = rest.split_at(person_end);
    let person = if let Some(k) = person.find("        ssh: ") {
        let end = person[k..].find('\n').map_or(person.len(), |e| k + e + 1);
        format!(
            "{}        ssh: \"{public}\"\n{}",
            &person[..k],
            &person[end..]
        )
    } else if let Some(k) = person.find("      keys:\n") {
        let (a, b) = person.split_at(k + "      keys:\n".len());
        format!("{a}        ssh: \"{public}\"\n{b}")
    } else {
        format!("      keys: {{ ssh: \"{public}\" }}\n{person}")
    };
    format!("{head}{person}{tail}")
}

/// [`add_ssh_key`] on a team file in place.
pub fn add_ssh_key_to(team: &Path, name: &str, role: &str, public: &str) {
    let text = std::fs::read_to_string(team).expect("team");
    std::fs::write(team, add_ssh_key(&text, name, role, public)).expect("write team");
}

/// The full commit id of HEAD in `dir`.
pub fn git_head(dir: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
