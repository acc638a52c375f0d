//! `ward restore`: a snapshot into a new PostgreSQL database (pg_restore) and its filestore
//! into Odoo's layout `<data_dir>/filestore/<db>/`, checked against the manifest; or its
//! filestore only (`--filestore-only`), or the newest verified one (`--latest`).
//!
//! Needs an age identity: `--identity`, `WARD_IDENTITY`, then the state folder's DBA key.

use std::path::PathBuf;

use indicatif::HumanBytes;
use ward_ops::restore::{SnapshotChoice, Source};

use crate::commands::backup::PgArgs;
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
    // once NAME is one safe component (checked before the estate is read).
    ward_ops::restore::filestore_folder(&data_dir, &to_db)?;
    let estate = cx.load_estate()?;
    let request = ward_ops::restore::DatabaseRestore {
        source: args.source(),
        to_db,
        data_dir,
        jobs: args.jobs,
        replace: args.replace,
        db_url: args.db_url.clone(),
        owner: args.owner.clone(),
        pg: args.pg.settings(),
    };
    let progress = crate::progress::for_command(cx);
    let summary = ward_ops::restore::to_database(&cx.ws, &estate, &request, progress)?;
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
    /// The snapshot asked for, where to read it and with which key.
    fn source(&self) -> Source {
        Source {
            snapshot: match (&self.snapshot, &self.latest) {
                (_, Some(env)) => SnapshotChoice::Latest(env.clone()),
                (id, None) => SnapshotChoice::Named(id.clone().unwrap_or_default()),
            },
            repo: self.repo.clone(),
            identity: self.identity.clone(),
        }
    }
}

/// `--filestore-only`: the snapshot's filestore into `<data_dir>/filestore/<database>`,
/// checked blob by blob; no database server is needed or touched.
fn filestore_only(
    cx: &Context,
    args: &Args,
    database: &str,
    data_dir: &std::path::Path,
) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let request = ward_ops::restore::FilestoreRestore {
        source: args.source(),
        database: database.to_string(),
        data_dir: data_dir.to_path_buf(),
        replace: args.replace,
    };
    let progress = crate::progress::for_command(cx);
    let summary = ward_ops::restore::filestore_only(&cx.ws, &estate, &request, progress)?;
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
    let request = ward_ops::restore::ZipExport {
        source: args.source(),
        path: path.to_path_buf(),
        replace: args.replace,
        pg: args.pg.settings(),
    };
    let progress = crate::progress::for_command(cx);
    let summary = ward_ops::restore::to_zip(&cx.ws, &estate, &request, progress)?;
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
