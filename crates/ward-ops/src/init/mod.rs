//! A new estate: the minimal one or a bundled example written into a new Git repository,
//! with keys generated into the state folder: an SSH approval key per person, a backup
//! signing key per environment, the DBA's age identity, and a break-glass one too unless
//! its recipient is given (its identity then never touches this machine).

mod approval_keys;
mod signing_keys;

use std::path::{Path, PathBuf};
use std::process::Command;

use ward_vault::{Identities, Recipients, VaultError};

pub use approval_keys::{PersonKey, folder as approval_key_folder};

use crate::Error;

/// One file of a new estate: its path inside the estate and its text.
#[derive(Clone, Copy, Debug)]
pub struct EstateFile {
    pub path: &'static str,
    pub text: &'static str,
}

/// What `ward init` is asked for.
#[derive(Clone, Debug)]
pub struct InitRequest {
    /// The folder to create; it must not exist or be empty.
    pub dir: PathBuf,
    /// Its state folder (keys, ledger).
    pub state: PathBuf,
    /// The estate's files.
    pub files: &'static [EstateFile],
    /// The example's name (`minimal` without one): in the ledger and the commit.
    pub example: Option<String>,
    /// A break-glass recipient made elsewhere, instead of generating its identity here.
    pub break_glass_recipient: Option<String>,
    /// Who commits and is recorded.
    pub actor: String,
}

/// What `ward init` made.
#[derive(Debug)]
pub struct Initialized {
    /// The estate as committed.
    pub estate: ward_estate::Estate,
    /// The example DBA's (bob) identity file.
    pub dba_identity: PathBuf,
    /// The generated break-glass identity; `None` when its recipient was given.
    pub break_glass_identity: Option<PathBuf>,
    pub break_glass_recipient: String,
    /// Every person's SSH approval key, by person.
    pub approval_keys: Vec<PersonKey>,
}

/// Writes the estate, generates its keys, commits it and records `init` in the state
/// folder's ledger. Nothing is written when the folder is not empty or the given
/// break-glass recipient is not one.
pub fn init(request: &InitRequest) -> Result<Initialized, Error> {
    let _span = tracing::info_span!("init", dir = %request.dir.display()).entered();
    let what = request.example.as_deref().unwrap_or("minimal");
    // Checked before anything is written.
    let given_break_glass = request
        .break_glass_recipient
        .as_deref()
        .map(break_glass_recipient)
        .transpose()?;
    let dir = &request.dir;
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::bad_input(
            format!("{} exists and is not empty", dir.display()),
            "choose a new folder; ward init never overwrites files",
        ));
    }
    let io = |what: &str, path: &Path, e: std::io::Error| {
        Error::operational(
            format!("cannot {what} {}: {e}", path.display()),
            "check the folder's permissions and free space",
        )
    };
    for f in request.files {
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
    let state = &request.state;
    let keys = example_keys(dir, state, given_break_glass)?;
    signing_keys::generate_example_signing_keys(dir, state)?;
    let approval_keys = approval_keys::generate(dir, state)?;
    git(dir, &["init", "--quiet", "--initial-branch=main"])?;
    git(dir, &["add", "--all"])?;
    let message = match &request.example {
        Some(name) => format!("ward init --example {name}"),
        None => "ward init".to_string(),
    };
    let actor = &request.actor;
    git(
        dir,
        &[
            "-c",
            &format!("user.name={actor}"),
            "-c",
            &format!("user.email={actor}@ward.invalid"),
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "-m",
            &message,
        ],
    )?;

    let estate = ward_estate::load(dir)?;
    let event = crate::event::Init {
        example: what.to_string(),
        files: request.files.len() as u64,
        break_glass: if keys.break_glass.is_some() {
            "generated"
        } else {
            "given"
        }
        .to_string(),
    };
    crate::record_in(
        state,
        actor,
        &event.into(),
        &dir.display().to_string(),
        ward_ledger::Outcome::Ok,
        &estate.git,
    )?;
    Ok(Initialized {
        estate,
        dba_identity: keys.dba,
        break_glass_identity: keys.break_glass,
        break_glass_recipient: keys.break_glass_recipient,
        approval_keys,
    })
}

/// A `--break-glass-recipient`, refused unless it is one age X25519 recipient. The value
/// is never echoed: a secret key pasted by mistake must not reach a terminal log.
fn break_glass_recipient(text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
        return Err(Error::bad_input(
            "--break-glass-recipient is an age secret key, not a recipient",
            "pass its public `age1…` recipient (`age-keygen -y <identity file>` prints it), and treat that secret key as exposed",
        ));
    }
    Recipients::parse(&[text]).map_err(|_| {
        Error::bad_input(
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
fn identity_recipient(path: &Path) -> Result<String, Error> {
    let failure = |e: VaultError| {
        if e.exit_code() == 2 {
            Error::bad_input(
                e.to_string(),
                "fix the identity file, or move it away to have a new one generated",
            )
        } else {
            Error::operational(
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
fn example_keys(dir: &Path, state: &Path, given: Option<String>) -> Result<ExampleKeys, Error> {
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

fn git(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| {
            Error::operational(
                format!("cannot run git: {e}"),
                "install git; Ward keeps the estate in a Git repository",
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::operational(
            format!(
                "git {} failed: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "check that git works in that folder",
        ))
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Error::operational(
                format!("cannot create {}: {e}", dir.display()),
                "check that the state folder is writable",
            )
        })
}

fn insert_after(path: &Path, anchor: &str, text: &str) -> Result<(), Error> {
    let io = |e| update_failure(path, e);
    let body = std::fs::read_to_string(path).map_err(io)?;
    let at = body.find(anchor).ok_or_else(|| {
        Error::operational(
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

/// Why a file of a freshly written estate could not be read or updated.
fn update_failure(path: &Path, e: std::io::Error) -> Error {
    Error::operational(
        format!("cannot update {}: {e}", path.display()),
        "check the folder's permissions",
    )
}

/// The `.yaml` files directly in `folder` of a freshly written estate, sorted.
fn yaml_files(folder: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| update_failure(folder, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}
