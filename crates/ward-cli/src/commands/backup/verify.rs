//! `ward backup verify`: every object of a snapshot present with its recorded size, or
//! with `--read-data` every byte decrypted and every checksum checked.

use std::path::PathBuf;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use indicatif::HumanBytes;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Snapshot id, unique id prefix, or `tenant/workload/environment/id`.
    pub snapshot: String,
    /// Download, decrypt and decompress every byte; check every blob's sha1 and the dump's
    /// checksum (needs an identity).
    #[arg(long)]
    pub read_data: bool,
    /// Identity file for --read-data, or to find packed objects without it when the tenant
    /// key is not cached [default: WARD_IDENTITY, then the DBA identity in the state
    /// folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Read this local repository folder instead of the estate's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub(super) fn verify(cx: &Context, args: VerifyArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let request = ward_ops::snapshots::VerifyRequest {
        snapshot: args.snapshot.clone(),
        read_data: args.read_data,
        identity: args.identity.clone(),
        repo: args.repo.clone(),
    };
    let report =
        ward_ops::snapshots::verify(&cx.ws, &estate, &request, crate::progress::for_command(cx))?;
    match cx.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            let how = if report.read_data {
                format!(
                    "every byte read ({} objects, {})",
                    report.objects_checked,
                    HumanBytes(report.stored_bytes_read)
                )
            } else {
                format!(
                    "{} objects present with their recorded sizes",
                    report.objects_checked
                )
            };
            let how = if report.objects_unlocated > 0 {
                format!(
                    "{how}; {} blobs and chunks not located (the object list and the pack indexes need the tenant key: pass --identity FILE)",
                    report.objects_unlocated
                )
            } else {
                how
            };
            if report.is_ok() {
                println!("snapshot {} OK: {how}", report.snapshot);
            } else {
                println!(
                    "snapshot {} has {} bad object(s):",
                    report.snapshot,
                    report.faults.len()
                );
                for f in &report.faults {
                    println!("  BAD {}: {}", f.object, f.problem);
                }
            }
        }
    }
    Ok(if report.is_ok() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}
