//! `ward backup sign-existing`: the one-time migration that signs an environment's
//! snapshots written before signed statements, each only once every byte of it checks
//! against its recorded checksums.

use std::path::PathBuf;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

#[derive(clap::Args, Debug)]
pub struct SignExistingArgs {
    /// The environment, `workload/environment`.
    pub target: String,
    /// The environment's backup signing key [default: its signing secret in the secrets
    /// folder].
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Identity that opens the tenant's key: every object is decrypted and checked before
    /// a snapshot is signed [default: WARD_IDENTITY, then the DBA identity in the state
    /// folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Check and report, sign nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this local repository folder instead of the environment's object store.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub(super) fn sign_existing(cx: &Context, args: SignExistingArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let request = ward_ops::keys::SignExistingRequest {
        address: args.target,
        signing_key: args.signing_key,
        identity: args.identity,
        dry_run: args.dry_run,
        repo: args.repo,
    };
    let progress = crate::progress::for_command(cx);
    let report = ward_ops::keys::sign_existing(&cx.ws, &estate, &request, progress)?;
    match cx.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            let verb = if report.dry_run {
                "would sign"
            } else {
                "signed"
            };
            for s in &report.signed {
                println!("{verb} {s}");
            }
            for r in &report.refused {
                println!("NOT SIGNED {}: {}", r.snapshot, r.reason);
            }
            println!(
                "{} {verb}, {} not signed, {} already signed",
                report.signed.len(),
                report.refused.len(),
                report.already_signed
            );
        }
    }
    Ok(if report.refused.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}
