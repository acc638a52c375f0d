//! `ward backup prune`: the tier's retention applied to an environment's snapshots, then
//! the blobs no snapshot references collected once older than the grace period.

use indicatif::HumanBytes;
use serde_json::{Map, Value, json as j};
use ward_ledger::Outcome;
use ward_vault::Retention;

use super::{
    environment, open_repository, record_result, repository_config, runtime, vault_failure,
};
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
    let env = environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let r = &env.classification.posture.retention;
    let retention = Retention {
        keep_last: r.keep_last,
        hourly: r.hourly,
        daily: r.daily,
        weekly: r.weekly,
        monthly: r.monthly,
    };
    let mut details = Map::new();
    details.insert("dry_run".into(), args.dry_run.into());
    details.insert("grace".into(), args.grace.clone().into());
    details.insert(
        "retention".into(),
        j!({"keep_last": r.keep_last, "hourly": r.hourly, "daily": r.daily, "weekly": r.weekly, "monthly": r.monthly}),
    );
    let result = (|| {
        let grace = ward_estate::units::Duration::parse(&args.grace).map_err(|e| {
            Failure::bad_input(format!("--grace {}: {e}", args.grace), "e.g. 30m, 6h, 1d")
        })?;
        let config = repository_config(&cx.ws, &estate, &cx.store_of(env))?;
        let keys = crate::commands::signing::trusted_keys(&estate)?;
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            let pruned = ward_vault::prune(
                &repo,
                &env.tenant,
                &env.workload,
                &env.environment,
                &keys,
                &retention,
                args.dry_run,
            )
            .await
            .map_err(|e| vault_failure(e, "nothing more was removed; run prune again"))?;
            let tenant_key = ward_ops::vault::tenant_key_if_held(
                &repo,
                &cx.ws,
                &estate,
                &env.tenant,
                args.identity.as_deref(),
            )
            .await;
            let gc = ward_vault::collect_garbage(
                &repo,
                &env.tenant,
                &keys,
                tenant_key.as_ref(),
                std::time::Duration::from_secs(grace.as_secs()),
                args.dry_run,
            )
            .await
            .map_err(|e| {
                vault_failure(
                    e,
                    "snapshots were pruned; run prune again to collect garbage",
                )
            })?;
            Ok::<_, Failure>((pruned, gc))
        })
    })();
    let result = match result {
        Ok((pruned, gc)) => {
            details.insert(
                "removed".into(),
                pruned
                    .removed
                    .iter()
                    .map(|s| Value::from(s.to_string()))
                    .collect::<Vec<_>>()
                    .into(),
            );
            details.insert(
                "kept".into(),
                (pruned.decisions.len() - pruned.removed.len()).into(),
            );
            details.insert("deleted_objects".into(), gc.deleted.len().into());
            details.insert("unverified".into(), gc.unverified.clone().into());
            details.insert("deleted_bytes".into(), gc.deleted_bytes.into());
            details.insert("packs_repacked".into(), gc.packs_repacked.into());
            details.insert("packs_unchecked".into(), gc.packs_unchecked.into());
            details.insert("blobs_unchecked".into(), gc.blobs_unchecked.into());
            Ok(((pruned, gc), Outcome::Ok, details))
        }
        Err(f) => Err((f, details)),
    };
    let (pruned, gc) = record_result(&cx.ws, &estate, "backup.prune", &subject, result)?;
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
