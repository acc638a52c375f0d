//! `ward audit`: read and verify the tamper-evident ledger.

use super::store_args::runtime;
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Read or verify the audit ledger.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the ledger's entries, oldest first (`-o wide` for whole commit ids); a commit
    /// ending in `-dirty` was a work tree with uncommitted changes.
    #[command(
        after_help = "Examples:\n  ward --estate care audit log\n  ward --estate care audit log --by alice --action 'backup*' --since 7d\n  ward --estate care audit log --subject billing --since 2026-11-01T00:00:00Z -o json"
    )]
    Log(LogArgs),
    /// Check the hash chain and signed checkpoints; exit 1 and name the first bad entry
    /// if anything was edited, removed, reordered or forged.
    #[command(
        after_help = "Example:\n  ward --estate care audit verify\n  ward audit verify --public-key \"$(cat pinned-ledger.pub)\""
    )]
    Verify(VerifyArgs),
    /// Print the signed head (last seq and hash) to publish to an external witness, which
    /// is what detects a rollback of the whole folder.
    #[command(after_help = "Example:\n  ward --estate care audit head -o json >> witness.jsonl")]
    Head,
    /// Copy the file ledger of the state folder into the server's store, keeping its
    /// chain: later entries extend it, and `audit verify --store` covers all of it.
    /// Importing again after the file grew copies only the rest.
    #[command(
        after_help = "Example:\n  ward --estate care audit import\n  ward audit import --store postgres://ward@db/ward"
    )]
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The store to import into [default: sqlite:<state>/ward.db].
    #[arg(long = "store", env = "WARD_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Check the file's signatures against this public key (hex) instead of its own.
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Check signatures against this public key (hex) kept outside the state folder,
    /// instead of trusting `keys/ledger.pub` beside the ledger.
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,
    /// Verify the server's ledger in this store instead of the state folder's file
    /// (`--store` alone: sqlite:<state>/ward.db).
    #[arg(long = "store", value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub store: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Only the last N entries.
    #[arg(long, short = 'n')]
    pub tail: Option<usize>,
    /// Only entries by this actor (exact).
    #[arg(long, value_name = "ACTOR")]
    pub by: Option<String>,
    /// Only this action (exact), or every action starting with what precedes a trailing
    /// `*` (`backup*`, `waiver.*`).
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only entries whose subject contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// Only entries at or after this time: RFC 3339 (`2026-11-01T00:00:00Z`) or a span
    /// back from now (`90m`, `24h`, `7d`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    let state = cx.state_dir();
    match cmd {
        Command::Log(args) => {
            let filter = ward_ops::audit::EntryFilter {
                by: args.by.clone(),
                action: args.action.clone(),
                subject: args.subject.clone(),
                since: args
                    .since
                    .as_deref()
                    .map(|when| ward_ops::audit::parse_since(when, jiff::Timestamp::now()))
                    .transpose()?,
            };
            let entries = ward_ops::audit::log(&state, &filter, args.tail)?;
            match cx.output {
                Output::Json => print_json(&entries)?,
                Output::Text => {
                    let mut rows = vec![
                        [
                            "SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "RESULT", "COMMIT",
                        ]
                        .map(String::from)
                        .to_vec(),
                    ];
                    // Commits are shortened as `git log --oneline` does; `-o wide` and
                    // JSON give them whole.
                    let shown = if cx.wide() { usize::MAX } else { 12 };
                    for e in &entries {
                        let commit = e
                            .estate_commit
                            .as_deref()
                            .map(|c| shorten(c, shown))
                            .unwrap_or_else(|| "-".into());
                        rows.push(vec![
                            e.seq.to_string(),
                            e.time.clone(),
                            e.actor.clone(),
                            e.action.clone(),
                            e.subject.clone(),
                            e.result.to_string(),
                            commit,
                        ]);
                    }
                    print!("{}", crate::commands::classify::table(&rows));
                }
            }
            Ok(Exit::Ok)
        }
        Command::Head => {
            match (cx.output, ward_ops::audit::head(&state)?) {
                (Output::Json, head) => print_json(&head)?,
                (Output::Text, None) => println!("the ledger is empty"),
                (Output::Text, Some(h)) => println!(
                    "seq {}  hash {}  key {}  signature {}",
                    h.seq, h.hash, h.key, h.signature
                ),
            }
            Ok(Exit::Ok)
        }
        Command::Import(args) => import(cx, &args),
        Command::Verify(args) => {
            let url = args.store.as_deref().map(|url| store_url(cx, url));
            let at = match &url {
                Some(url) => ward_ops::audit::LedgerAt::Store(url),
                None => ward_ops::audit::LedgerAt::File,
            };
            let v = runtime()?.block_on(ward_ops::audit::verify(
                &state,
                at,
                args.public_key.as_deref(),
            ))?;
            match cx.output {
                Output::Json => print_json(&v)?,
                Output::Text => match &v.problem {
                    None => println!(
                        "ledger intact: {} entries, {} signed checkpoints (last at seq {})",
                        v.entries,
                        v.checkpoints,
                        v.last_checkpoint_seq.map_or("-".into(), |s| s.to_string())
                    ),
                    // Line 0: the problem is in the head, the keys, or a lost ledger.
                    Some(p) if p.line == 0 => eprintln!("ledger TAMPERED: {}", p.message),
                    Some(p) => eprintln!(
                        "ledger TAMPERED: first bad entry at line {}{}: {}",
                        p.line,
                        p.seq.map(|s| format!(" (seq {s})")).unwrap_or_default(),
                        p.message
                    ),
                },
            }
            Ok(if v.problem.is_some() {
                Exit::Findings
            } else {
                Exit::Ok
            })
        }
    }
}

/// `--store`'s URL, `sqlite:<state>/ward.db` when given without one.
fn store_url(cx: &Context, url: &str) -> String {
    if url.is_empty() {
        format!("sqlite:{}", cx.state_dir().join("ward.db").display())
    } else {
        url.to_string()
    }
}

fn import(cx: &Context, args: &ImportArgs) -> Result<Exit, Failure> {
    let url = store_url(cx, args.store.as_deref().unwrap_or(""));
    let report = runtime()?.block_on(ward_ops::audit::import(
        &cx.state_dir(),
        &url,
        args.public_key.as_deref(),
    ))?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "imported": report.imported,
            "alreadyPresent": report.already_present,
            "lastSeq": report.last_seq,
        }))?,
        Output::Text => println!(
            "imported {} entries into the store ({} were already there; last seq {})",
            report.imported,
            report.already_present,
            report.last_seq.map_or("-".into(), |s| s.to_string())
        ),
    }
    Ok(Exit::Ok)
}

/// The first `n` characters of a commit id, keeping a `-dirty` mark it carries.
fn shorten(commit: &str, n: usize) -> String {
    let (id, dirty) = match commit.strip_suffix("-dirty") {
        Some(id) => (id, "-dirty"),
        None => (commit, ""),
    };
    format!("{}{dirty}", id.chars().take(n).collect::<String>())
}
