//! `ward restore`: a snapshot into a new PostgreSQL database (pg_restore) and its filestore
//! into Odoo's layout `<data_dir>/filestore/<db>/`, checked against the manifest; or its
//! filestore only (`--filestore-only`), or the newest verified one (`--latest`).
//!
//! Needs an age identity: `--identity`, `WARD_IDENTITY`, then the state folder's DBA key.

use std::path::PathBuf;

use indicatif::HumanBytes;
use serde_json::Map;
use ward_ledger::Outcome;
use ward_vault::RestoreRequest;

use crate::commands::backup::{
    Login, PgArgs, db_connection, environment, identities, local_config, locate_snapshot,
    open_repository, record_result, repository_config, round, runtime, vault_failure,
};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Restore a snapshot into a new database and filestore, then check row counts, installed
/// modules and every blob's sha1 against the manifest. Exits 1 if they differ. With
/// --to-zip, write Odoo's own backup zip instead.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  \
    ward --estate care restore 20261126T101500Z-1a2b3c4d --to-db billing_check --filestore /srv/odoo-data\n  \
    ward restore st-marys/billing/prod/20261126T101500Z-1a2b3c4d --to-db billing --filestore /srv/odoo-data \\\n      \
    --db-url postgres://postgres@127.0.0.1:5432/postgres --identity ~/keys/dba.age --replace --jobs 4\n  \
    ward restore 20261126T101500Z-1a2b3c4d --to-zip billing.zip   # Odoo's own backup format\n  \
    ward restore --latest billing/prod --filestore-only --to-db billing_prod --filestore /var/lib/odoo")]
