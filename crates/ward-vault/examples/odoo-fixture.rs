//! Creates (or grows) a small Odoo-shaped database and its filestore with
//! `ward_vault::fixture`, for the demo script and the benchmark. Not part of backups.
//!
//! Usage: `odoo-fixture --db-url postgres://user:pw@host:port/db --filestore DIR
//! [--partners N] [--users N] [--attachments N] [--min-blob BYTES] [--max-blob BYTES]
//! [--seed N] [--add N]`. The database must exist. With `--add N` only N new attachments
//! (files and rows) are added to an existing fixture. Prints what it made as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use ward_vault::fixture::{OdooFixture, Xorshift};
use ward_vault::{DbConnection, VaultError};

struct Args {
    db_url: String,
    filestore: PathBuf,
    spec: OdooFixture,
    add: Option<usize>,
}

fn parse() -> Result<Args, VaultError> {
    let bad = |m: String| VaultError::InvalidInput(m);
    let mut db_url = None;
    let mut filestore = None;
    let mut spec = OdooFixture::default();
    let mut add = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| bad(format!("{flag} takes a number")))
        };
        match flag.as_str() {
            "--db-url" => db_url = Some(value.clone()),
            "--filestore" => filestore = Some(PathBuf::from(&value)),
            "--partners" => spec.partners = number()?,
            "--users" => spec.users = number()?,
            "--attachments" => spec.attachments = number()?,
            "--min-blob" => spec.min_blob_bytes = number()?,
            "--max-blob" => spec.max_blob_bytes = number()?,
            "--seed" => spec.seed = number()? as u64,
            "--add" => add = Some(number()?),
            other => return Err(bad(format!("unknown flag {other}"))),
        }
    }
    ward_vault::fixture::validate(&spec)?;
    Ok(Args {
        db_url: db_url.ok_or_else(|| bad("--db-url is required".into()))?,
        filestore: filestore.ok_or_else(|| bad("--filestore is required".into()))?,
        spec,
        add,
    })
}

async fn run() -> Result<serde_json::Value, VaultError> {
    let args = parse()?;
    let db = DbConnection::from_url(&args.db_url)?;
    std::fs::create_dir_all(&args.filestore).map_err(|e| VaultError::Io {
        what: "creating the filestore folder",
        path: args.filestore.clone(),
        source: e,
    })?;
    match args.add {
        Some(n) => {
            let mut rng = Xorshift::new(args.spec.seed);
            let names =
                ward_vault::fixture::add_attachments(&db, &args.filestore, n, &args.spec, &mut rng)
                    .await?;
            Ok(serde_json::json!({ "added_blobs": names.len() }))
        }
        None => {
            let data = ward_vault::fixture::build(&db, &args.filestore, &args.spec).await?;
            Ok(serde_json::json!({
                "blobs": data.store_fnames.len(),
                "blob_bytes": data.blob_bytes,
                "partners": args.spec.partners,
            }))
        }
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(run()) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
