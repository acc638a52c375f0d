//! Restore keys through the real binary: `ward init --break-glass-recipient` encrypts every
//! backup to an identity made elsewhere (with the real `age-keygen`) and keeps none here; a
//! malformed or secret value is an input error; an identity file others may read is
//! refused with the `chmod 600` fix, and read again once private.

mod vault_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use vault_support::{World, json, run};
use ward_vault::fixture::OdooFixture;

/// An identity made as an offline machine would make it: `age-keygen -o FILE` (0600), and
/// its recipient as `age-keygen -y` prints it. Ward's own generator where age is missing.
fn offline_identity(path: &Path) -> String {
    let made = Command::new("age-keygen").arg("-o").arg(path).output();
    match made {
        Ok(out) if out.status.success() => {
            let out = Command::new("age-keygen")
                .arg("-y")
                .arg(path)
                .output()
                .expect("age-keygen -y");
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        }
        _ => ward_vault::generate_identity_file(path).expect("identity"),
    }
}

/// What a failure says, as one line: the text report wraps long lines (`│` continues
/// them) and `-o json` puts it on stdout.
fn said(out: &str, err: &str) -> String {
    format!("{out}\n{err}")
        .lines()
        .map(|l| l.trim().trim_start_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn init_in(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["-o", "json", "init"])
        .arg(dir)
        .args(extra)
        .env_remove("WARD_STATE")
        .env("NO_COLOR", "1"))
}

#[test]
fn a_given_break_glass_recipient_is_used_and_its_identity_never_written_here() {
    let offline = tempfile::tempdir().expect("tmp");
    let break_glass = offline.path().join("break-glass.age");
    let recipient = offline_identity(&break_glass);
    assert!(recipient.starts_with("age1"), "{recipient}");

    let w = World::with_init(
        OdooFixture {
            attachments: 5,
            ..OdooFixture::default()
        },
        &["--break-glass-recipient", &recipient],
    );
    let state = w.state();
    assert!(state.join("keys/bob.age").is_file(), "the DBA's identity");
    assert!(
        !state.join("keys/break-glass.age").exists(),
        "no break-glass identity generated"
    );
    let platform = std::fs::read_to_string(w.estate.join("platform.yaml")).expect("platform");
    assert!(
        platform.contains(&format!("  breakGlassRecipient: {recipient}\n")),
        "{platform}"
    );
    assert!(platform.contains("given to\n  # `ward init`"), "{platform}");
    let (code, out, err) = w.ward(&["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("-dirty"), "the recipient is committed: {out}");
    let (code, out, _) = w.ward(&["audit", "log", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)[0]["details"]["breakGlass"], "given", "{out}");

    // Backups are encrypted to it: the offline identity alone restores one.
    let id = w.backed_up();
    let data = w.tmp.path().join("restored-data");
    let (code, out, err) = w.restore(
        &id,
        "by_break_glass",
        &data,
        &["--identity", break_glass.to_str().expect("utf8")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(w.has_database("by_break_glass"));

    // The DBA's identity, made readable by others: refused, naming the file and the fix,
    // before anything is restored.
    let bob = state.join("keys/bob.age");
    for mode in [0o644, 0o640] {
        chmod(&bob, mode);
        let (code, out, err) = w.restore(&id, "by_exposed_key", &data, &[]);
        assert_eq!(code, 2, "{out}{err}");
        let err = said(&out, &err);
        assert!(
            err.contains(&bob.display().to_string())
                && err.contains(&format!("chmod 600 {}", bob.display())),
            "{err}"
        );
        assert!(err.contains(&format!("{mode:04o}")), "{err}");
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
        assert!(!w.has_database("by_exposed_key"));
    }
    // And through --identity too.
    chmod(&break_glass, 0o644);
    let (code, _, err) = w.restore(
        &id,
        "by_exposed_key",
        &data,
        &["--identity", break_glass.to_str().expect("utf8")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(said("", &err).contains("chmod 600"), "{err}");
    // Private again, it works.
    chmod(&bob, 0o600);
    let (code, out, err) = w.restore(&id, "by_bob", &w.tmp.path().join("bob-data"), &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_malformed_break_glass_recipient_is_an_input_error_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("care");
    for bad in ["age1notarecipient", "", "ssh-ed25519 AAAAC3Nza"] {
        let (code, out, err) = init_in(&dir, &["--break-glass-recipient", bad]);
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
        let err = said(&out, &err);
        assert!(
            err.contains("--break-glass-recipient is not an age X25519 recipient")
                && err.contains("age-keygen"),
            "{err}"
        );
        assert!(!dir.exists(), "{bad:?}: nothing is written");
    }
    // A secret key pasted by mistake is named as such and never echoed.
    let key = tmp.path().join("secret.age");
    offline_identity(&key);
    let text = std::fs::read_to_string(&key).expect("identity");
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("a secret key line");
    let (code, out, err) = init_in(&dir, &["--break-glass-recipient", secret]);
    assert_eq!(code, 2, "{out}{err}");
    let said = said(&out, &err);
    assert!(said.contains("is an age secret key"), "{said}");
    assert!(!said.contains(secret), "{said}");
    assert!(!said.contains("AGE-SECRET-KEY-1"), "{said}");
    assert!(!dir.exists());

    // Without the option, both identities are generated, as before.
    let (code, out, err) = init_in(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    let generated = v["identities"]["breakGlass"].as_str().expect("a path");
    assert!(Path::new(generated).is_file(), "{generated}");
    let recipient = v["breakGlassRecipient"].as_str().expect("recipient");
    let platform = std::fs::read_to_string(dir.join("platform.yaml")).expect("platform");
    assert!(
        platform.contains(&format!("breakGlassRecipient: {recipient}")),
        "{platform}"
    );
}
