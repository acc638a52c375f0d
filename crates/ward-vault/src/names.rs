//! Names that become paths or object keys. One check owns "a safe single path component",
//! and every name from input passes it before it is joined to anything: database names,
//! tenants, workloads, environments, snapshot ids, and what a manifest (attacker-writable,
//! so input too) says about store_fnames and objects.

use std::path::{Path, PathBuf};

use crate::error::{Result, VaultError};

/// The longest component: PostgreSQL's identifier limit (NAMEDATALEN - 1), which a
/// database name, and so its filestore folder, must meet anyway.
pub const MAX_COMPONENT_BYTES: usize = 63;

/// Checks that `name` is one safe path component: 1-63 bytes, no `/`, `\`, NUL or other
/// control character, and not starting with `.` (so never `.`, `..` or a hidden file such
/// as Ward's own marker). `kind` names the thing in the error ("database name", ...).
pub fn check_component(kind: &str, name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > MAX_COMPONENT_BYTES {
        Some(format!(
            "it is {} bytes long, over the {MAX_COMPONENT_BYTES} PostgreSQL allows",
            name.len()
        ))
    } else if name.starts_with('.') {
        Some("it starts with '.'".to_string())
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator ('/' or '\\')".to_string())
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character (NUL, newline, ...)".to_string())
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(VaultError::InvalidInput(format!(
            "{kind} {name:?} cannot name a folder or object: {why}; use 1-{MAX_COMPONENT_BYTES} bytes of letters, digits, '_' or '-'"
        ))),
    }
}

/// Checks a tenant, workload or environment name: it becomes part of object paths, so on
/// top of being one safe component it is lowercase letters, digits, '-' and '_'.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    check_component(&format!("{kind} name"), name)?;
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidInput(format!(
            "{kind} name {name:?} must be 1-63 lowercase letters, digits, '-' or '_'"
        )))
    }
}

/// The filestore folder of database `database` in Odoo's layout,
/// `<data_dir>/filestore/<database>`, once the name is known to be one safe component:
/// the folder can never be outside `<data_dir>/filestore`.
pub fn filestore_folder(data_dir: &Path, database: &str) -> Result<PathBuf> {
    check_component("database name", database)?;
    Ok(data_dir.join("filestore").join(database))
}

/// The sha1 of Odoo's `store_fname` (`ab/ab…`, 40 lowercase hex digits), or `None` when it
/// is anything else: only such names are ever read or written.
pub(crate) fn sha1_of_store_fname(store_fname: &str) -> Option<&str> {
    let (dir, sha1) = store_fname.split_once('/')?;
    let ok = sha1.len() == 40 && is_lower_hex(sha1) && dir == &sha1[..2];
    ok.then_some(sha1)
}

/// Where the file of `store_fname` goes under a filestore folder, or `None` when the name
/// is not Odoo's `<sha1[:2]>/<sha1>` (two hex components, nothing else).
pub(crate) fn filestore_file(root: &Path, store_fname: &str) -> Option<PathBuf> {
    let sha1 = sha1_of_store_fname(store_fname)?;
    Some(root.join(&sha1[..2]).join(sha1))
}

/// Whether `object` is a blob object of `tenant` as Ward names them,
/// `tenants/<tenant>/blobs/<n[:2]>/<n>` with `n` 64 lowercase hex digits.
pub(crate) fn is_blob_object(tenant: &str, object: &str) -> bool {
    let Some(rest) = object
        .strip_prefix("tenants/")
        .and_then(|r| r.strip_prefix(tenant))
        .and_then(|r| r.strip_prefix("/blobs/"))
    else {
        return false;
    };
    match rest.split_once('/') {
        Some((dir, name)) => name.len() == 64 && is_lower_hex(name) && dir == &name[..2],
        None => false,
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a name could leave its folder or hide in it is refused, by the one check.
    #[test]
    fn only_single_safe_components_pass() {
        let long = "a".repeat(64);
        for bad in [
            "",
            ".",
            "..",
            "../../escaped",
            "/some/folder",
            "a/b",
            "a\\b",
            "..\\x",
            "nul\0byte",
            "new\nline",
            ".ward-restored",
            long.as_str(),
        ] {
            assert!(check_component("database name", bad).is_err(), "{bad:?}");
            assert!(
                filestore_folder(Path::new("/srv/odoo"), bad).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            "billing",
            "billing_check",
            "Billing-2026",
            "a",
            &"a".repeat(63),
        ] {
            assert_eq!(
                filestore_folder(Path::new("/srv/odoo"), good).ok(),
                Some(PathBuf::from(format!("/srv/odoo/filestore/{good}"))),
            );
        }
    }

    #[test]
    fn store_fnames_and_blob_objects_have_one_shape() {
        let sha = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let root = Path::new("/r");
        assert_eq!(
            filestore_file(root, &format!("da/{sha}")),
            Some(root.join("da").join(sha))
        );
        for bad in [
            format!("../{sha}"),
            format!("db/{sha}"),
            format!("da/{sha}/x"),
            format!("/da/{sha}"),
            "da/..".to_string(),
            format!("da/{}", sha.to_uppercase()),
        ] {
            assert_eq!(filestore_file(root, &bad), None, "{bad:?}");
        }
        let n = "ab".repeat(32);
        assert!(is_blob_object("t", &format!("tenants/t/blobs/ab/{n}")));
        for bad in [
            format!("tenants/u/blobs/ab/{n}"),
            format!("tenants/t/blobs/cd/{n}"),
            format!("tenants/t/blobs/ab/{n}/x"),
            "tenants/t/blobs/ab/../../../x".to_string(),
            format!("tenants/t/snapshots/ab/{n}"),
        ] {
            assert!(!is_blob_object("t", &bad), "{bad:?}");
        }
    }

    #[test]
    fn environment_names_are_components_too() {
        assert!(check_name("tenant", "st-marys").is_ok());
        for bad in ["", "..", "a/b", "-x", "A", "a\0"] {
            assert!(check_name("tenant", bad).is_err(), "{bad:?}");
        }
    }
}
