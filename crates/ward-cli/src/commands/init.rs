//! `ward init`: writes an example estate into a new Git repository, with the example DBA's
//! and a break-glass age identity generated into the state folder.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Create a new estate from a bundled example and commit it in a new Git repository.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  ward init care --example healthcare\n  ward --estate care validate"
)]
pub struct Args {
    /// Folder to create; it must not exist or be empty.
    pub dir: PathBuf,
    /// Which example to write.
    #[arg(long, value_parser = ["healthcare"], default_value = "healthcare")]
    pub example: String,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let files = crate::example::by_name(&args.example).ok_or_else(|| {
        Failure::bad_input(
            format!("unknown example `{}`", args.example),
            "use --example healthcare",
        )
    })?;
    let dir = &args.dir;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::bad_input(
            format!("{} exists and is not empty", dir.display()),
            "choose a new folder; ward init never overwrites files",
        ));
    }
    let io = |what: &str, path: &Path, e: std::io::Error| {
        Failure::operational(
            format!("cannot {what} {}: {e}", path.display()),
            "check the folder's permissions and free space",
        )
    };
    for f in files {
        let path = dir.join(f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
        }
        std::fs::write(&path, f.text).map_err(|e| io("write", &path, e))?;
    }
    // The state folder holds the ledger, keys and the local vault: never committed.
    let ignore = dir.join(".gitignore");
    std::fs::write(&ignore, ".ward/\n").map_err(|e| io("write", &ignore, e))?;
    // Restore keys: the example DBA's identity and a break-glass identity, whose public
    // recipients go into the estate before its first commit.
    let state = cx.state_dir_for(dir);
    let keys = crate::commands::backup::generate_example_keys(dir, &state)?;
    crate::commands::signing::generate_example_signing_keys(dir, &state)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["add", "--all"])?;
    let message = format!("ward init --example {}", args.example);
    git(
        dir,
        &[
            "-c",
            &format!("user.name={}", cx.actor),
            "-c",
            &format!("user.email={}@ward.invalid", cx.actor),
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            &message,
        ],
    )?;

    let estate = ward_estate::load(dir)?;
    let mut details = serde_json::Map::new();
    details.insert("example".into(), args.example.clone().into());
    details.insert("files".into(), files.len().into());
    cx.record(
        &state,
        "init",
        &dir.display().to_string(),
        ward_ledger::Outcome::Ok,
        &estate.git,
        details,
    )?;

    let commit = estate.git.commit.clone().unwrap_or_default();
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "estate": dir, "state": state, "commit": commit,
            "workloads": estate.workloads.len(), "environments": estate.environments.len(),
            "identities": { "dba": keys.dba, "breakGlass": keys.break_glass },
        }))?,
        Output::Text => {
            println!(
                "Created the {} example estate in {} (commit {})",
                args.example,
                dir.display(),
                estate.git.short()
            );
            println!(
                "  {} workloads, {} environments, {} files",
                estate.workloads.len(),
                estate.environments.len(),
                files.len()
            );
            println!(
                "  state folder (ledger, keys, local vault): {}",
                state.display()
            );
            println!(
                "  DBA restore identity (bob): {}\n  break-glass identity: {}\n    move the break-glass identity offline (a safe, a vault); it is the key of last resort",
                keys.dba.display(),
                keys.break_glass.display()
            );
            println!(
                "\nNext:\n  ward --estate {0} validate\n  ward --estate {0} classify\n  ward --estate {0} explain billing/prod",
                dir.display()
            );
        }
    }
    Ok(Exit::Ok)
}

fn git(dir: &Path, args: &[&str]) -> Result<(), Failure> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| {
            Failure::operational(
                format!("cannot run git: {e}"),
                "install git; Ward keeps the estate in a Git repository",
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Failure::operational(
            format!(
                "git {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "check that git works in that folder",
        ))
    }
}
