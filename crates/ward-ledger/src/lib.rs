//! The tamper-evident audit ledger: every action that changes something is appended as one
//! line of JSON, hash-chained to the line before it, with Ed25519-signed checkpoints.
//!
//! # Format
//!
//! A state folder holds:
//!
//! - `ledger.jsonl`, append-only, one JSON object per line, each line ending in `\n`.
//!   An *entry* line is an [`Entry`], fields always in this order:
//!   `{"seq":0,"time":"2026-11-26T11:31:00.123Z","actor":"alice","action":"backup",
//!   "subject":"st-marys/billing/prod","result":"ok","estate_commit":"9f2c…","details":{…},
//!   "prev":"000…0"}`. `seq` counts entries from 0; `time` is RFC 3339 UTC with
//!   milliseconds; `result` is one of `ok`, `failed`, `denied`, `findings`; `estate_commit`
//!   is a string or `null` (a dirty tree is written `<sha>-dirty`); `details` keys are
//!   sorted; `prev` is the lowercase hex SHA-256 of the previous entry's exact line bytes
//!   (without the newline), 64 zeros for the first entry.
//!   A *checkpoint* line is `{"checkpoint":{"seq":63,"time":…,"head":…,"prev":…,"key":…,
//!   "signature":…}}`, written after every N-th entry (64 by default): `head` is the hash of
//!   entry `seq`'s line, `prev` the hash of the previous checkpoint line (zeros for the
//!   first), `key` the public key and `signature` an Ed25519 signature over
//!   `["ward-ledger checkpoint v1",seq,time,head,prev]` encoded as JSON.
//! - `ledger.head`, one JSON object `{"seq","time","hash","checkpoint","key","signature"}`:
//!   the seq and line hash of the last entry and the hash of the last checkpoint line,
//!   signed over `["ward-ledger head v1",seq,time,hash,checkpoint]`. It is replaced
//!   atomically (temp file, fsync, rename) on every append.
//! - `keys/ledger.ed25519` (the 32-byte private seed as hex, mode 0600, folder 0700) and
//!   `keys/ledger.pub` (the public key as hex), created on the first append.
//! - `keys/ledger.first-use`, `{"key","seq","time"}`: when the key first signed here. It
//!   lives beside the key so that deleting `ledger.jsonl` and `ledger.head` is reported as a
//!   lost ledger instead of verifying as an empty one.
//! - `ledger.head.tmp`, present only during an append (or after a crash in one): the signed
//!   head of the entry being appended, written before the entry itself.
//! - `ledger.lock`, an empty file that writers lock exclusively around
//!   read-tail + append + fsync + head update, so several processes can append at once.
//!
//! # Threat model
//!
//! [`Ledger::verify`] assumes an attacker who can read and write the state folder but not
//! read the private key. It then detects, and reports at the first bad line: an edited
//! field or byte anywhere; a deleted, inserted, duplicated or reordered entry; a removed,
//! moved or forged checkpoint (bad signature, another key, or a head hash that does not
//! match the chain at that seq); entries cut from the end, even after the last checkpoint,
//! and a torn last line (through the signed head); entries appended without the key;
//! an edited, replaced or deleted head file; unparseable lines of any kind.
//!
//! It cannot detect what a key holder does: whoever holds `keys/ledger.ed25519` can rewrite
//! history and re-sign it. Whoever can replace *both* key files can do the same, unless the
//! public key is pinned outside the folder ([`Ledger::verify_with_key`]). Nor can it detect
//! a rollback of both `ledger.jsonl` and `ledger.head` to an older, consistent state (a
//! copy taken earlier), nor the deletion of the whole folder (keys included), which
//! verifies as an empty ledger unless a pinned key is given. Both need a record outside the
//! attacker's reach: publish the head ([`Ledger::head`]) to an external witness (a Git
//! repository, a transparency log, a ticket) and compare.
//!
//! [`Ledger::append`] never signs over damage: before it signs, it checks the last
//! checkpoint, the entries after it and the signed head (so its cost does not grow with
//! the ledger), and refuses with [`LedgerError::Damaged`] if they do not verify or the
//! ledger was lost. Damage before the last checkpoint is [`Ledger::verify`]'s to find.
//!
//! Crash consistency: an append writes the new signed head to `ledger.head.tmp` before it
//! appends the entry, and renames it over `ledger.head` after. Interrupted after the entry,
//! the next append finds the entry covered by that pending head and completes the rename
//! (until then verify reports the entry as not covered by the head); interrupted before,
//! the pending head is simply replaced.
//!
//! # The chain elsewhere
//!
//! [`chain`] builds the same lines and signed head for a chain kept somewhere else (the
//! control plane's store keeps one line per row), [`Verifier`] walks such a chain with the
//! checks and [`Problem`]s of [`Ledger::verify`], [`LedgerKey`] loads the state folder's
//! signing key for it, and [`Ledger::snapshot`] reads (and verifies) a file ledger's exact
//! bytes to bring them in.

