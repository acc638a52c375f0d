//! Walks the whole ledger and reports the first thing that is wrong, in words.
//! Three chains are checked together: entries through `prev`, checkpoints through their own
//! `prev`, and both ends pinned by the signed `ledger.head`.

use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::entry::{GENESIS, Line, line_hash, parse_line};
use crate::error::LedgerError;
use crate::keys::{self, PublicKey};
use crate::seal::{Head, short};
use crate::store::{Paths, read_if_present, read_or_empty, split_lines};

/// The result of [`crate::Ledger::verify`].
///
/// The counts are of what was read and found sound before the first problem (all of the
/// file when there is none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub entries: u64,
    pub checkpoints: u64,
    pub last_checkpoint_seq: Option<u64>,
    /// The first thing found wrong; `None` means the ledger verified.
    pub problem: Option<Problem>,
}

impl Verification {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// 1-based line of `ledger.jsonl`. One past the last line means something is missing
    /// from the end; 0 means the problem is not on a line (the head file or the key).
    pub line: u64,
    /// The seq concerned, when one is known.
    pub seq: Option<u64>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.seq) {
            (0, _) => f.write_str(&self.message),
            (line, Some(seq)) => write!(f, "line {line} (seq {seq}): {}", self.message),
            (line, None) => write!(f, "line {line}: {}", self.message),
        }
    }
}

/// `ledger.head` as found: absent, unusable (why, in words), or validly signed.
pub(crate) enum HeadState {
    Absent,
    Invalid(String),
    Valid(Head),
}

/// Where a sound chain ends, as an append needs it to extend the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEnd {
    /// The seq of the last entry.
    pub seq: u64,
    /// Line hash of the last entry.
    pub hash: String,
    /// Line hash of the last checkpoint, or [`GENESIS`] when there is none.
    pub checkpoint: String,
}

/// Checks the end of the ledger as an append must before it signs: `window` is the tail of
/// `ledger.jsonl` (see [`crate::store::read_window`]); when `resumed`, it starts at the
/// entry just before the last checkpoint, whose seq and `prev` are taken as they are (the
/// checkpoint vouches for that entry, and what lies before it is [`verify`]'s to walk).
/// Line numbers in the problem count from the start of the window.
pub(crate) fn check_end(
    window: &[u8],
    resumed: bool,
    head: &HeadState,
    public: &VerifyingKey,
) -> Result<ChainEnd, Problem> {
    let mut walk = Walk {
        resumed,
        ..Walk::default()
    };
    if let Some(found) = walk.run(window, head, public) {
        return Err(found);
    }
    match (&walk.last_entry, head) {
        (Some((_, seq, hash)), HeadState::Valid(_)) => Ok(ChainEnd {
            seq: *seq,
            hash: hash.clone(),
            checkpoint: walk.last_checkpoint_hash,
        }),
        // `end` reports an empty ledger or a missing head; this is only a safety net.
        _ => Err(problem(0, None, "the ledger has no signed end".to_string())),
    }
}

/// `pinned`: a public key given by the caller (from outside the state folder), which
/// must then also match `keys/ledger.pub`.
pub(crate) fn verify(paths: &Paths, pinned: Option<&str>) -> Result<Verification, LedgerError> {
    let data = read_or_empty(&paths.ledger)?;
    let head_bytes = read_if_present(&paths.head)?;
    verify_bytes(paths, &data, head_bytes, pinned)
}

/// [`verify`] over `ledger.jsonl` and `ledger.head` as already read (`data`, `head_bytes`),
/// with the folder's key files and first-use record read here.
pub(crate) fn verify_bytes(
    paths: &Paths,
    data: &[u8],
    head_bytes: Option<Vec<u8>>,
    pinned: Option<&str>,
) -> Result<Verification, LedgerError> {
    let mut walk = Walk::default();
    if data.is_empty() && head_bytes.is_none() {
        return Ok(walk.finish(absent(paths, pinned)?));
    }

    let public = match public_key(paths, pinned)? {
        Ok(key) => key,
        Err(message) => return Ok(walk.finish(Some(problem(0, None, message)))),
    };
    let head = match head_bytes {
        None => HeadState::Absent,
        Some(bytes) => read_head(&bytes, &public),
    };
    let problem = walk.run(data, &head, &public);
    Ok(walk.finish(problem))
}

