//! An S3 object store with no credentials: `ward backup list` is refused as bad input
//! (exit 2), naming the variables and the secret files Ward looked for, never the cloud's
//! instance-metadata URL the S3 client would otherwise fall back to.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(estate: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ward"));
    cmd.arg("--estate")
        .arg(estate)
        .args(args)
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env_remove("WARD_SECRETS_DIR")
        .env_remove("WARD_PUSHGATEWAY")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("WARD_ACTOR", "alice")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run ward");
    // Without whitespace: the text report wraps long lines (even paths) and marks
    // continuations with `│`; callers compare with [`squeezed`] needles.
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    )
    .lines()
    .map(|l| l.trim().trim_start_matches('│').trim())
    .collect::<String>();
    (status.code().unwrap_or(-1), squeezed(&said))
}

fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The example estate, whose environments back up to the S3 store `care-backups` (with
/// the credentials secret `hospital-vault:platform/ward-backups`), except the sandbox, which
/// is moved there too so that every store in use is S3.
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
    let path = dir.join("workloads/training-sandbox.yaml");
    let text = std::fs::read_to_string(&path).expect("test setup");
    let from = "      objectStore: vault\n";
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, "")).expect("test setup");
    dir
}

#[test]
fn missing_s3_credentials_name_what_was_looked_for() {
    let tmp = tempfile::tempdir().expect("test setup");
    let dir = estate(&tmp);
    let secrets = tmp.path().join("secrets");
    let secrets_dir = secrets.to_str().expect("test setup");

    let (code, said) = ward(&dir, &["--secrets-dir", secrets_dir, "backup", "list"], &[]);
    assert_eq!(code, 2, "{said}");
    // The report wraps lines, so paths are checked with the wrapping removed.
    for named in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "hospital-vault:platform/ward-backups",
        &format!("{secrets_dir}/hospital-vault/platform/ward-backups/access_key_id"),
        &format!("{secrets_dir}/hospital-vault/platform/ward-backups/secret_access_key"),
    ] {
        assert!(said.contains(&squeezed(named)), "{named} in: {said}");
    }
    assert!(!said.contains("169.254"), "{said}");

    // Half a pair in the environment is named as such, not silently mixed with files.
    let (code, said) = ward(
        &dir,
        &["--secrets-dir", secrets_dir, "backup", "list"],
        &[("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")],
    );
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains(&squeezed(
            "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )),
        "{said}"
    );
    assert!(!said.contains("AKIAEXAMPLE"), "{said}");
}
