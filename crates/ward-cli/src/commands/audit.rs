//! `ward audit`: read and verify the tamper-evident ledger.

use super::store_args::{runtime, store_failure};
use crate::context::{Context, Output, ledger_failure, print_json};
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

/// What `audit log`'s filters keep; every filter given must match.
struct Filter {
    by: Option<String>,
    action: Option<String>,
    subject: Option<String>,
    since: Option<jiff::Timestamp>,
}

impl Filter {
    fn new(args: &LogArgs) -> Result<Filter, Failure> {
        let since = match &args.since {
            None => None,
            Some(when) => Some(parse_since(when, jiff::Timestamp::now())?),
        };
        Ok(Filter {
            by: args.by.clone(),
            action: args.action.clone(),
            subject: args.subject.clone(),
            since,
        })
    }

    fn keeps(&self, e: &ward_ledger::Entry) -> bool {
        let action = match self.action.as_deref() {
            None => true,
            Some(want) => match want.strip_suffix('*') {
                Some(prefix) => e.action.starts_with(prefix),
                None => e.action == want,
            },
        };
        // An entry time that does not parse is kept out of a `--since` window rather than
        // guessed at; `audit verify` is what reports a malformed entry.
        let since = self.since.is_none_or(|since| {
            e.time
                .parse::<jiff::Timestamp>()
                .is_ok_and(|time| time >= since)
        });
        action
            && since
            && self.by.as_deref().is_none_or(|by| e.actor == by)
            && self
                .subject
                .as_deref()
                .is_none_or(|text| e.subject.contains(text))
    }
}

/// `--since`: an RFC 3339 time, or a span (`24h`, `7d`, `1w 2d`) back from `now`, where a
/// day is always 24 hours.
fn parse_since(when: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, Failure> {
    if let Ok(time) = when.parse::<jiff::Timestamp>() {
        return Ok(time);
    }
    let bad = || {
        Failure::bad_input(
            format!("--since {when:?} is neither an RFC 3339 time nor a span"),
            "pass a time such as 2026-11-01T00:00:00Z or a span back from now such as 90m, 24h or 7d",
        )
    };
    let span: jiff::Span = when.parse().map_err(|_| bad())?;
    if span.is_negative() {
        return Err(bad());
    }
    // Months and years have no fixed length, so a span with them is refused.
    let back = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    now.checked_sub(back).map_err(|_| bad())
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    let ledger = ward_ledger::Ledger::open(&cx.state_dir()).map_err(ledger_failure)?;
    match cmd {
        Command::Log(args) => {
            let filter = Filter::new(&args)?;
            let mut entries = ledger.entries().map_err(ledger_failure)?;
            // Filters first, then `--tail`: the last N of what matched.
            entries.retain(|e| filter.keeps(e));
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
        Command::Import(args) => import(cx, &args),
        Command::Verify(args) => {
            if let Some(key) = &args.public_key
                && !(key.trim().len() == 64 && key.trim().bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(Failure::bad_input(
                    "--public-key is not an Ed25519 public key",
                    "pass the 64 hex characters of keys/ledger.pub, copied when the ledger was trusted",
                ));
            }
            let v = match (&args.store, &args.public_key) {
                (Some(url), key) => {
                    let url = store_url(cx, url);
                    let rt = runtime()?;
                    rt.block_on(async {
                        let store = ward_store::Store::open(&url).await.map_err(store_failure)?;
                        store
                            .ledger()
                            .verify(key.as_deref().map(str::trim))
                            .await
                            .map_err(store_failure)
                    })?
                }
                (None, Some(key)) => ledger.verify_with_key(key.trim()).map_err(ledger_failure)?,
                (None, None) => ledger.verify().map_err(ledger_failure)?,
            };
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
    let state = cx.state_dir();
    let file = ward_ledger::Ledger::open(&state).map_err(ledger_failure)?;
    let key = ward_ledger::LedgerKey::load(&state).map_err(ledger_failure)?;
    let url = store_url(cx, args.store.as_deref().unwrap_or(""));
    let report = runtime()?.block_on(async {
        let store = ward_store::Store::open(&url).await.map_err(store_failure)?;
        store
            .ledger()
            .import(&file, &key, args.public_key.as_deref().map(str::trim))
            .await
            .map_err(store_failure)
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_span_back_from_now() {
        let now: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().expect("test setup");
        let at = |s: &str| parse_since(s, now).map(|t| t.to_string());
        assert_eq!(at("24h").expect("a valid --since"), "2026-11-30T12:00:00Z");
        assert_eq!(at("7d").expect("a valid --since"), "2026-11-24T12:00:00Z");
        assert_eq!(at("90m").expect("a valid --since"), "2026-12-01T10:30:00Z");
        assert_eq!(
            at("2026-11-01T00:00:00Z").expect("a valid --since"),
            "2026-11-01T00:00:00Z"
        );
        assert!(at("yesterday").is_err());
        assert!(at("-7d").is_err());
    }
}
