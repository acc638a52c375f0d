//! `ward backup sign-existing`: the one-time migration that signs an environment's
//! snapshots written before signed statements, each only once every byte of it checks
//! against its recorded checksums.

use std::path::PathBuf;

use serde_json::json as j;
use ward_ledger::Outcome;

use super::{
    environment, identities, open_repository, record_result, repository_config, runtime,
    vault_failure,
};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use ward_ops::vault::local_config;

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
    let env = environment(&estate, &args.target)?;
    let subject = format!("{}/{}/{}", env.tenant, env.workload, env.environment);
    let mut details = ward_ops::event::BackupSignExisting {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let progress = crate::progress::for_command(cx);
    let result = (|| {
        let config = match &args.repo {
            Some(dir) => local_config(dir),
            None => repository_config(&cx.ws, &estate, &cx.store_of(env))?,
        };
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        let signing_key =
            crate::commands::signing::signing_key(&cx.ws, env, args.signing_key.as_deref())?;
        let trusted = crate::commands::signing::trusted_keys(&estate)?;
        runtime()?.block_on(async {
            let repo = open_repository(&config).await?;
            ward_vault::sign_existing(
                &repo,
                &env.tenant,
                &env.workload,
                &env.environment,
                &signing_key,
                &trusted,
                &ids,
                args.dry_run,
                progress,
            )
            .await
            .map_err(|e| vault_failure(e, "check the identity and the object store"))
        })
    })();
    let result = match result {
        Ok(report) => {
            details.signed = Some(report.signed.iter().map(|s| s.to_string()).collect());
            details.refused = Some(
                report
                    .refused
                    .iter()
                    .map(|r| j!({"snapshot": r.snapshot.to_string(), "reason": r.reason}))
                    .collect(),
            );
            let outcome = if report.refused.is_empty() {
                Outcome::Ok
            } else {
                Outcome::Findings
            };
            Ok((report, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    let report = record_result(&cx.ws, &estate, &subject, result)?;
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
