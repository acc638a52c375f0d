//! `ward init`: writes a new estate (the minimal one, or a bundled example) into a new Git
//! repository, with keys generated into the state folder: an SSH approval key per person,
//! a backup signing key per environment, the DBA's age identity, and a break-glass one too
//! unless the break-glass recipient is given (its identity then never touches this machine).

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::{Path, PathBuf};
use std::process::Command;
use ward_vault::{Identities, Recipients, VaultError};

/// Create a new estate (minimal or an example) and commit it in a new Git repository.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Without --example, a minimal estate: one platform, one team, one workload, commented.\nEvery person gets an SSH approval key in the state folder (keys/ssh/<person>), written into\ntheir `keys.ssh`.\n\nExamples:\n  ward init care\n  ward init care --example healthcare\n  ward init care --example healthcare --break-glass-recipient age1…   # made offline\n  ward --estate care validate"
)]
pub struct Args {
    /// Folder to create; it must not exist or be empty.
    pub dir: PathBuf,
    /// Which example to write [default: a minimal estate].
    #[arg(long, value_parser = ["healthcare"])]
    pub example: Option<String>,
    /// The break-glass recipient (`age1…`) every backup is also encrypted to, instead of
    /// generating its identity here: for an identity made offline (or split) that this
    /// machine never holds.
    #[arg(long, value_name = "AGE_RECIPIENT")]
    pub break_glass_recipient: Option<String>,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let files = match &args.example {
        None => crate::example::MINIMAL,
        Some(name) => crate::example::by_name(name).ok_or_else(|| {
            Failure::bad_input(
                format!("unknown example `{name}`"),
                "use --example healthcare, or no --example for a minimal estate",
            )
        })?,
    };
    // What the ledger, the commit and the report call it.
    let what = args.example.as_deref().unwrap_or("minimal");
    // Checked before anything is written.
    let given_break_glass = args
        .break_glass_recipient
        .as_deref()
        .map(break_glass_recipient)
        .transpose()?;
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
    // Restore keys: the example DBA's identity and the break-glass recipient (generated, or
    // given), which go into the estate before its first commit.
    let state = cx.state_dir_for(dir);
    let keys = example_keys(dir, &state, given_break_glass)?;
    crate::commands::signing::generate_example_signing_keys(dir, &state)?;
    let approval_keys = crate::commands::ssh_keys::generate(dir, &state)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["add", "--all"])?;
    let message = match &args.example {
        Some(name) => format!("ward init --example {name}"),
        None => "ward init".to_string(),
    };
    git(
        dir,
        &[
            "-c",
            &format!("user.name={}", cx.ws.actor),
            "-c",
            &format!("user.email={}@ward.invalid", cx.ws.actor),
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            &message,
        ],
    )?;

    let estate = ward_estate::load(dir)?;
    let event = ward_ops::event::Init {
        example: what.to_string(),
        files: files.len() as u64,
        break_glass: if keys.break_glass.is_some() {
            "generated"
        } else {
            "given"
        }
        .to_string(),
    };
    cx.record(
        &state,
        &event.into(),
        &dir.display().to_string(),
        ward_ledger::Outcome::Ok,
        &estate.git,
    )?;

    let commit = estate.git.commit.clone().unwrap_or_default();
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "estate": dir, "state": state, "commit": commit,
            "workloads": estate.workloads.len(), "environments": estate.environments.len(),
            "example": what,
            "identities": { "dba": keys.dba, "breakGlass": keys.break_glass },
            "breakGlassRecipient": keys.break_glass_recipient,
            "approvalKeys": approval_keys,
        }))?,
        Output::Text => {
            let kind = match &args.example {
                Some(name) => format!("the {name} example estate"),
                None => "a minimal estate".to_string(),
            };
            println!(
                "Created {kind} in {} (commit {})",
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
            println!("  DBA restore identity (bob): {}", keys.dba.display());
            if let Some(first) = approval_keys.first() {
                let folder = first.key.parent().unwrap_or(&state);
                let people: Vec<&str> = approval_keys.iter().map(|k| k.person.as_str()).collect();
                println!(
                    "  SSH approval keys: {}/<person>\n    for {}",
                    folder.display(),
                    people.join(", ")
                );
            }
            match &keys.break_glass {
                Some(path) => println!(
                    "  break-glass identity: {}\n    move the break-glass identity offline (a safe, a vault); it is the key of last resort",
                    path.display()
                ),
                None => println!(
                    "  break-glass recipient (given): {}\n    its identity is not on this machine; keep it where a restore can reach it",
                    keys.break_glass_recipient
                ),
            }
            let env = estate
                .environments
                .first()
                .map_or_else(String::new, |e| e.address());
            println!(
                "\nNext:\n  ward --estate {0} validate\n  ward --estate {0} check\n  ward --estate {0} explain {env}",
                dir.display()
            );
        }
    }
    Ok(Exit::Ok)
}