/// Walks a chain line by line, wherever its lines are kept, with the checks and the
/// problems of [`crate::Ledger::verify`]: feed it every line in order (entries and
/// checkpoints, without newlines), then [`Verifier::finish`]. Line numbers in its problems
/// count the lines fed, from 1, as they would number in `ledger.jsonl`.
pub struct Verifier {
    walk: Walk,
    head: HeadState,
    public: VerifyingKey,
    lines: u64,
    problem: Option<Problem>,
}

impl Verifier {
    /// A walk against `public`, ending at `head`: the signed head's bytes as
    /// `ledger.head` holds them, `None` when there is none (itself a problem).
    pub fn new(public: &PublicKey, head: Option<&[u8]>) -> Verifier {
        let head = match head {
            None => HeadState::Absent,
            Some(bytes) => read_head(bytes, &public.0),
        };
        Verifier {
            walk: Walk::default(),
            head,
            public: public.0,
            lines: 0,
            problem: None,
        }
    }

    /// Checks the next line. Returns false once a problem has been found: later lines are
    /// not looked at, and the caller may stop feeding them.
    pub fn push(&mut self, line: &[u8]) -> bool {
        if self.problem.is_some() {
            return false;
        }
        self.lines += 1;
        let number = self.lines;
        let result = if line.contains(&b'\n') {
            Err(problem(
                number,
                None,
                "holds a newline: not a single ledger line".to_string(),
            ))
        } else {
            self.walk.line(number, line, &self.head, &self.public)
        };
        if let Err(found) = result {
            self.problem = Some(found);
            return false;
        }
        true
    }

    /// The verdict: the first problem found, or what the end of the chain says against
    /// the signed head.
    pub fn finish(self) -> Verification {
        let problem = match self.problem {
            Some(found) => Some(found),
            None => self.walk.end(self.lines, &self.head),
        };
        self.walk.finish(problem)
    }
}

/// With neither file there is nothing to walk, which is only sound if no key has ever
/// signed a ledger here: a key's first-use record, or a pinned key, says one did.
fn absent(paths: &Paths, pinned: Option<&str>) -> Result<Option<Problem>, LedgerError> {
    if let Some(first_use) = keys::first_use(paths)? {
        return Ok(Some(problem(
            0,
            None,
            format!(
                "the ledger was lost: {first_use}, but no ledger exists (ledger.jsonl and \
                 ledger.head are missing or empty)"
            ),
        )));
    }
    Ok(pinned.map(|key| {
        problem(
            0,
            None,
            format!(
                "no ledger exists here, but the pinned key {} says one was signed: it was \
                 lost, or this is not the state folder it lives in",
                short(key.trim())
            ),
        )
    }))
}

fn public_key(
    paths: &Paths,
    pinned: Option<&str>,
) -> Result<Result<VerifyingKey, String>, LedgerError> {
    let stored = keys::load_public(paths)?;
    let Some(pinned) = pinned else {
        return Ok(stored);
    };
    let pinned = match keys::parse_public_hex(pinned) {
        Ok(key) => key,
        Err(message) => return Ok(Err(format!("the pinned key is unusable: {message}"))),
    };
    Ok(match stored {
        Ok(stored) if stored != pinned => Err(format!(
            "keys/ledger.pub is {} but the pinned key is {}: the key pair was replaced",
            short(&hex::encode(stored.to_bytes())),
            short(&hex::encode(pinned.to_bytes()))
        )),
        // A missing ledger.pub does not matter when the caller brought the key.
        _ => Ok(pinned),
    })
}

pub(crate) fn read_head(bytes: &[u8], public: &VerifyingKey) -> HeadState {
    let head: Head = match std::str::from_utf8(bytes)
        .map_err(|_| "not valid UTF-8".to_string())
        .and_then(|text| serde_json::from_str(text).map_err(|e| format!("not a valid head: {e}")))
    {
        Ok(head) => head,
        Err(message) => return HeadState::Invalid(message),
    };
    match head.check(public) {
        Ok(()) => HeadState::Valid(head),
        Err(message) => HeadState::Invalid(message),
    }
}

