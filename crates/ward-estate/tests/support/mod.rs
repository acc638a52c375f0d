//! Shared test fixtures: a copy of the bundled example estate in a temporary folder, and
//! diagnostics flattened to `file:line:col: message` strings for assertions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use ward_estate::{Estate, LoadError};

pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ward-cli/src/example/healthcare")
}

/// A writable copy of the example estate.
pub fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&example_dir(), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

pub fn write(dir: &Path, rel: &str, text: impl AsRef<[u8]>) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// Replaces `from` with `to` in one file of the estate; panics if `from` is absent so a
/// test never passes by editing nothing.
pub fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let p = dir.join(rel);
    let text = std::fs::read_to_string(&p).expect("read");
    assert!(text.contains(from), "{rel} does not contain {from:?}");
    std::fs::write(p, text.replacen(from, to, 1)).expect("write");
}

pub fn load_ok(dir: &Path) -> Estate {
    match ward_estate::load(dir) {
        Ok(e) => e,
        Err(LoadError::Invalid {
            sources,
            diagnostics,
            ..
        }) => panic!(
            "estate invalid:\n{}",
            diagnostics
                .iter()
                .map(|d| format!("{}: {}", sources.location(d.span), d.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Err(e) => panic!("{e}"),
    }
}

/// One diagnostic flattened for assertions.
#[derive(Debug)]
pub struct Problem {
    pub location: String,
    pub message: String,
    pub hint: String,
    pub line_text: String,
    pub col: u32,
}

pub fn problems(dir: &Path) -> Vec<Problem> {
    match ward_estate::load(dir) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid {
            sources,
            diagnostics,
            ..
        }) => flatten(&sources, &diagnostics),
        Err(e) => panic!("unexpected load error: {e}"),
    }
}

/// The warnings of a load, whether it succeeded or not.
pub fn warnings(dir: &Path) -> Vec<Problem> {
    match ward_estate::load(dir) {
        Ok(estate) => flatten(&estate.sources, &estate.warnings),
        Err(LoadError::Invalid {
            sources, warnings, ..
        }) => flatten(&sources, &warnings),
        Err(e) => panic!("unexpected load error: {e}"),
    }
}

pub fn flatten(
    sources: &ward_estate::SourceMap,
    diagnostics: &[ward_estate::Diagnostic],
) -> Vec<Problem> {
    diagnostics
        .iter()
        .map(|d| Problem {
            location: sources.location(d.span).to_string(),
            message: d.message.clone(),
            hint: d.hint.clone().unwrap_or_default(),
            line_text: sources
                .get(d.span.file)
                .map(|f| f.line_text(d.span.line).to_string())
                .unwrap_or_default(),
            col: d.span.col,
        })
        .collect()
}

/// The single problem whose message contains `needle`; fails listing all otherwise.
pub fn find<'a>(problems: &'a [Problem], needle: &str) -> &'a Problem {
    let found: Vec<_> = problems
        .iter()
        .filter(|p| p.message.contains(needle))
        .collect();
    assert!(
        !found.is_empty(),
        "no problem mentions {needle:?}; got:\n{problems:#?}"
    );
    found[0]
}

/// The first problem located in `file` (a path, or a prefix such as `tags/a.yaml:4:`);
/// fails listing all otherwise.
pub fn in_file<'a>(problems: &'a [Problem], file: &str) -> &'a Problem {
    let prefix = if file.contains(':') {
        file.to_string()
    } else {
        format!("{file}:")
    };
    problems
        .iter()
        .find(|p| p.location.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no problem in {file}; got:\n{problems:#?}"))
}

/// The 1-based line of the first line of `rel` equal to `text`, so that tests pin exact
/// positions without breaking whenever the example estate gains a line.
pub fn line_of(dir: &Path, rel: &str, text: &str) -> usize {
    let content = std::fs::read_to_string(dir.join(rel)).expect("read");
    content
        .lines()
        .position(|l| l == text)
        .expect("line present")
        + 1
}
