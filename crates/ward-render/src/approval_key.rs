//! Approval keys: the Ed25519 SSH key pairs people sign approvals with (`ssh-keygen -Y
//! sign -n ward-approval`, see [`crate::approval`]), generated in OpenSSH's own formats so
//! that `ssh-keygen` reads them, or read back from a key file made before.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an unencrypted OpenSSH private key: {message}")]
    Format { path: PathBuf, message: String },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// The public key file beside a private key: `<key>.pub`, as `ssh-keygen` names it.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The public key (one `ssh-ed25519 AAAA… comment` line) of the private key at `path`,
/// generating the pair first when `path` does not exist: the private key with mode 0600
/// (never overwriting a file), the public key beside it at [`public_path`]. An existing
/// private key is reused as it is, whatever its comment.
pub fn ensure_key_pair(path: &Path, comment: &str) -> Result<String, KeyError> {
    let format = |message: String| KeyError::Format {
        path: path.to_path_buf(),
        message,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let key =
            ssh_key::PrivateKey::from_openssh(text.trim()).map_err(|e| format(e.to_string()))?;
        if key.is_encrypted() {
            return Err(format("it is encrypted".into()));
        }
        return key
            .public_key()
            .to_openssh()
            .map_err(|e| format(e.to_string()));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let pair = ssh_key::private::Ed25519Keypair::from_seed(&seed);
    seed.fill(0);
    let mut key = ssh_key::PrivateKey::from(pair);
    key.set_comment(comment);
    let private = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| format(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format(e.to_string()))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    write_new(path, private.as_bytes(), 0o600).map_err(io(path))?;
    let public_file = public_path(path);
    write_new(&public_file, format!("{public}\n").as_bytes(), 0o644).map_err(io(&public_file))?;
    Ok(public)
}

/// Writes a new file (refusing one that exists) with the given mode from the start.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_is_reused_and_signs_what_its_public_key_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/alice");
        let public = ensure_key_pair(&path, "alice").expect("generated");
        assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" alice"));
        assert_eq!(ensure_key_pair(&path, "other").expect("reused"), public);
        let written = std::fs::read_to_string(public_path(&path)).expect("pub file");
        assert_eq!(written.trim(), public);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let private = ssh_key::PrivateKey::read_openssh_file(&path).expect("OpenSSH private key");
        let sig = private
            .sign(
                crate::approval::NAMESPACE,
                ssh_key::HashAlg::Sha512,
                b"change",
            )
            .expect("signs");
        let key = ssh_key::PublicKey::from_openssh(&public).expect("public");
        key.verify(crate::approval::NAMESPACE, b"change", &sig)
            .expect("verifies");
    }

    #[test]
    fn a_file_that_is_no_key_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bob");
        std::fs::write(&path, "not a key").expect("write");
        let err = ensure_key_pair(&path, "bob").expect_err("refused");
        assert!(err.to_string().contains("bob"), "{err}");
    }
}