fn problem(line: u64, seq: Option<u64>, message: String) -> Problem {
    Problem { line, seq, message }
}

/// What the walk has established so far.
struct Walk {
    entries: u64,
    checkpoints: u64,
    last_checkpoint_seq: Option<u64>,
    /// Line number, seq and line hash of the last entry read.
    last_entry: Option<(u64, u64, String)>,
    /// True when a valid checkpoint directly follows the last entry read, which proves
    /// that entry authentic.
    last_entry_vouched: bool,
    last_checkpoint_hash: String,
    /// The walk starts mid-file, at an entry followed by a checkpoint (see [`check_end`]).
    resumed: bool,
}

impl Default for Walk {
    fn default() -> Walk {
        Walk {
            entries: 0,
            checkpoints: 0,
            last_checkpoint_seq: None,
            last_entry: None,
            last_entry_vouched: false,
            last_checkpoint_hash: GENESIS.to_string(),
            resumed: false,
        }
    }
}

impl Walk {
    fn finish(self, problem: Option<Problem>) -> Verification {
        Verification {
            entries: self.entries,
            checkpoints: self.checkpoints,
            last_checkpoint_seq: self.last_checkpoint_seq,
            problem,
        }
    }

    fn run(&mut self, data: &[u8], head: &HeadState, public: &VerifyingKey) -> Option<Problem> {
        let (lines, torn) = split_lines(data);
        let count = lines.len() as u64;
        for (index, bytes) in lines.iter().enumerate() {
            let number = index as u64 + 1;
            if torn && number == count {
                return Some(problem(
                    number,
                    None,
                    "the last line is incomplete (no newline at the end): a torn write, or \
                     the file was cut mid-line"
                        .to_string(),
                ));
            }
            if let Err(found) = self.line(number, bytes, head, public) {
                return Some(found);
            }
        }
        self.end(count, head)
    }

    /// Checks line `number` (1-based), which is whole (not torn).
    fn line(
        &mut self,
        number: u64,
        bytes: &[u8],
        head: &HeadState,
        public: &VerifyingKey,
    ) -> Result<(), Problem> {
        match parse_line(bytes) {
            Err(e) => Err(problem(number, e.seq, e.message)),
            Ok(Line::Entry(entry)) => {
                self.entry(number, entry.seq, &entry.prev, &entry.time, bytes, head)
            }
            Ok(Line::Checkpoint(cp)) => self.checkpoint(number, &cp, bytes, public),
        }
    }

    fn entry(
        &mut self,
        number: u64,
        seq: u64,
        prev: &str,
        time: &str,
        bytes: &[u8],
        head: &HeadState,
    ) -> Result<(), Problem> {
        let at = |message: String| problem(number, Some(seq), message);
        // The first line of a resumed walk has no predecessor here: the checkpoint after it
        // vouches for it instead.
        if !(self.resumed && self.last_entry.is_none()) {
            self.links(number, seq, prev)?;
        }
        if time.parse::<jiff::Timestamp>().is_err() {
            return Err(at(format!("time {time:?} is not an RFC 3339 timestamp")));
        }
        let hash = line_hash(bytes);
        if let HeadState::Valid(head) = head {
            if seq > head.seq {
                return Err(at(format!(
                    "not covered by the signed head, which ends at seq {}: appended without the \
                     ledger key, or a crash interrupted an append (the next append completes it \
                     if the append's signed pending head, ledger.head.tmp, is there)",
                    head.seq
                )));
            }
            if seq == head.seq && hash != head.hash {
                return Err(at(
                    "does not match the hash in the signed head (ledger.head): this entry was \
                     edited"
                        .to_string(),
                ));
            }
        }
        self.entries += 1;
        self.last_entry = Some((number, seq, hash));
        self.last_entry_vouched = false;
        Ok(())
    }

