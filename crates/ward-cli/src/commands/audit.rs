//! `ward audit`: read and verify the tamper-evident ledger.

use crate::context::{Context, Output, ledger_failure, print_json};
use crate::report::{Exit, Failure};

/// Read or verify the audit ledger.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the ledger's entries, oldest first (`-o wide` for whole commit ids).
    #[command(
        after_help = "Example:\n  ward --estate care audit log\n  ward audit log -o json | jq '.[] | select(.action == \"init\")'"
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
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Check signatures against this public key (hex) kept outside the state folder,
    /// instead of trusting `keys/ledger.pub` beside the ledger.
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Only the last N entries.
    #[arg(long, short = 'n')]
    pub tail: Option<usize>,
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    let ledger = ward_ledger::Ledger::open(&cx.state_dir()).map_err(ledger_failure)?;
    match cmd {
        Command::Log(args) => {
            let entries = ledger.entries().map_err(ledger_failure)?;
            let skip = args.tail.map_or(0, |n| entries.len().saturating_sub(n));
            let entries = &entries[skip..];
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
                    for e in entries {
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
            let head = ledger.head().map_err(ledger_failure)?;
            match (cx.output, head) {
                (Output::Json, head) => print_json(&head)?,
                (Output::Text, None) => println!("the ledger is empty"),
                (Output::Text, Some(h)) => println!(
                    "seq {}  hash {}  key {}  signature {}",
                    h.seq, h.hash, h.key, h.signature
                ),
            }
            Ok(Exit::Ok)
        }
        Command::Verify(args) => {
            if let Some(key) = &args.public_key
                && !(key.trim().len() == 64 && key.trim().bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(Failure::bad_input(
                    "--public-key is not an Ed25519 public key",
                    "pass the 64 hex characters of keys/ledger.pub, copied when the ledger was trusted",
                ));
            }
            let v = match &args.public_key {
                Some(key) => ledger.verify_with_key(key.trim()),
                None => ledger.verify(),
            }
            .map_err(ledger_failure)?;
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

/// The first `n` characters of a commit id, keeping a `-dirty` mark it carries.
fn shorten(commit: &str, n: usize) -> String {
    let (id, dirty) = match commit.strip_suffix("-dirty") {
        Some(id) => (id, "-dirty"),
        None => (commit, ""),
    };
    format!("{}{dirty}", id.chars().take(n).collect::<String>())
}
