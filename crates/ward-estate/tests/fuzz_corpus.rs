//! Replays the fuzz corpus (`fuzz/corpus/load_estate`) through the loader on every test
//! run, so inputs that once found a bug stay fixed even where cargo-fuzz is not installed.

use std::path::Path;

#[test]
fn every_corpus_input_loads_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let platform = std::fs::read(root.join("crates/ward-cli/src/example/healthcare/platform.yaml"))
        .expect("platform");
    let teams =
        std::fs::read(root.join("crates/ward-cli/src/example/healthcare/teams/platform.yaml"))
            .expect("teams");
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("fuzz/corpus/load_estate")).expect("corpus folder") {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read");
        let result = ward_estate::load::load_files(&[
            ("platform.yaml", &platform),
            ("teams.yaml", &teams),
            ("fuzz.yaml", &data),
        ]);
        // Whatever the input, the result is a decision: an estate or diagnostics.
        match result {
            Ok(_) | Err(ward_estate::LoadError::Invalid { .. }) => seen += 1,
            Err(e) => panic!("{}: unexpected error kind: {e}", path.display()),
        }
    }
    assert!(seen >= 10, "corpus has only {seen} inputs");
}
