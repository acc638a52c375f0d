//! `ward vault rewrap <tenant>`: re-encrypts a tenant's key and data keys to the recipients
//! the estate names now, in every object store its environments back up to, after a DBA
//! leaves or a key is rotated.

use std::path::PathBuf;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Manage the vault's keys.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Re-encrypt a tenant's key and every backup run's data key to the recipients the
    /// estate names now (each environment's DBAs, break-glass and drill key). Snapshot data
    /// is not rewritten and every signature stays valid. Lists what the old identity can
    /// still read: snapshots written before data keys, and snapshots under object lock.
    #[command(after_help = "Example:\n  \
        ward --estate care vault rewrap st-marys --dry-run\n  \
        ward vault rewrap st-marys --identity break-glass.age -o json")]
    Rewrap(RewrapArgs),
}

#[derive(clap::Args, Debug)]
pub struct RewrapArgs {
    /// The tenant.
    pub tenant: String,
    /// Identity that opens the keys today (an outgoing DBA's, another DBA's or
    /// break-glass) [default: WARD_IDENTITY, then the DBA identity in the state folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Report what would be re-encrypted, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this local repository folder instead of the tenant's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    match cmd {
        Command::Rewrap(a) => rewrap(cx, a),
    }
}

fn rewrap(cx: &Context, args: RewrapArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let request = ward_ops::keys::RewrapRequest {
        tenant: args.tenant,
        identity: args.identity,
        dry_run: args.dry_run,
        repo: args.repo,
    };
    let stores = ward_ops::keys::rewrap(&cx.ws, &estate, &request)?;
    match cx.output {
        Output::Json => print_json(&stores)?,
        Output::Text => {
            for s in &stores {
                print_text(&s.store, &s.report);
            }
        }
    }
    Ok(if stores.iter().any(|s| s.incomplete()) {
        Exit::Findings
    } else {
        Exit::Ok
    })
}

fn print_text(store: &str, r: &ward_vault::RewrapReport) {
    let verb = if r.dry_run {
        "would re-encrypt"
    } else {
        "re-encrypted"
    };
    println!(
        "{store}: {verb} tenant key {} and {} data key(s) to {} recipient(s)",
        r.tenant_key_id,
        r.data_keys_rewrapped,
        r.tenant_key_recipients.len()
    );
    for id in &r.data_keys_not_opened {
        println!(
            "  NOT OPENED data key {id}: the identity is not one of its recipients; rewrap again with one that is (break-glass opens every one)"
        );
    }
    for id in &r.data_keys_damaged {
        println!("  DAMAGED data key {id}: its file does not decrypt to the key its name gives");
    }
    if !r.still_readable.is_empty() {
        println!("  still readable by the old identity:");
        for s in &r.still_readable {
            match s.until {
                Some(until) => println!("    {} until {until}: {}", s.snapshot, s.reason),
                None => println!("    {}: {}", s.snapshot, s.reason),
            }
        }
    }
}