pub struct Args {
    /// Snapshot id, unique id prefix, or `tenant/workload/environment/id`.
    #[arg(required_unless_present = "latest")]
    pub snapshot: Option<String>,
    /// Restore the newest snapshot of this environment whose signed statement verifies,
    /// instead of a named one (a forged newer snapshot is never restored).
    #[arg(long, value_name = "WORKLOAD/ENV", conflicts_with = "snapshot")]
    pub latest: Option<String>,
    /// Restore only the filestore, into DIR/filestore/<NAME>/ of --filestore; no database is
    /// created or touched (the database was recovered another way, e.g. a promoted standby).
    #[arg(long, requires = "filestore", conflicts_with_all = ["to_zip", "db_url", "owner"])]
    pub filestore_only: bool,
    /// Name of the database to create (with --filestore-only: whose filestore folder it is).
    #[arg(long, value_name = "NAME", required_unless_present = "to_zip")]
    pub to_db: Option<String>,
    /// Odoo's data_dir: the blobs go to DIR/filestore/<NAME>/.
    #[arg(long, value_name = "DIR", required_unless_present = "to_zip")]
    pub filestore: Option<PathBuf>,
    /// Write Odoo's own backup zip (dump.sql, filestore/, manifest.json) instead of
    /// restoring into a server: Odoo's database manager restores it without Ward.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["to_db", "filestore", "db_url", "jobs"])]
    pub to_zip: Option<PathBuf>,
    /// pg_restore jobs (above 1 the dump is first decrypted to a temporary file).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: u32,
    /// Drop an existing database of that name and remove its filestore folder first, if
    /// Ward restored that folder (its .ward-restored marker); recorded in the ledger.
    #[arg(long)]
    pub replace: bool,
    /// Age identity file [default: WARD_IDENTITY, then the DBA identity in the state folder].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Server to restore into (`postgres://user[:password]@host:port/db`; the database name
    /// is replaced by --to-db) [default: the snapshot environment's database endpoint].
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Read this local repository folder instead of the estate's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The role that owns the restored database and every object in it; the user of
    /// --db-url must be allowed to `SET ROLE` to it [default: the snapshot environment's
    /// database owner in the estate, so that Odoo can use what is restored].
    #[arg(long, value_name = "ROLE", conflicts_with = "to_zip")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub pg: PgArgs,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let (to_db, data_dir) = match (&args.to_zip, &args.to_db, &args.filestore) {
        (Some(zip), _, _) => return to_zip(cx, &args, zip),
        (None, Some(db), Some(dir)) if args.filestore_only => {
            return filestore_only(cx, &args, db, dir);
        }
        (None, Some(db), Some(dir)) => (db.clone(), dir.clone()),
        _ => {
            return Err(Failure::bad_input(
                "restore needs --to-db and --filestore, or --to-zip",
                "e.g. ward restore ID --to-db billing_check --filestore /srv/odoo-data",
            ));
        }
    };
    // A database name, never a path: the filestore folder is <DIR>/filestore/<NAME> only
    // once NAME is one safe component.
    let filestore = ward_vault::filestore_folder(&data_dir, &to_db).map_err(|e| {
        crate::commands::backup::vault_failure(
            e,
            "--to-db takes a database name such as billing_check, not a path",
        )
    })?;
    let estate = cx.load_estate()?;
    let mut details = Map::new();
    details.insert("to_db".into(), to_db.clone().into());
    details.insert("filestore".into(), filestore.display().to_string().into());
    details.insert("replace".into(), args.replace.into());
    let mut subject = args.requested();
    let progress = crate::progress::for_command(cx);
    let result = (|| {
        if args.jobs == 0 {
            return Err(Failure::bad_input(
                "--jobs must be at least 1",
                "use --jobs 1",
            ));
        }
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(cx, &estate, &args).await?;
            let snapshot = found.snapshot.clone();
            subject = snapshot.to_string();
            let env =
                estate.environment(&format!("{}/{}", snapshot.workload, snapshot.environment));
            let mut target = db_connection(&cx.ws, env.map(Login::owner), args.db_url.as_deref())?;
            target.db.timeouts = args.pg.settings().timeouts(&estate, env)?;
            args.pg.settings().tls.apply(
                &mut target.db,
                env,
                args.db_url.as_deref(),
                cx.ws.env.home.as_deref(),
            )?;
            let mut request = RestoreRequest::new(target.db.with_dbname(&to_db), &filestore);
            request.jobs = args.jobs;
            request.replace = args.replace;
            request.pg_tools = args.pg.settings().tools(&cx.ws.env);
            request.owner = args
                .owner
                .clone()
                .or_else(|| env.map(|e| e.database.owner().to_string()));
            ward_vault::restore(
                &found.repo,
                &snapshot,
                &found.keys,
                &ids,
                &request,
                progress,
            )
            .await
            .map_err(|e| target.failure(e, "fix the cause and run it again"))
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.insert("replaced".into(), summary.replaced.into());
            details.insert("dump_bytes".into(), summary.dump_bytes.into());
            details.insert("blobs_restored".into(), summary.blobs_restored.into());
            details.insert("blob_bytes".into(), summary.blob_bytes.into());
            details.insert(
                "duration_seconds".into(),
                round(summary.duration_seconds).into(),
            );
            details.insert("consistent".into(), summary.is_consistent().into());
            let outcome = if summary.is_consistent() {
                Outcome::Ok
            } else {
                details.insert(
                    "row_count_mismatches".into(),
                    serde_json::to_value(&summary.row_count_mismatches).unwrap_or_default(),
                );
                details.insert("modules_match".into(), summary.modules_match.into());
                Outcome::Findings
            };
            Ok((summary, outcome, details))
        }
        Err(f) => Err((f, details)),
    };
    let summary = record_result(&cx.ws, &estate, "restore", &subject, result)?;
    match cx.output {
        Output::Json => print_json(&summary)?,
        Output::Text => {
            println!(
                "restored {} into database {} and {}{}",
                summary.snapshot,
                summary.database,
                summary.filestore.display(),
                if summary.replaced {
                    " (replacing what was there)"
                } else {
                    ""
                }
            );
            print_checked_restore(&summary);
        }
    }
    Ok(if summary.is_consistent() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}

