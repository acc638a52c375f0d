//! The hash chain without its storage: the exact bytes of the next entry, its checkpoint
//! and its signed head, and the check of a chain's end before it is extended, for a ledger
//! kept somewhere other than `ledger.jsonl` (the control plane's store) to share them.

use crate::entry::{CheckpointLine, Entry, GENESIS, NewEntry, line_hash};
use crate::error::LedgerError;
use crate::keys::{LedgerKey, PublicKey};
use crate::seal::{Checkpoint, Head};
use crate::verify::{self, ChainEnd, HeadState, Problem};

/// What one append adds to a chain, byte for byte as `ledger.jsonl` and `ledger.head`
/// hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The entry as written.
    pub entry: Entry,
    /// The entry's line, without its newline.
    pub line: Vec<u8>,
    /// The checkpoint line that follows the entry when one is due, without its newline.
    pub checkpoint: Option<Vec<u8>>,
    /// The new signed head.
    pub head: Head,
    /// The new head's bytes, as `ledger.head` holds them (JSON and a newline).
    pub head_bytes: Vec<u8>,
    /// Where the chain ends once these lines are added.
    pub end: ChainEnd,
}

/// Builds the next entry of a chain ending at `end` (`None` for an empty chain) at `time`
/// (see [`format_time`]), signs a checkpoint after it when `checkpoint_every` says one is
/// due (after seq `n-1`, `2n-1`, …; `0` for none) and signs the new head, all with `key`.
/// Checks nothing about `end`: that is [`check_end`]'s job, before this is called.
pub fn next_entry(
    key: &LedgerKey,
    end: Option<&ChainEnd>,
    new: NewEntry,
    time: String,
    checkpoint_every: u64,
) -> Result<Appended, LedgerError> {
    let (seq, prev, mut checkpoint_hash) = match end {
        None => (0, GENESIS.to_string(), GENESIS.to_string()),
        Some(end) => (
            end.seq.checked_add(1).ok_or(LedgerError::SeqExhausted)?,
            end.hash.clone(),
            end.checkpoint.clone(),
        ),
    };
    let entry = Entry {
        seq,
        time: time.clone(),
        actor: new.actor,
        action: new.action,
        subject: new.subject,
        result: new.result,
        estate_commit: new.estate_commit,
        details: new.details,
        prev,
    };
    let line = serde_json::to_vec(&entry)?;
    let hash = line_hash(&line);
    let signing = key.signing();
    let checkpoint = if checkpoint_every > 0 && (seq + 1) % checkpoint_every == 0 {
        let checkpoint =
            Checkpoint::sign(signing, seq, time.clone(), hash.clone(), checkpoint_hash)?;
        let cp_line = serde_json::to_vec(&CheckpointLine { checkpoint })?;
        checkpoint_hash = line_hash(&cp_line);
        Some(cp_line)
    } else {
        None
    };
    let head = Head::sign(signing, seq, time, hash.clone(), checkpoint_hash.clone())?;
    let mut head_bytes = serde_json::to_vec(&head)?;
    head_bytes.push(b'\n');
    Ok(Appended {
        entry,
        line,
        checkpoint,
        head,
        head_bytes,
        end: ChainEnd {
            seq,
            hash,
            checkpoint: checkpoint_hash,
        },
    })
}

/// Checks the end of a chain as an append must before it signs, with the walk of
/// [`crate::Ledger::verify`]: `window` is the chain's last lines, each followed by a
/// newline, starting either at its first line or (`resumed`) at the entry just before its
/// last checkpoint, whose seq and `prev` are then taken as they are; `head` is the signed
/// head's bytes. Line numbers in the problem count from the start of the window.
pub fn check_end(
    window: &[u8],
    resumed: bool,
    head: Option<&[u8]>,
    public: &PublicKey,
) -> Result<ChainEnd, Problem> {
    let head = match head {
        None => HeadState::Absent,
        Some(bytes) => verify::read_head(bytes, &public.0),
    };
    verify::check_end(window, resumed, &head, &public.0)
}

/// Lowercase hex SHA-256 of a line's exact bytes (without its newline): what the next
/// entry's `prev` and a checkpoint's `head` hold.
pub fn hash_line(line: &[u8]) -> String {
    line_hash(line)
}

/// A time in the one format entries use: RFC 3339 in UTC with milliseconds.
pub fn format_time(time: jiff::Timestamp) -> String {
    format!("{time:.3}")
}

/// Now, in the format of [`format_time`].
pub fn now() -> String {
    crate::entry::now()
}

/// A ledger line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedLine {
    Entry(Entry),
    Checkpoint(Checkpoint),
}

/// Parses one line (without its newline) as [`crate::Ledger::verify`] does; why not, in
/// words. Parsing checks the shape only, not the chain.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, String> {
    match crate::entry::parse_line(line) {
        Ok(crate::entry::Line::Entry(entry)) => Ok(ParsedLine::Entry(entry)),
        Ok(crate::entry::Line::Checkpoint(cp)) => Ok(ParsedLine::Checkpoint(cp)),
        Err(e) => Err(e.message),
    }
}
