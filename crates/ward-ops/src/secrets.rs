//! Resolves the estate's secret references at run time from a secrets folder, laid out as
//! Kubernetes mounts a Secret: `<dir>/<store>/<key>[/<property>]`, one value per file.
//!
//! The estate only names secrets; in a cluster the ExternalSecret fills a Secret that the
//! job mounts here, on a workstation an operator writes the files. Values never leave
//! [`SecretString`].

use std::path::{Path, PathBuf};

use ward_estate::model::SecretRef;
use ward_vault::SecretString;

use crate::Error;

/// A secret file is a password or a key, never large: refuse anything bigger unread.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The folder secret references resolve in.
#[derive(Clone, Debug)]
pub struct SecretsDir {
    root: PathBuf,
}

impl SecretsDir {
    pub fn new(root: impl Into<PathBuf>) -> SecretsDir {
        SecretsDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `reference` (plus an optional sub-file, for secrets with several parts such
    /// as S3 credentials) is read from.
    pub fn path_of(&self, reference: &SecretRef, part: Option<&str>) -> Result<PathBuf, Error> {
        let mut path = self.root.clone();
        push_segments(&mut path, "store", &reference.store.value)?;
        push_segments(&mut path, "key", &reference.key.value)?;
        for (what, extra) in [
            (
                "property",
                reference.property.as_ref().map(|p| p.value.as_str()),
            ),
            ("part", part),
        ] {
            if let Some(extra) = extra {
                push_segments(&mut path, what, extra)?;
            }
        }
        Ok(path)
    }

    /// Reads the secret, or `None` when its file is absent.
    pub fn read(
        &self,
        reference: &SecretRef,
        part: Option<&str>,
    ) -> Result<Option<SecretString>, Error> {
        let path = self.path_of(reference, part)?;
        read_secret_file(&path)
    }

    /// `store:key#property`, for messages: names the secret, never its value.
    pub fn describe(reference: &SecretRef) -> String {
        let mut out = format!("{}:{}", reference.store.value, reference.key.value);
        if let Some(p) = &reference.property {
            out.push('#');
            out.push_str(&p.value);
        }
        out
    }
}

fn push_segments(path: &mut PathBuf, what: &str, value: &str) -> Result<(), Error> {
    for segment in value.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\0') {
            return Err(Error::bad_input(
                format!("the secret reference's {what} {value:?} cannot name a file"),
                "use `/`-separated names without empty, `.` or `..` parts",
            ));
        }
        path.push(segment);
    }
    Ok(())
}

fn read_secret_file(path: &Path) -> Result<Option<SecretString>, Error> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        Error::operational(
            format!("cannot read the secret file {}: {e}", path.display()),
            "check the file's permissions, or the mount of the secret",
        )
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(Error::bad_input(
            format!(
                "the secret file {} is over {MAX_SECRET_BYTES} bytes",
                path.display()
            ),
            "a secret file holds one value: a password or a key",
        ));
    }
    let Ok(mut text) = String::from_utf8(bytes) else {
        return Err(Error::bad_input(
            format!("the secret file {} is not UTF-8 text", path.display()),
            "write the value as text",
        ));
    };
    // Editors and `echo` end files with a newline that is not part of the value.
    for suffix in ["\r\n", "\n"] {
        if text.ends_with(suffix) {
            text.truncate(text.len() - suffix.len());
            break;
        }
    }
    if text.is_empty() {
        return Err(Error::bad_input(
            format!("the secret file {} is empty", path.display()),
            "write the value into it, or remove the file",
        ));
    }
    Ok(Some(SecretString::new(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_estate::Spanned;

    fn reference(store: &str, key: &str, property: Option<&str>) -> SecretRef {
        SecretRef {
            store: Spanned::new(store.to_string(), ward_estate::Span::NONE),
            key: Spanned::new(key.to_string(), ward_estate::Span::NONE),
            property: property.map(|p| Spanned::new(p.to_string(), ward_estate::Span::NONE)),
        }
    }

    #[test]
    fn reads_the_file_a_kubernetes_secret_mount_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let secrets = SecretsDir::new(dir.path());
        let r = reference("hospital-vault", "odoo/billing/prod", Some("db_password"));
        let path = secrets.path_of(&r, None).expect("path");
        assert_eq!(
            path,
            dir.path()
                .join("hospital-vault/odoo/billing/prod/db_password")
        );
        assert!(secrets.read(&r, None).expect("absent").is_none());
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "s3cr3t\n").expect("write");
        let value = secrets.read(&r, None).expect("read").expect("present");
        assert_eq!(value.expose(), "s3cr3t");
        assert_eq!(format!("{value:?}"), "SecretString(***)");

        let s3 = reference("hospital-vault", "platform/vault", None);
        let id = secrets.path_of(&s3, Some("access_key_id")).expect("path");
        assert!(id.ends_with("hospital-vault/platform/vault/access_key_id"));
    }

    #[test]
    fn refuses_paths_that_escape_and_files_that_are_not_one_value() {
        let dir = tempfile::tempdir().expect("tmp");
        let secrets = SecretsDir::new(dir.path());
        for key in ["../etc/passwd", "a//b", "/abs", "a/./b", ""] {
            assert!(
                secrets.path_of(&reference("s", key, None), None).is_err(),
                "{key}"
            );
        }
        let r = reference("s", "k", None);
        let path = secrets.path_of(&r, None).expect("path");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "\n").expect("write");
        assert!(secrets.read(&r, None).is_err(), "empty");
        std::fs::write(&path, vec![b'x'; 70_000]).expect("write");
        assert!(secrets.read(&r, None).is_err(), "too big");
        std::fs::write(&path, [0xff, 0xfe]).expect("write");
        assert!(secrets.read(&r, None).is_err(), "not utf-8");
    }
}
