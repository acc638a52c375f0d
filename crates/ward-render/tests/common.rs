//! Helpers shared by the integration tests: the bundled example estate and the upstream
//! CRD schemas vendored in `tests/crds/` (their sources in `tests/crds/README.md`).
#![allow(dead_code)]

use std::path::PathBuf;

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