impl Args {
    /// What was asked for, for the ledger until the snapshot is known.
    fn requested(&self) -> String {
        match (&self.snapshot, &self.latest) {
            (Some(id), _) => id.clone(),
            (None, Some(env)) => format!("{env}/latest"),
            (None, None) => String::new(),
        }
    }
}

/// The snapshot a restore reads, in the repository that holds it.
struct Found {
    repo: ward_vault::Repository,
    snapshot: ward_vault::SnapshotRef,
    keys: ward_vault::TrustedKeys,
}

/// The named snapshot, or with `--latest` the newest of the environment whose statement
/// verifies against the estate's pinned keys, in the environment's store (`--object-store`
/// replaces it, `--repo` reads a local folder instead).
async fn locate(cx: &Context, estate: &ward_estate::Estate, args: &Args) -> Result<Found, Failure> {
    let Some(address) = &args.latest else {
        let id = args.snapshot.as_deref().unwrap_or_default();
        let found = locate_snapshot(&cx.ws, estate, id, args.repo.as_deref()).await?;
        return Ok(Found {
            repo: found.repo,
            snapshot: found.manifest.snapshot,
            keys: found.keys,
        });
    };
    let env = environment(estate, address)?;
    let keys = crate::commands::signing::trusted_keys(estate)?;
    let config = match &args.repo {
        Some(dir) => local_config(dir),
        None => repository_config(&cx.ws, estate, &cx.store_of(env))?,
    };
    let repo = open_repository(&config).await?;
    let newest = ward_vault::newest_verified_snapshot(
        &repo,
        &env.tenant,
        &env.workload,
        &env.environment,
        &keys,
    )
    .await
    .map_err(|e| vault_failure(e, "check the object store"))?;
    let Some(snapshot) = newest else {
        return Err(Failure::operational(
            format!(
                "{} has no verified snapshot in {} (`ward backup list` shows why each one does not verify)",
                env.address(),
                repo.describe()
            ),
            "check --object-store, or run `ward backup run` for it first",
        ));
    };
    Ok(Found {
        repo,
        snapshot,
        keys,
    })
}

/// `--filestore-only`: the snapshot's filestore into `<data_dir>/filestore/<database>`,
/// checked blob by blob; no database server is needed or touched.
fn filestore_only(
    cx: &Context,
    args: &Args,
    database: &str,
    data_dir: &std::path::Path,
) -> Result<Exit, Failure> {
    let filestore = ward_vault::filestore_folder(data_dir, database).map_err(|e| {
        vault_failure(
            e,
            "--to-db takes a database name such as billing_prod, not a path",
        )
    })?;
    let estate = cx.load_estate()?;
    let mut details = Map::new();
    details.insert("filestore".into(), filestore.display().to_string().into());
    details.insert("filestore_only".into(), true.into());
    details.insert("replace".into(), args.replace.into());
    let mut subject = args.requested();
    let progress = crate::progress::for_command(cx);
    let result = (|| {
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(cx, &estate, args).await?;
            subject = found.snapshot.to_string();
            let request = ward_vault::FilestoreRestoreRequest {
                folder: filestore.clone(),
                replace: args.replace,
                blob_concurrency: 8,
            };
            ward_vault::restore_filestore(
                &found.repo,
                &found.snapshot,
                &found.keys,
                &ids,
                &request,
                progress,
            )
            .await
            .map_err(|e| vault_failure(e, "fix the cause and run it again"))
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.insert("replaced".into(), summary.replaced.into());
            details.insert("blobs_restored".into(), summary.blobs_restored.into());
            details.insert("blob_bytes".into(), summary.blob_bytes.into());
            details.insert(
                "duration_seconds".into(),
                round(summary.duration_seconds).into(),
            );
            Ok((summary, Outcome::Ok, details))
        }
        Err(f) => Err((f, details)),
    };
    let summary = record_result(&cx.ws, &estate, "restore.filestore", &subject, result)?;
    match cx.output {
        Output::Json => print_json(&summary)?,
        Output::Text => {
            println!(
                "restored the filestore of {} into {}{}: {} blobs, {} in {:.1}s, every sha1 checked",
                summary.snapshot,
                summary.filestore.display(),
                if summary.replaced {
                    " (replacing what Ward restored there)"
                } else {
                    ""
                },
                summary.blobs_restored,
                HumanBytes(summary.blob_bytes),
                summary.duration_seconds
            );
            if !summary.missing_at_backup.is_empty() {
                crate::report::warn(&format!(
                    "{} attachment(s) were missing when the snapshot was taken and are not restored",
                    summary.missing_at_backup.len()
                ));
            }
        }
    }
    Ok(Exit::Ok)
}

