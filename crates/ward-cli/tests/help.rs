//! `ward <command> --help` for every command, compared with the text checked in under
//! `tests/help/`, so that a change to help text is a deliberate one. Run with
//! `WARD_UPDATE_HELP=1` to rewrite the files after such a change, and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(path)
        .arg("--help")
        // The width and the environment shown as `[env: …=]` must not depend on the
        // machine the test runs on.
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("WARD_ESTATE")
        .env_remove("WARD_STATE")
        .env_remove("WARD_SECRETS_DIR")
        .env_remove("WARD_OBJECT_STORE")
        .env_remove("WARD_ACTOR")
        .output()
        .expect("run ward");
    assert!(out.status.success(), "ward {path:?} --help");
    String::from_utf8(out.stdout).expect("utf8")
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let Some(start) = help.find("\nCommands:\n") else {
        return Vec::new();
    };
    help[start + "\nCommands:\n".len()..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// Every command path, `[]` for `ward` itself, found from the help texts themselves so
/// that a new command cannot go without a snapshot.
fn every_command() -> Vec<Vec<String>> {
    let mut found = vec![Vec::new()];
    let mut i = 0;
    while i < found.len() {
        let path = found[i].clone();
        for sub in subcommands(&help(&path)) {
            let mut p = path.clone();
            p.push(sub);
            found.push(p);
        }
        i += 1;
    }
    found
}

fn snapshot_file(dir: &Path, path: &[String]) -> PathBuf {
    let name = if path.is_empty() {
        "ward".to_string()
    } else {
        path.join("-")
    };
    dir.join(format!("{name}.txt"))
}

#[test]
fn help_texts_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/help");
    let update = std::env::var_os("WARD_UPDATE_HELP").is_some_and(|v| v == "1");
    let commands = every_command();
    assert!(commands.len() > 20, "found {} commands", commands.len());
    let mut expected_files = Vec::new();
    let mut differ = Vec::new();
    for path in &commands {
        let text = help(path);
        let file = snapshot_file(&dir, path);
        expected_files.push(file.clone());
        if update {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(&file, &text).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(saved) if saved == text => {}
            Ok(_) => differ.push(format!("{} differs", file.display())),
            Err(_) => differ.push(format!("{} is missing", file.display())),
        }
    }
    // A snapshot of a command that no longer exists is stale.
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let file = entry.expect("entry").path();
        if !expected_files.contains(&file) {
            if update {
                std::fs::remove_file(&file).expect("remove stale snapshot");
            } else {
                differ.push(format!("{} names no command", file.display()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "help changed; if that is meant, run `WARD_UPDATE_HELP=1 cargo nextest run -p ward-cli \
         --test help` and review the diff:\n{}",
        differ.join("\n")
    );
}

#[test]
fn help_separates_global_options_and_examples_do_not_wrap() {
    let mut problems = Vec::new();
    for path in every_command() {
        let text = help(&path);
        if !text.contains("\nGlobal options:\n") {
            problems.push(format!("ward {path:?}: no Global options heading"));
        }
        let Some(at) = text.find("\nExample") else {
            problems.push(format!("ward {path:?} --help has no example"));
            continue;
        };
        // Every example line is a whole command, indented; a wrapped one would start a
        // line of its own at the margin.
        for line in text[at + 1..].lines().skip(1).filter(|l| !l.is_empty()) {
            if !line.starts_with("  ") || line.chars().count() > 100 {
                problems.push(format!(
                    "ward {path:?}: example wraps or overflows: {line:?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