pub mod chain;
mod entry;
mod error;
mod keys;
mod seal;
mod store;
mod verify;

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use ed25519_dalek::VerifyingKey;

pub use entry::{Entry, GENESIS, NewEntry, Outcome};
pub use error::LedgerError;
pub use keys::{LedgerKey, PublicKey};
pub use seal::{Checkpoint, Head};
pub use verify::{ChainEnd, Problem, Verification, Verifier};

use entry::{Line, parse_line};
use error::io_at;
use store::{Paths, Window};
use verify::HeadState;

/// A file ledger's bytes as [`Ledger::snapshot`] read them at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Every line of `ledger.jsonl` (entries and checkpoints), without newlines; a torn
    /// last line is included as it is (and reported by `verification`).
    pub lines: Vec<Vec<u8>>,
    /// `ledger.head` as it is, `None` when absent.
    pub head: Option<Vec<u8>>,
    /// `keys/ledger.pub`, `None` when missing or unusable.
    pub public_key: Option<PublicKey>,
    /// What verifying exactly these bytes found.
    pub verification: Verification,
}

/// How many entries go between checkpoints unless [`Ledger::with_checkpoint_every`] says
/// otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 64;

/// How much of the end of the file an append reads first; it doubles until it holds the
/// last checkpoint and the entry before it.
const TAIL_WINDOW: u64 = 64 * 1024;

/// A ledger in one state folder. Cheap to open; every call goes to disk, so several
/// `Ledger`s (in one process or many) can share a folder.
#[derive(Debug, Clone)]
pub struct Ledger {
    paths: Paths,
    checkpoint_every: u64,
}