/// `--to-zip`: the snapshot as Odoo's backup zip; needs no database server.
fn to_zip(cx: &Context, args: &Args, path: &std::path::Path) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let mut details = Map::new();
    details.insert("to_zip".into(), path.display().to_string().into());
    details.insert("replace".into(), args.replace.into());
    let mut subject = args.requested();
    let progress = crate::progress::for_command(cx);
    let result = (|| {
        let ids = identities(&cx.ws, &estate, args.identity.as_deref())?;
        runtime()?.block_on(async {
            let found = locate(cx, &estate, args).await?;
            let snapshot = found.snapshot.clone();
            subject = snapshot.to_string();
            let request = ward_vault::OdooZipRequest {
                path: path.to_path_buf(),
                replace: args.replace,
                pg_tools: args.pg.settings().tools(&cx.ws.env),
                blob_concurrency: 8,
            };
            ward_vault::export_odoo_zip(
                &found.repo,
                &snapshot,
                &found.keys,
                &ids,
                &request,
                progress,
            )
            .await
            .map_err(|e| {
                crate::commands::backup::vault_failure(
                    e,
                    "no zip was written; fix the cause and run it again",
                )
            })
        })
    })();
    let result = match result {
        Ok(summary) => {
            details.insert("sql_bytes".into(), summary.sql_bytes.into());
            details.insert("blobs".into(), summary.blobs.into());
            details.insert("zip_bytes".into(), summary.zip_bytes.into());
            Ok((summary, Outcome::Ok, details))
        }
        Err(f) => Err((f, details)),
    };
    let summary = record_result(&cx.ws, &estate, "restore.zip", &subject, result)?;
    match cx.output {
        Output::Json => print_json(&summary)?,
        Output::Text => println!(
            "wrote {} as Odoo's backup zip {} ({}: dump.sql of {}, {} blobs of {}) in {:.1}s",
            summary.snapshot,
            summary.path.display(),
            HumanBytes(summary.zip_bytes),
            HumanBytes(summary.sql_bytes),
            summary.blobs,
            HumanBytes(summary.blob_bytes),
            summary.duration_seconds
        ),
    }
    Ok(Exit::Ok)
}

/// The lines a restore (or a drill's restore) prints: what was restored, how long it took,
/// and what did not match the manifest.
pub(crate) fn print_checked_restore(summary: &ward_vault::RestoreSummary) {
    println!(
        "  database   {} dump restored in {:.1}s",
        HumanBytes(summary.dump_bytes),
        summary.database_seconds
    );
    println!(
        "  filestore  {} blobs, {} in {:.1}s, every sha1 checked",
        summary.blobs_restored,
        HumanBytes(summary.blob_bytes),
        summary.filestore_seconds
    );
    println!("  total      {:.1}s", summary.duration_seconds);
    if summary.is_consistent() {
        println!("  row counts and installed modules match the manifest");
    } else {
        for m in &summary.row_count_mismatches {
            println!(
                "  MISMATCH {}: {} rows in the manifest, {} restored",
                m.table,
                m.expected,
                m.actual.map_or("none".into(), |n| n.to_string())
            );
        }
        if !summary.modules_match {
            println!("  MISMATCH installed modules differ from the manifest");
        }
    }
    if !summary.missing_at_backup.is_empty() {
        crate::report::warn(&format!(
            "{} attachment(s) were missing when the snapshot was taken and are not restored",
            summary.missing_at_backup.len()
        ));
    }
}
