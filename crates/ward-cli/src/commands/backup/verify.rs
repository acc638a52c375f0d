//! `ward backup verify`: every object of a snapshot present with its recorded size, or
//! with `--read-data` every byte decrypted and every checksum checked.

use std::path::PathBuf;

use indicatif::HumanBytes;
use serde_json::{Map, json as j};
use ward_ledger::Outcome;
use ward_vault::VerifyDepth;

use super::{identities, locate_snapshot, record_result, runtime, vault_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

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
    let mut details = Map::new();
    details.insert("read_data".into(), args.read_data.into());
    let mut subject = args.snapshot.clone();
    let progress = crate::progress::for_command(cx);
    let result = runtime()?.block_on(async {
        let ids = if args.read_data {
            Some(identities(&cx.ws, &estate, args.identity.as_deref())?)
        } else {
            None
        };
        let found = locate_snapshot(&cx.ws, &estate, &args.snapshot, args.repo.as_deref()).await?;
        subject = found.manifest.snapshot.to_string();
        let tenant_key = match &ids {
            Some(_) => None,
            None => {
                ward_ops::vault::tenant_key_if_held(
                    &found.repo,
                    &cx.ws,
                    &estate,
                    &found.manifest.snapshot.tenant,
                    args.identity.as_deref(),
                )
                .await
            }
        };
        let depth = match (&ids, &tenant_key) {
            (Some(ids), _) => VerifyDepth::ReadData(ids),
            (None, Some(key)) => VerifyDepth::Located(key),
            (None, None) => VerifyDepth::Metadata,
        };
        ward_vault::verify(
            &found.repo,
            &found.manifest.snapshot,
            &found.keys,
            depth,
            progress,
        )
        .await
        .map_err(|e| vault_failure(e, "check the object store"))
    });
    let result = match result {
        Ok(report) => {
            details.insert("objects_checked".into(), report.objects_checked.into());
            details.insert("stored_bytes_read".into(), report.stored_bytes_read.into());
            details.insert("objects_unlocated".into(), report.objects_unlocated.into());
            details.insert(
                "faults".into(),
                report
                    .faults
                    .iter()
                    .map(|f| j!({"object": f.object, "problem": f.problem}))
                    .collect::<Vec<_>>()
                    .into(),
            );
            let outcome = if report.is_ok() {
                Outcome::Ok
            } else {
                Outcome::Findings
            };
            Ok((report, outcome, details))
        }
        Err(f) => Err((f, details)),
    };
    let report = record_result(&cx.ws, &estate, "backup.verify", &subject, result)?;
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