    /// Checks that entry `seq` on line `number` follows the last entry read: the next seq,
    /// and a `prev` that is that entry's line hash.
    fn links(&self, number: u64, seq: u64, prev: &str) -> Result<(), Problem> {
        let at = |message: String| problem(number, Some(seq), message);
        let expected = self.last_entry.as_ref().map_or(0, |(_, s, _)| s + 1);
        if seq < expected {
            return Err(at(format!(
                "seq {seq} comes after seq {}: lines were reordered or duplicated",
                expected - 1
            )));
        }
        if seq > expected {
            let missing = seq - expected;
            return Err(at(format!(
                "expected seq {expected} but found seq {seq}: {missing} entr{} deleted, or \
                 the lines were reordered",
                if missing == 1 { "y was" } else { "ies were" }
            )));
        }
        let expected_prev = self
            .last_entry
            .as_ref()
            .map_or(GENESIS, |(_, _, hash)| hash.as_str());
        if prev != expected_prev {
            return Err(match &self.last_entry {
                None => at("the first entry's `prev` must be 64 zeros".to_string()),
                Some((line, prev_seq, _)) if !self.last_entry_vouched => problem(
                    *line,
                    Some(*prev_seq),
                    format!(
                        "this line's hash differs from the `prev` recorded by the next entry \
                         (line {number}, seq {seq}): this entry was edited (or that `prev` was)"
                    ),
                ),
                Some((_, prev_seq, _)) => at(format!(
                    "`prev` does not match entry seq {prev_seq}, which a signed checkpoint \
                     vouches for: this entry was edited"
                )),
            });
        }
        Ok(())
    }

    fn checkpoint(
        &mut self,
        number: u64,
        cp: &crate::seal::Checkpoint,
        bytes: &[u8],
        public: &VerifyingKey,
    ) -> Result<(), Problem> {
        let at = |message: String| problem(number, Some(cp.seq), message);
        // The signature first: until it holds, nothing else the line says can be believed.
        if let Err(why) = cp.check(public) {
            return Err(at(format!("forged or edited checkpoint: {why}")));
        }
        let Some((entry_line, entry_seq, entry_hash)) = &self.last_entry else {
            return Err(at("a checkpoint before any entry".to_string()));
        };
        if cp.seq != *entry_seq {
            return Err(at(format!(
                "checkpoint for seq {} follows entry seq {entry_seq}: a checkpoint was moved, \
                 or entries were deleted or reordered",
                cp.seq
            )));
        }
        if cp.head != *entry_hash {
            return Err(problem(
                *entry_line,
                Some(*entry_seq),
                format!(
                    "the chain at seq {entry_seq} hashes to {} but the signed checkpoint on line \
                     {number} says {}: entries up to here were rewritten (or the checkpoint was \
                     forged with the key)",
                    short(entry_hash),
                    short(&cp.head)
                ),
            ));
        }
        // A resumed walk has not read the checkpoint before this one.
        let first_of_resumed = self.resumed && self.checkpoints == 0;
        if !first_of_resumed && cp.prev != self.last_checkpoint_hash {
            return Err(at(
                "does not chain to the checkpoint before it: a checkpoint line was removed, \
                 reordered or replaced"
                    .to_string(),
            ));
        }
        self.checkpoints += 1;
        self.last_checkpoint_seq = Some(cp.seq);
        self.last_checkpoint_hash = line_hash(bytes);
        self.last_entry_vouched = true;
        Ok(())
    }