/// A `--break-glass-recipient`, refused unless it is one age X25519 recipient. The value
/// is never echoed: a secret key pasted by mistake must not reach a terminal log.
fn break_glass_recipient(text: &str) -> Result<String, Failure> {
    let text = text.trim();
    if text.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        return Err(Failure::bad_input(
            "--break-glass-recipient is an age secret key, not a recipient",
            "pass its public `age1…` recipient (`age-keygen -y <identity file>` prints it), and treat that secret key as exposed",
        ));
    }
    Recipients::parse(&[text]).map_err(|_| {
        Failure::bad_input(
            "--break-glass-recipient is not an age X25519 recipient",
            "pass the public `age1…` line that `age-keygen` prints (`age-keygen -y <identity file>` prints it again)",
        )
    })?;
    Ok(text.to_string())
}

/// Where `ward init` put the example's identities, and the break-glass recipient.
struct ExampleKeys {
    dba: PathBuf,
    /// The generated break-glass identity; `None` when its recipient was given.
    break_glass: Option<PathBuf>,
    break_glass_recipient: String,
}

/// An identity file's recipient, generating the file if it does not exist yet. Ward holds
/// no key material here: `ward_vault` generates and reads the identities, and wipes them.
fn identity_recipient(path: &Path) -> Result<String, Failure> {
    let failure = |e: VaultError| {
        if e.exit_code() == 2 {
            Failure::bad_input(
                e.to_string(),
                "fix the identity file, or move it away to have a new one generated",
            )
        } else {
            Failure::operational(
                format!("cannot create the identity {}: {e}", path.display()),
                "check that the state folder is writable",
            )
        }
    };
    if path.exists() {
        let ids = Identities::from_file(path).map_err(failure)?;
        ids.recipients()
            .into_iter()
            .next()
            .ok_or_else(|| failure(VaultError::IdentityRequired))
    } else {
        ward_vault::generate_identity_file(path).map_err(failure)
    }
}

/// Generates the example DBA's (bob) identity, and a break-glass one unless its recipient
/// is `given`, into `<state>/keys/` (mode 0600; an existing one is reused, never
/// overwritten) and writes their recipients into the freshly written example estate in
/// `dir`.
fn example_keys(dir: &Path, state: &Path, given: Option<String>) -> Result<ExampleKeys, Failure> {
    let keys = state.join("keys");
    create_private_dir(&keys)?;
    let dba = keys.join("bob.age");
    let dba_recipient = identity_recipient(&dba)?;
    let (break_glass, break_glass_recipient, origin) = match given {
        Some(recipient) => (
            None,
            recipient,
            "  # Every backup is also encrypted to this recovery key of last resort, given to\n  # `ward init`: its identity was made elsewhere and is kept offline.\n",
        ),
        None => {
            let path = keys.join("break-glass.age");
            let recipient = identity_recipient(&path)?;
            (
                Some(path),
                recipient,
                "  # Every backup is also encrypted to this recovery key of last resort. `ward init`\n  # generated its identity in the state folder (keys/break-glass.age): move it offline.\n",
            )
        }
    };
    insert_after(
        &dir.join("teams/platform.yaml"),
        "      roles: [dba]\n",
        &format!(
            "      # Written by `ward init`: the identity is in the state folder (keys/bob.age).\n      keys:\n        age: {dba_recipient}\n"
        ),
    )?;
    insert_after(
        &dir.join("platform.yaml"),
        // The end of the example's `secretStores` (its store's provider block).
        "          version: v2\n          authMountPath: kubernetes\n",
        &format!("{origin}  breakGlassRecipient: {break_glass_recipient}\n"),
    )?;
    Ok(ExampleKeys {
        dba,
        break_glass,
        break_glass_recipient,
    })
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

fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Failure::operational(
                format!("cannot create {}: {e}", dir.display()),
                "check that the state folder is writable",
            )
        })
}

fn insert_after(path: &Path, anchor: &str, text: &str) -> Result<(), Failure> {
    let io = |e: std::io::Error| {
        Failure::operational(
            format!("cannot update {}: {e}", path.display()),
            "check the folder's permissions",
        )
    };
    let body = std::fs::read_to_string(path).map_err(io)?;
    let at = body.find(anchor).ok_or_else(|| {
        Failure::operational(
            format!(
                "{} does not have the expected shape to add a key to",
                path.display()
            ),
            "this is a bug in the bundled example; please report it",
        )
    })? + anchor.len();
    let updated = format!("{}{text}{}", &body[..at], &body[at..]);
    std::fs::write(path, updated).map_err(io)
}
