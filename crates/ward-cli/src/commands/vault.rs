//! `ward vault rewrap <tenant>`: re-encrypts a tenant's key and data keys to the recipients
//! the estate names now, in every object store its environments back up to, after a DBA
//! leaves or a key is rotated.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json as j;
use ward_ledger::Outcome;

use crate::commands::backup::{
    identities, local_config, open_repository, recipients, record_result, repository_config,
    runtime, vault_failure,
};
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

/// One object store's rewrap, as reported.
#[derive(serde::Serialize)]
struct StoreRewrap {
    store: String,
    #[serde(flatten)]
    report: ward_vault::RewrapReport,
}

fn rewrap(cx: &Context, args: RewrapArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let envs: Vec<_> = estate
        .environments
        .iter()
        .filter(|e| e.tenant == args.tenant)
        .collect();
    if envs.is_empty() {
        let mut known: Vec<&str> = estate
            .environments
            .iter()
            .map(|e| e.tenant.as_str())
            .collect();
        known.sort();
        known.dedup();
        return Err(Failure::bad_input(
            format!("the estate has no tenant `{}`", args.tenant),
            format!("name one of: {}", known.join(", ")),
        ));
    }
    let mut details = ward_ops::event::VaultRewrap {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let result = (|| {
        // Each environment's data keys go to that environment's recipients; the tenant key
        // to all of them; a run no verified snapshot claims to those every one shares.
        let mut environments = BTreeMap::new();
        let mut all: Vec<String> = Vec::new();
        let mut shared: Option<Vec<String>> = None;
        for env in &envs {
            let r = recipients(&estate, env)?;
            let list = r.to_strings();
            all.extend(list.iter().cloned());
            shared = Some(match shared {
                None => list.clone(),
                Some(s) => s.into_iter().filter(|k| list.contains(k)).collect(),
            });
            environments.insert(format!("{}/{}", env.workload, env.environment), r);
        }
        all.sort();
        all.dedup();
        let parse = |keys: &[String]| {
            ward_vault::Recipients::parse(keys)
                .map_err(|e| vault_failure(e, "fix the age recipients in the estate"))
        };
        let to = ward_vault::RewrapRecipients {
            tenant_key: parse(&all)?,
            environments,
            unclaimed: parse(&shared.unwrap_or_default())?,
        };
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        let trusted = crate::commands::signing::trusted_keys(&estate)?;
        let mut stores: Vec<(String, ward_vault::RepositoryConfig)> = Vec::new();
        match &args.repo {
            Some(dir) => stores.push((dir.display().to_string(), local_config(dir))),
            None => {
                let mut names: Vec<String> = envs.iter().map(|e| cx.store_of(e)).collect();
                names.sort();
                names.dedup();
                for name in names {
                    let config = repository_config(&cx.ws, &estate, &name)?;
                    stores.push((name, config));
                }
            }
        }
        runtime()?.block_on(async {
            let mut out = Vec::new();
            for (store, config) in stores {
                let repo = open_repository(&config).await?;
                let report = ward_vault::rewrap(
                    &repo,
                    &args.tenant,
                    &ids,
                    &to,
                    &trusted,
                    args.dry_run,
                )
                .await
                .map_err(|e| {
                    vault_failure(
                        e,
                        "pass an identity that opens the tenant key (--identity), e.g. break-glass",
                    )
                })?;
                out.push(StoreRewrap { store, report });
            }
            Ok::<_, Failure>(out)
        })
    })();
    let result = match result {
        Ok(stores) => {
            details.stores = Some(
                stores
                    .iter()
                    .map(|s| {
                        j!({
                            "store": s.store,
                            "tenantKeyId": s.report.tenant_key_id,
                            "recipients": s.report.tenant_key_recipients,
                            "dataKeysRewrapped": s.report.data_keys_rewrapped,
                            "dataKeysNotOpened": s.report.data_keys_not_opened,
                            "stillReadable": s.report.still_readable.len(),
                        })
                    })
                    .collect(),
            );
            let incomplete = stores.iter().any(|s| {
                !s.report.data_keys_not_opened.is_empty() || !s.report.data_keys_damaged.is_empty()
            });
            let outcome = if incomplete {
                Outcome::Findings
            } else {
                Outcome::Ok
            };
            Ok((stores, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    let stores = record_result(&cx.ws, &estate, &args.tenant, result)?;
    match cx.output {
        Output::Json => print_json(&stores)?,
        Output::Text => {
            for s in &stores {
                print_text(&s.store, &s.report);
            }
        }
    }
    let incomplete = stores.iter().any(|s| {
        !s.report.data_keys_not_opened.is_empty() || !s.report.data_keys_damaged.is_empty()
    });
    Ok(if incomplete { Exit::Findings } else { Exit::Ok })
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
