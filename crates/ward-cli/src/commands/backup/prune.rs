//! `ward backup prune`: the tier's retention applied to an environment's snapshots, then
//! the blobs no snapshot references collected once older than the grace period.

use indicatif::HumanBytes;
use serde_json::json as j;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// The environment, as `workload/environment`.
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: String,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Unreferenced blobs younger than this are kept, so that a backup running now keeps
    /// its fresh blobs (e.g. 30m, 6h, 1d).
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub grace: String,
    /// A DBA identity to unlock the tenant key when it is not cached here; without either,
    /// packs are left alone [default: WARD_IDENTITY, then the DBA identity in the state
    /// folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<std::path::PathBuf>,
}

pub(super) fn prune(cx: &Context, args: PruneArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let env = ward_ops::environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let request = ward_ops::snapshots::PruneRequest {
        address: args.target.clone(),
        dry_run: args.dry_run,
        grace: args.grace.clone(),
        identity: args.identity.clone(),
    };
    let (pruned, gc) = ward_ops::snapshots::prune(&cx.ws, &estate, &request)?;
    match cx.output {
        Output::Json => print_json(&j!({"prune": pruned, "gc": gc}))?,
        Output::Text => {
            let verb = if args.dry_run {
                "would remove"
            } else {
                "removed"
            };
            for d in &pruned.decisions {
                println!(
                    "  {} {}  {}",
                    if d.keep { "keep  " } else { "remove" },
                    d.snapshot.id,
                    d.reasons.join(", ")
                );
            }
            println!(
                "{subject}: kept {}, {verb} {} snapshot(s); garbage: {verb} {} object(s) ({}), {} too fresh (grace {}), {} under object lock",
                pruned.decisions.len() - pruned.removed.len(),
                pruned.removed.len(),
                gc.deleted.len(),
                HumanBytes(gc.deleted_bytes),
                gc.kept_fresh,
                args.grace,
                gc.kept_locked
            );
            if gc.blobs_unchecked {
                println!(
                    "blobs and packs were not collected: the snapshots' object lists are sealed under the tenant key, which is not cached here and no identity opened (pass --identity FILE)"
                );
            } else if gc.packs_unchecked {
                println!(
                    "packs were not collected: the tenant key is not cached here and no identity opened it (pass --identity FILE)"
                );
            } else {
                println!(
                    "packs: {} in all, {verb} {} ({} repacked into {} new, {})",
                    gc.packs,
                    gc.packs_deleted,
                    gc.packs_repacked,
                    gc.packs_written,
                    HumanBytes(gc.written_bytes)
                );
            }
            for p in &gc.packs_damaged {
                println!("  left in place, damaged: {p} (run `ward backup verify --read-data`)");
            }
            if !gc.unverified.is_empty() {
                println!(
                    "{} snapshot(s) do not verify; left in place, never counted, their blob lists ignored:",
                    gc.unverified.len()
                );
                for u in &gc.unverified {
                    println!("  {u}");
                }
            }
        }
    }
    Ok(Exit::Ok)
}
