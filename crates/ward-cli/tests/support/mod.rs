//! What the deploy-tree tests share: running `ward` as an actor, and SSH approvals made
//! and signed with the real `ssh-keygen`.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn ward(estate: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
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