    fn end(&self, count: u64, head: &HeadState) -> Option<Problem> {
        let after = count + 1;
        let head = match head {
            HeadState::Valid(head) => head,
            HeadState::Invalid(why) => {
                return Some(problem(
                    0,
                    None,
                    format!("ledger.head was tampered with: {why}"),
                ));
            }
            HeadState::Absent => {
                return Some(problem(
                    0,
                    None,
                    "ledger.head is missing, so the end of the ledger cannot be checked: it was \
                     deleted"
                        .to_string(),
                ));
            }
        };
        let last_seq = match &self.last_entry {
            None => {
                return Some(problem(
                    after,
                    Some(0),
                    format!(
                        "the ledger has no entries but the signed head says it ends at seq {}: \
                         the log was emptied or deleted",
                        head.seq
                    ),
                ));
            }
            Some((_, seq, _)) => *seq,
        };
        if last_seq < head.seq {
            let first = last_seq + 1;
            let range = if first == head.seq {
                format!("entry seq {first} is")
            } else {
                format!("entries seq {first}..={} are", head.seq)
            };
            return Some(problem(
                after,
                Some(first),
                format!(
                    "{range} missing from the end: the signed head says the ledger ends at seq \
                     {} (truncated tail)",
                    head.seq
                ),
            ));
        }
        if head.checkpoint != self.last_checkpoint_hash {
            return Some(problem(
                after,
                None,
                format!(
                    "the last checkpoint is not the one the signed head names ({}): a checkpoint \
                     line was removed or replaced",
                    short(&head.checkpoint)
                ),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{CheckpointLine, Outcome};
    use crate::seal::Checkpoint;
    use crate::{Ledger, NewEntry};
    use std::fs;

    fn build(n: u64, every: u64) -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path())
            .expect("open")
            .with_checkpoint_every(every);
        for i in 0..n {
            ledger
                .append(NewEntry::new(format!("u{i}"), "a", "s", Outcome::Ok))
                .expect("append");
        }
        (dir, ledger)
    }

    #[test]
    fn a_validly_signed_checkpoint_over_the_wrong_head_is_caught() {
        // Only possible with the private key, so build one the way such a forger would.
        let (dir, ledger) = build(6, 4);
        let paths = Paths::new(dir.path());
        let key = keys::load_or_create(&paths, false).expect("key");
        let data = fs::read(&paths.ledger).expect("read");
        let (lines, _) = split_lines(&data);
        assert!(lines[4].starts_with(b"{\"checkpoint\":"));
        let forged = Checkpoint::sign(&key, 3, "t".into(), line_hash(lines[2]), GENESIS.into())
            .expect("signs");
        let forged = serde_json::to_vec(&CheckpointLine { checkpoint: forged }).expect("json");
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            out.extend_from_slice(if i == 4 { &forged } else { line });
            out.push(b'\n');
        }
        fs::write(&paths.ledger, out).expect("write");

        let problem = ledger.verify().expect("verify").problem.expect("a problem");
        assert_eq!((problem.line, problem.seq), (4, Some(3)));
        assert!(
            problem.message.contains("signed checkpoint on line 5"),
            "{problem}"
        );
    }

    #[test]
    fn a_checkpoint_before_any_entry_is_reported() {
        let (dir, ledger) = build(4, 4);
        let paths = Paths::new(dir.path());
        let data = fs::read(&paths.ledger).expect("read");
        let (lines, _) = split_lines(&data);
        let mut out = Vec::new();
        for line in [lines[4]].iter().chain(lines.iter()) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        fs::write(&paths.ledger, out).expect("write");
        let problem = ledger.verify().expect("verify").problem.expect("a problem");
        assert_eq!(problem.line, 1);
        assert!(problem.message.contains("before any entry"), "{problem}");
    }

    #[test]
    fn problems_read_well_for_people() {
        let p = |line, seq| Problem {
            line,
            seq,
            message: "m".into(),
        };
        assert_eq!(p(3, Some(2)).to_string(), "line 3 (seq 2): m");
        assert_eq!(p(3, None).to_string(), "line 3: m");
        assert_eq!(p(0, None).to_string(), "m");
    }

    #[test]
    fn a_bad_time_is_reported() {
        let (dir, ledger) = build(2, 0);
        let paths = Paths::new(dir.path());
        let text = fs::read_to_string(&paths.ledger).expect("read");
        let at = text.find("\"time\":\"").expect("time") + 8;
        let mut bytes = text.into_bytes();
        bytes[at] = b'X';
        fs::write(&paths.ledger, bytes).expect("write");
        let problem = ledger.verify().expect("verify").problem.expect("a problem");
        assert_eq!((problem.line, problem.seq), (1, Some(0)));
        assert!(problem.message.contains("RFC 3339"), "{problem}");
    }

    #[test]
    fn verification_serializes_with_stable_names() {
        let v = Verification {
            entries: 2,
            checkpoints: 0,
            last_checkpoint_seq: None,
            problem: Some(Problem {
                line: 1,
                seq: Some(0),
                message: "m".into(),
            }),
        };
        assert_eq!(
            serde_json::to_string(&v).expect("json"),
            r#"{"entries":2,"checkpoints":0,"last_checkpoint_seq":null,"problem":{"line":1,"seq":0,"message":"m"}}"#
        );
    }
}
