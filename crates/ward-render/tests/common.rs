//! Helpers shared by the integration tests: the bundled example estate and the upstream
//! CRD schemas from `../shared/schemas/crds/`.
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

/// `shared/schemas/crds`, beside the repository (CI) or beside the work tree.
pub fn crds_dir() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        repo.join("../shared/schemas/crds"),
        PathBuf::from("/work/shared/schemas/crds"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
}
