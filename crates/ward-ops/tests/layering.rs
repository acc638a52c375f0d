//! The layering rules DESIGN.md sets, checked on the source: no library crate reads an
//! environment variable or prints; only the binaries do (`ward-cli`, and later the
//! server's binary entry point).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `src/` files of every library crate (everything but the `ward` binary's crate).
fn library_sources() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("crates folder").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "ward-cli" || name == "ward-pgtemp" {
            // The binary reads the environment; ward-pgtemp is a test-only crate.
            continue;
        }
        rust_files(&entry.path().join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    files
}

/// Lines outside `#[cfg(test)]` modules (which always come last in a file here).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("read");
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(n, l)| (n + 1, l.to_string()))
        .collect()
}

#[test]
fn no_library_crate_reads_an_environment_variable() {
    let mut found = Vec::new();
    for file in library_sources() {
        for (n, line) in code_lines(&file) {
            if ["env::var(", "env::var_os(", "env::vars("]
                .iter()
                .any(|p| line.contains(p))
            {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "environment reads in library crates:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_library_crate_prints() {
    let mut found = Vec::new();
    for file in library_sources() {
        for (n, line) in code_lines(&file) {
            if ["println!(", "print!(", "dbg!("]
                .iter()
                .any(|p| line.contains(p))
            {
                found.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "printing in library crates:\n{}",
        found.join("\n")
    );
}
