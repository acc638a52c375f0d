//! Helpers shared by the integration tests: the bundled example estate and the upstream
//! CRD schemas vendored in `tests/crds/` (their sources in `tests/crds/README.md`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use ward_estate::{Estate, LoadError};

pub fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ward-cli/src/example/healthcare")
}

pub fn example() -> ward_estate::Estate {
    match ward_estate::load(&example_dir()) {
        Ok(e) => e,
        Err(e) => panic!("example estate does not load: {e:?}"),
    }
}

/// The vendored upstream CRDs, part of the repository.
pub fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crds")
}

/// The example estate loaded from memory, each file's text passed through `edit` with its
/// path relative to the estate (`workloads/billing.yaml`).
pub fn example_edited(edit: impl Fn(&str, String) -> String) -> Result<Estate, LoadError> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read the example")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .expect("inside the example")
                    .to_string_lossy()
                    .into_owned();
                out.push((name, std::fs::read(&path).expect("read a file")));
            }
        }
    }
    let root = example_dir();
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    for (name, bytes) in &mut files {
        let text = String::from_utf8(bytes.clone()).expect("utf-8");
        *bytes = edit(name, text).into_bytes();
    }
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    ward_estate::load::load_files(&borrowed)
}

/// The estate, or a panic listing why it does not load.
pub fn loaded(estate: Result<Estate, LoadError>) -> Estate {
    match estate {
        Ok(e) => e,
        Err(LoadError::Invalid { diagnostics, .. }) => {
            panic!("the edited example does not load: {diagnostics:#?}")
        }
        Err(e) => panic!("the edited example does not load: {e}"),
    }
}