impl Ledger {
    /// Opens the ledger in `state_dir`. Creates nothing: files and folders appear on the
    /// first append.
    pub fn open(state_dir: &Path) -> Result<Ledger, LedgerError> {
        if state_dir.exists() && !state_dir.is_dir() {
            return Err(LedgerError::Io {
                path: state_dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "the ledger state folder is not a folder",
                ),
            });
        }
        Ok(Ledger {
            paths: Paths::new(state_dir),
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        })
    }

    /// Writes a checkpoint after every `n`-th entry (after seq `n-1`, `2n-1`, …).
    /// `0` writes none; the signed head still protects the end of the ledger.
    pub fn with_checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n;
        self
    }

    /// Appends one entry and returns it as written. Under the writers' lock: checks the end
    /// of the chain it extends (the last checkpoint, the entries after it and the signed
    /// head; see [`verify`] for the whole file), creates the folders and key pair for a new
    /// ledger, appends and fsyncs the entry (and a checkpoint when one is due), then
    /// replaces `ledger.head` with the new signed head.
    ///
    /// Refuses with [`LedgerError::Damaged`], writing nothing, when that end does not
    /// verify or the ledger was lost (the key has a first-use record but the ledger files
    /// are gone): a key never signs over damage. Refuses with [`LedgerError::Key`] when a
    /// ledger exists but its key does not.
    pub fn append(&self, new: NewEntry) -> Result<Entry, LedgerError> {
        let paths = &self.paths;
        std::fs::create_dir_all(&paths.state).map_err(io_at(&paths.state))?;
        let _lock = store::lock(paths)?;

        let window = match File::open(&paths.ledger) {
            Ok(mut file) => store::read_window(&mut file, &paths.ledger, TAIL_WINDOW)?,
            Err(e) if e.kind() == ErrorKind::NotFound => Window::default(),
            Err(e) => return Err(io_at(&paths.ledger)(e)),
        };
        let head_bytes = store::read_if_present(&paths.head)?;
        let fresh = window.len == 0 && head_bytes.is_none();
        if fresh && keys::first_use(paths)?.is_some() {
            return Err(self.refusal(None));
        }
        let key = LedgerKey::from_signing(keys::load_or_create(paths, fresh)?);
        let public = key.public_key();
        let end = if fresh {
            None
        } else {
            let end = self.sound_end(&window, head_bytes.as_deref(), &public.0)?;
            if end.seq == u64::MAX {
                return Err(LedgerError::Corrupt {
                    path: paths.ledger.clone(),
                    line: None,
                    message: "the last seq is the largest possible".to_string(),
                });
            }
            Some(end)
        };

        let appended =
            chain::next_entry(&key, end.as_ref(), new, entry::now(), self.checkpoint_every)?;
        let (entry, time) = (appended.entry, appended.head.time);
        let seq = entry.seq;
        let mut bytes = appended.line;
        bytes.push(b'\n');
        if let Some(cp_line) = appended.checkpoint {
            bytes.extend_from_slice(&cp_line);
            bytes.push(b'\n');
        }
        let head_bytes = appended.head_bytes;

        // The new head is on disk before the entry: an append cut short after writing the
        // entry is then completed by the next append (see `sound_end`) rather than left
        // looking like an entry appended without the key.
        store::write_synced(&paths.head_tmp, &head_bytes)?;
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&paths.ledger)
            .map_err(io_at(&paths.ledger))?;
        // One write for entry and checkpoint; if it fails, cut the file back so that no
        // torn line blocks later appends.
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            let _ = file.set_len(window.len);
            let _ = std::fs::remove_file(&paths.head_tmp);
            return Err(io_at(&paths.ledger)(e));
        }
        store::rename_synced(&paths.head_tmp, &paths.head)?;
        keys::record_first_use(paths, &public.0, seq, &time)?;
        Ok(entry)
    }

    /// Where the chain ends, once the end has been checked against the signed head, or
    /// against the pending head (`ledger.head.tmp`) of an append interrupted after writing
    /// its entry, which is then completed. Anything else is refused.
    fn sound_end(
        &self,
        window: &Window,
        head_bytes: Option<&[u8]>,
        public: &VerifyingKey,
    ) -> Result<ChainEnd, LedgerError> {
        let paths = &self.paths;
        let head = match head_bytes {
            None => HeadState::Absent,
            Some(bytes) => verify::read_head(bytes, public),
        };
        let problem = match verify::check_end(&window.bytes, window.resumed, &head, public) {
            Ok(end) => return Ok(end),
            Err(problem) => problem,
        };
        if let Some(bytes) = store::read_if_present(&paths.head_tmp)?
            && let HeadState::Valid(pending) = verify::read_head(&bytes, public)
        {
            // Only the one append after the signed head (or the very first) can be pending.
            let next = match &head {
                HeadState::Valid(head) => head.seq.checked_add(1) == Some(pending.seq),
                HeadState::Absent => pending.seq == 0,
                HeadState::Invalid(_) => false,
            };
            let pending = HeadState::Valid(pending);
            if next
                && let Ok(end) = verify::check_end(&window.bytes, window.resumed, &pending, public)
            {
                store::rename_synced(&paths.head_tmp, &paths.head)?;
                return Ok(end);
            }
        }
        Err(self.refusal(Some(problem)))
    }

    /// The refusal to append: what verify finds in the whole ledger (with true line
    /// numbers), else what the check of its end found.
    fn refusal(&self, found: Option<Problem>) -> LedgerError {
        let problem = match verify::verify(&self.paths, None) {
            Err(e) => return e,
            Ok(Verification {
                problem: Some(problem),
                ..
            }) => problem,
            Ok(_) => {
                let mut problem = found.unwrap_or_else(|| Problem {
                    line: 0,
                    seq: None,
                    message: "the ledger was lost".to_string(),
                });
                // Its line numbers count from the last checkpoint, not the file's start.
                problem.line = 0;
                problem
            }
        };
        LedgerError::Damaged {
            path: self.paths.state.clone(),
            problem,
        }
    }

    /// All entries in order, without checkpoints. Does not check hashes or signatures
    /// (that is [`Ledger::verify`]); fails on a line that cannot be parsed at all.
    pub fn entries(&self) -> Result<Vec<Entry>, LedgerError> {
        let data = store::read_or_empty(&self.paths.ledger)?;
        let (lines, torn) = store::split_lines(&data);
        let count = lines.len();
        let mut entries = Vec::with_capacity(count);
        for (index, bytes) in lines.into_iter().enumerate() {
            let corrupt = |message: String| LedgerError::Corrupt {
                path: self.paths.ledger.clone(),
                line: Some(index as u64 + 1),
                message,
            };
            if torn && index + 1 == count {
                return Err(corrupt("the last line is incomplete".to_string()));
            }
            match parse_line(bytes).map_err(|e| corrupt(e.message))? {
                Line::Entry(entry) => entries.push(entry),
                Line::Checkpoint(_) => {}
            }
        }
        Ok(entries)
    }

    /// Checks the whole ledger against `keys/ledger.pub`. Returns `Err` only when a file
    /// cannot be read; anything wrong with the contents is the returned
    /// [`Verification::problem`]. An absent or empty ledger (and no head) verifies with 0
    /// entries, unless the key's first-use record says a ledger was signed here (then it
    /// was lost).
    pub fn verify(&self) -> Result<Verification, LedgerError> {
        verify::verify(&self.paths, None)
    }

    /// Like [`Ledger::verify`], but against a public key (64 hex characters) kept outside
    /// the state folder, so that replacing both key files is detected too. A pinned key
    /// says a ledger exists: finding none is a problem.
    pub fn verify_with_key(&self, public_key_hex: &str) -> Result<Verification, LedgerError> {
        verify::verify(&self.paths, Some(public_key_hex))
    }

    /// The ledger's exact bytes, read under the writers' lock (so no append is half done),
    /// and their verification as [`Ledger::verify`] (or, with `pinned`,
    /// [`Ledger::verify_with_key`]) would report it: for copying a file ledger elsewhere
    /// without breaking its chain. Creates nothing when the state folder does not exist.
    pub fn snapshot(&self, pinned: Option<&str>) -> Result<Snapshot, LedgerError> {
        let paths = &self.paths;
        let _lock = if paths.state.is_dir() {
            Some(store::lock(paths)?)
        } else {
            None
        };
        let data = store::read_or_empty(&paths.ledger)?;
        let head = store::read_if_present(&paths.head)?;
        let verification = verify::verify_bytes(paths, &data, head.clone(), pinned)?;
        let public_key = match keys::load_public(paths)? {
            Ok(key) => Some(PublicKey(key)),
            Err(_) => None,
        };
        let (lines, _) = store::split_lines(&data);
        let lines = lines.into_iter().map(<[u8]>::to_vec).collect();
        Ok(Snapshot {
            lines,
            head,
            public_key,
            verification,
        })
    }

    /// The signed head as last written, for publishing to an external witness; `None`
    /// before the first append. Not verified: a witness compares it with its own copy.
    pub fn head(&self) -> Result<Option<Head>, LedgerError> {
        let bytes = store::read_or_empty(&self.paths.head)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LedgerError::Corrupt {
                path: self.paths.head.clone(),
                line: None,
                message: format!("not a valid head: {e}"),
            })
    }

    /// The public key as hex, for pinning; `None` before the first append.
    pub fn public_key(&self) -> Result<Option<String>, LedgerError> {
        if !self.paths.public_key.exists() {
            return Ok(None);
        }
        match keys::load_public(&self.paths)? {
            Ok(key) => Ok(Some(hex::encode(key.to_bytes()))),
            Err(message) => Err(LedgerError::Key {
                path: self.paths.public_key.clone(),
                message,
            }),
        }
    }
}
