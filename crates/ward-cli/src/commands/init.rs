//! `ward init`: writes a new estate (the minimal one, or a bundled example) into a new Git
//! repository, with keys generated into the state folder: an SSH approval key per person,
//! a backup signing key per environment, the DBA's age identity, and a break-glass one too
//! unless the break-glass recipient is given (its identity then never touches this machine).

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::path::PathBuf;

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
    // What the report calls it.
    let what = args.example.as_deref().unwrap_or("minimal");
    let dir = &args.dir;
    let state = cx.state_dir_for(dir);
    let made = ward_ops::init::init(&ward_ops::init::InitRequest {
        dir: dir.clone(),
        state: state.clone(),
        files,
        example: args.example.clone(),
        break_glass_recipient: args.break_glass_recipient.clone(),
        actor: cx.ws.actor.clone(),
    })?;
    let estate = &made.estate;
    let approval_keys = &made.approval_keys;
    let commit = estate.git.commit.clone().unwrap_or_default();
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "estate": dir, "state": state, "commit": commit,
            "workloads": estate.workloads.len(), "environments": estate.environments.len(),
            "example": what,
            "identities": { "dba": made.dba_identity, "breakGlass": made.break_glass_identity },
            "breakGlassRecipient": made.break_glass_recipient,
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
            println!(
                "  DBA restore identity (bob): {}",
                made.dba_identity.display()
            );
            if let Some(first) = approval_keys.first() {
                let folder = first.key.parent().unwrap_or(&state);
                let people: Vec<&str> = approval_keys.iter().map(|k| k.person.as_str()).collect();
                println!(
                    "  SSH approval keys: {}/<person>\n    for {}",
                    folder.display(),
                    people.join(", ")
                );
            }
            match &made.break_glass_identity {
                Some(path) => println!(
                    "  break-glass identity: {}\n    move the break-glass identity offline (a safe, a vault); it is the key of last resort",
                    path.display()
                ),
                None => println!(
                    "  break-glass recipient (given): {}\n    its identity is not on this machine; keep it where a restore can reach it",
                    made.break_glass_recipient
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
