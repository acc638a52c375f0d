//! The served ledger: the file ledger's hash chain and signed checkpoints, one row per entry
//! (its exact line, and the checkpoint line after it when there is one), a signed head row,
//! and one writer at a time across replicas. Chain logic is `ward_ledger`'s own.

use std::path::Path;

use ward_ledger::chain::{self, ParsedLine};
use ward_ledger::{
    Entry, Head, Ledger, LedgerKey, NewEntry, Problem, PublicKey, Verification, Verifier,
};

use crate::Store;
use crate::db::{Backend, DbRow, Tx, args, lock_key, now_ms};
use crate::error::StoreError;
use crate::runs::seq_i64;

/// How many rows a verify or export reads at a time.
const PAGE: i64 = 512;

/// The ledger kept in a [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreLedger {
    store: Store,
    checkpoint_every: u64,
}

/// What [`StoreLedger::import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries copied in.
    pub imported: u64,
    /// Entries the store already held (an earlier import of the same file).
    pub already_present: u64,
    /// The seq of the last entry after the import, `None` for an empty ledger.
    pub last_seq: Option<u64>,
}

/// The store's ledger as the files of a state folder would hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLedger {
    /// `ledger.jsonl`: every line, each ending in a newline.
    pub ledger_jsonl: Vec<u8>,
    /// `ledger.head`, `None` for an empty ledger.
    pub head: Option<Vec<u8>>,
    /// `keys/ledger.pub`'s key, hex, `None` before the first append.
    pub public_key: Option<String>,
}

impl ExportedLedger {
    /// Writes `ledger.jsonl`, `ledger.head` and `keys/ledger.pub` into `dir` (created if
    /// missing), so that `ward_ledger::Ledger::open(dir).verify()` checks the export.
    /// Refuses a folder that already holds a ledger.
    pub fn write_to(&self, dir: &Path) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys).map_err(io(&keys))?;
        let ledger = dir.join("ledger.jsonl");
        if ledger.exists() || dir.join("ledger.head").exists() {
            return Err(StoreError::InvalidInput(format!(
                "{} already holds a ledger",
                dir.display()
            )));
        }
        std::fs::write(&ledger, &self.ledger_jsonl).map_err(io(&ledger))?;
        if let Some(head) = &self.head {
            let path = dir.join("ledger.head");
            std::fs::write(&path, head).map_err(io(&path))?;
        }
        if let Some(key) = &self.public_key {
            let path = keys.join("ledger.pub");
            std::fs::write(&path, format!("{key}\n")).map_err(io(&path))?;
        }
        Ok(())
    }
}

/// One row: an entry line and the checkpoint line after it, if any.
struct LineRow {
    seq: i64,
    line: Vec<u8>,
    checkpoint: Option<Vec<u8>>,
}

fn line_row(row: &DbRow) -> Result<LineRow, StoreError> {
    Ok(LineRow {
        seq: row.i64("seq")?,
        line: row.bytes("line")?,
        checkpoint: row.opt_bytes("checkpoint")?,
    })
}

/// The key the store's ledger was first signed with, and when.
struct KeyRecord {
    public_key: String,
    first_seq: i64,
    first_ms: i64,
}

fn problem(message: String) -> Problem {
    Problem {
        line: 0,
        seq: None,
        message,
    }
}

fn short(hex: &str) -> String {
    hex.chars().take(16).collect()
}

impl StoreLedger {
    pub(crate) fn new(store: Store) -> StoreLedger {
        StoreLedger {
            store,
            checkpoint_every: ward_ledger::DEFAULT_CHECKPOINT_EVERY,
        }
    }

    /// Writes a checkpoint after every `n`-th entry, as
    /// [`ward_ledger::Ledger::with_checkpoint_every`].
    pub fn with_checkpoint_every(mut self, n: u64) -> StoreLedger {
        self.checkpoint_every = n;
        self
    }

    /// Appends one entry, signed with `key`, and returns it as written. In one transaction
    /// under the ledger's writer lock (PostgreSQL: `pg_advisory_xact_lock`; SQLite:
    /// `BEGIN IMMEDIATE`): checks the end it extends (the last checkpoint, the rows after
    /// it and the signed head), then writes the row and the new head. Refuses with
    /// [`StoreError::LedgerDamaged`] when that end does not verify or the ledger was lost,
    /// and with [`StoreError::LedgerKeyMismatch`] when `key` is not the ledger's key.
    pub async fn append(&self, key: &LedgerKey, new: NewEntry) -> Result<Entry, StoreError> {
        let public = key.public_key();
        let mut tx = self.begin_locked().await?;
        let recorded = key_record(&mut tx).await?;
        if let Some(recorded) = &recorded
            && recorded.public_key != public.to_hex()
        {
            return Err(StoreError::LedgerKeyMismatch {
                recorded: recorded.public_key.clone(),
                given: public.to_hex(),
            });
        }
        let head = head_bytes(&mut tx).await?;
        let last_checkpoint = tx
            .fetch_one(
                "SELECT MAX(seq) AS seq FROM ledger_lines WHERE checkpoint IS NOT NULL",
                args![],
            )
            .await?
            .opt_i64("seq")?;
        let rows = tx
            .fetch_all(
                "SELECT seq, line, checkpoint FROM ledger_lines WHERE seq >= $1 ORDER BY seq",
                args![last_checkpoint.unwrap_or(i64::MIN)],
            )
            .await?;
        let end = if rows.is_empty() && head.is_none() && last_checkpoint.is_none() {
            if let Some(recorded) = &recorded {
                drop(tx);
                return Err(StoreError::LedgerDamaged {
                    problem: self.refusal(lost(recorded)).await?,
                });
            }
            None
        } else {
            let mut window = Vec::new();
            for row in &rows {
                let row = line_row(row)?;
                push_line(&mut window, &row.line);
                if let Some(cp) = &row.checkpoint {
                    push_line(&mut window, cp);
                }
            }
            match chain::check_end(&window, last_checkpoint.is_some(), head.as_deref(), &public) {
                Ok(end) => Some(end),
                Err(found) => {
                    drop(tx);
                    return Err(StoreError::LedgerDamaged {
                        problem: self.refusal(found).await?,
                    });
                }
            }
        };
        let appended =
            chain::next_entry(key, end.as_ref(), new, chain::now(), self.checkpoint_every)?;
        let seq = seq_i64(appended.entry.seq)?;
        tx.execute(
            "INSERT INTO ledger_lines (seq, line, checkpoint) VALUES ($1, $2, $3)",
            args![seq, appended.line.clone(), appended.checkpoint.clone()],
        )
        .await?;
        set_head(&mut tx, appended.head_bytes.clone()).await?;
        if recorded.is_none() {
            record_key(&mut tx, &public, seq).await?;
        }
        tx.commit().await?;
        Ok(appended.entry)
    }

    /// The problem to report when an append is refused: what a whole verify finds, else
    /// what the check of the end found (its line numbers counted from the last
    /// checkpoint, so not shown).
    async fn refusal(&self, found: Problem) -> Result<Problem, StoreError> {
        let verification = self.verify(None).await?;
        Ok(match verification.problem {
            Some(problem) => problem,
            None => Problem { line: 0, ..found },
        })
    }

    /// Checks the whole chain, from one consistent snapshot, with the walk and problems of
    /// [`ward_ledger::Ledger::verify`] (line numbers are those of the export, seqs those of
    /// the entries), against the key the store records, or against `pinned` (64 hex
    /// characters kept elsewhere), which must then match it. An empty store ledger
    /// verifies with 0 entries, unless a key was recorded (it was lost) or a key is pinned.
    /// `Err` only when the database cannot be read.
    pub async fn verify(&self, pinned: Option<&str>) -> Result<Verification, StoreError> {
        let mut tx = self.store.pool.begin_read().await?;
        let recorded = key_record(&mut tx).await?;
        let head = head_bytes(&mut tx).await?;
        let count = tx
            .fetch_one("SELECT COUNT(*) AS n FROM ledger_lines", args![])
            .await?
            .i64("n")?;
        let empty = Verification {
            entries: 0,
            checkpoints: 0,
            last_checkpoint_seq: None,
            problem: None,
        };
        if count == 0 && head.is_none() {
            let problem = match (&recorded, pinned) {
                (Some(recorded), _) => Some(lost(recorded)),
                (None, Some(pinned)) => Some(problem(format!(
                    "the store holds no ledger, but the pinned key {} says one was signed: it \
                     was lost, or this is not the store it lives in",
                    short(pinned.trim())
                ))),
                (None, None) => None,
            };
            return Ok(Verification { problem, ..empty });
        }
        let public = match key_to_check(recorded.as_ref(), pinned) {
            Ok(key) => key,
            Err(message) => {
                return Ok(Verification {
                    problem: Some(problem(message)),
                    ..empty
                });
            }
        };
        let mut verifier = Verifier::new(&public, head.as_deref());
        let mut after = i64::MIN;
        'pages: loop {
            let rows = tx
                .fetch_all(
                    "SELECT seq, line, checkpoint FROM ledger_lines WHERE seq > $1 \
                     ORDER BY seq LIMIT $2",
                    args![after, PAGE],
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let row = line_row(row)?;
                after = row.seq;
                if !verifier.push(&row.line) {
                    break 'pages;
                }
                if let Some(cp) = &row.checkpoint
                    && !verifier.push(cp)
                {
                    break 'pages;
                }
            }
        }
        drop(tx);
        Ok(verifier.finish())
    }

    /// The signed head as last written; `None` before the first append. Not verified.
    pub async fn head(&self) -> Result<Option<Head>, StoreError> {
        let Some(row) = self
            .store
            .pool
            .fetch_optional("SELECT head FROM ledger_head WHERE id = 1", args![])
            .await?
        else {
            return Ok(None);
        };
        let bytes = row.bytes("head")?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("the ledger head is not a valid head: {e}")))
    }

    /// The ledger's public key as hex (for pinning); `None` before the first append.
    pub async fn public_key(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.store.pool.begin_read().await?;
        Ok(key_record(&mut tx).await?.map(|r| r.public_key))
    }

    /// Entries with seq from `from` on, at most `limit`, in order. Does not check hashes
    /// or signatures (that is [`StoreLedger::verify`]); fails on a row that does not parse.
    pub async fn entries(&self, from: u64, limit: u32) -> Result<Vec<Entry>, StoreError> {
        let rows = self
            .store
            .pool
            .fetch_all(
                "SELECT seq, line, checkpoint FROM ledger_lines WHERE seq >= $1 \
                 ORDER BY seq LIMIT $2",
                args![seq_i64(from)?, i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let row = line_row(row)?;
                match chain::parse_line(&row.line) {
                    Ok(ParsedLine::Entry(entry)) => Ok(entry),
                    Ok(ParsedLine::Checkpoint(_)) => Err(StoreError::Corrupt(format!(
                        "ledger row {} holds a checkpoint where its entry should be",
                        row.seq
                    ))),
                    Err(why) => Err(StoreError::Corrupt(format!(
                        "ledger row {}: {why}",
                        row.seq
                    ))),
                }
            })
            .collect()
    }

    /// Brings a file ledger in without breaking its chain: reads it under its writers'
    /// lock, refuses it unless it verifies (against `pinned` when given,
    /// [`StoreError::ImportDamaged`]) and is signed with `key` (the key this store
    /// ledger will go on signing with), then copies its lines and its signed head
    /// verbatim, so that later appends extend the same chain and verify covers all of it.
    ///
    /// The store's ledger must be empty, or exactly a prefix of the file's (an earlier
    /// import of it, before the file grew): then only the rest is copied. Anything else
    /// is refused with [`StoreError::ImportConflict`], writing nothing.
    pub async fn import(
        &self,
        file: &Ledger,
        key: &LedgerKey,
        pinned: Option<&str>,
    ) -> Result<ImportReport, StoreError> {
        let file = file.clone();
        let pinned_owned = pinned.map(str::to_string);
        let snapshot = tokio::task::spawn_blocking(move || file.snapshot(pinned_owned.as_deref()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        if let Some(problem) = snapshot.verification.problem {
            return Err(StoreError::ImportDamaged { problem });
        }
        let public = key.public_key();
        let rows = rows_of(&snapshot.lines)?;
        if rows.is_empty() {
            let last_seq = self.last_seq().await?;
            return Ok(ImportReport {
                imported: 0,
                already_present: last_seq.map_or(0, |s| s + 1),
                last_seq,
            });
        }
        // The file verified against its own (or the pinned) key; it must be this key too.
        let file_key = match pinned {
            Some(pinned) => Some(PublicKey::from_hex(pinned)?),
            None => snapshot.public_key,
        };
        if file_key != Some(public) {
            return Err(StoreError::LedgerKeyMismatch {
                recorded: file_key.map(|k| k.to_hex()).unwrap_or_default(),
                given: public.to_hex(),
            });
        }

        let mut tx = self.begin_locked().await?;
        let recorded = key_record(&mut tx).await?;
        if let Some(recorded) = &recorded
            && recorded.public_key != public.to_hex()
        {
            return Err(StoreError::LedgerKeyMismatch {
                recorded: recorded.public_key.clone(),
                given: public.to_hex(),
            });
        }
        let existing = tx
            .fetch_all(
                "SELECT seq, line, checkpoint FROM ledger_lines ORDER BY seq",
                args![],
            )
            .await?;
        if existing.len() > rows.len() {
            return Err(StoreError::ImportConflict(format!(
                "the store's ledger has {} entries, more than the file's {}: it is not a \
                 prefix of the file",
                existing.len(),
                rows.len()
            )));
        }
        for (index, row) in existing.iter().enumerate() {
            let row = line_row(row)?;
            let (seq, line, checkpoint) = &rows[index];
            if row.seq != *seq || row.line != *line || row.checkpoint != *checkpoint {
                return Err(StoreError::ImportConflict(format!(
                    "the store's ledger differs from the file's at seq {seq}: the store already \
                     holds another ledger (import only into an empty store, or one holding a \
                     prefix of this file)"
                )));
            }
        }
        let already = existing.len();
        for (seq, line, checkpoint) in &rows[already..] {
            tx.execute(
                "INSERT INTO ledger_lines (seq, line, checkpoint) VALUES ($1, $2, $3)",
                args![*seq, line.clone(), checkpoint.clone()],
            )
            .await?;
        }
        if let Some(head) = snapshot.head {
            set_head(&mut tx, head).await?;
        }
        if recorded.is_none() {
            record_key(&mut tx, &public, 0).await?;
        }
        tx.commit().await?;
        let last = rows.last().map(|(seq, _, _)| *seq as u64);
        Ok(ImportReport {
            imported: (rows.len() - already) as u64,
            already_present: already as u64,
            last_seq: last,
        })
    }

    /// The whole ledger as `ledger.jsonl`, `ledger.head` and `keys/ledger.pub` would hold
    /// it, byte for byte the file ledger's format, from one consistent snapshot.
    pub async fn export(&self) -> Result<ExportedLedger, StoreError> {
        let mut tx = self.store.pool.begin_read().await?;
        let recorded = key_record(&mut tx).await?;
        let head = head_bytes(&mut tx).await?;
        let mut jsonl = Vec::new();
        let mut after = i64::MIN;
        loop {
            let rows = tx
                .fetch_all(
                    "SELECT seq, line, checkpoint FROM ledger_lines WHERE seq > $1 \
                     ORDER BY seq LIMIT $2",
                    args![after, PAGE],
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let row = line_row(row)?;
                after = row.seq;
                push_line(&mut jsonl, &row.line);
                if let Some(cp) = &row.checkpoint {
                    push_line(&mut jsonl, cp);
                }
            }
        }
        Ok(ExportedLedger {
            ledger_jsonl: jsonl,
            head,
            public_key: recorded.map(|r| r.public_key),
        })
    }

    /// The seq of the last row, `None` when there is none.
    async fn last_seq(&self) -> Result<Option<u64>, StoreError> {
        let seq = self
            .store
            .pool
            .fetch_one("SELECT MAX(seq) AS seq FROM ledger_lines", args![])
            .await?
            .opt_i64("seq")?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()))
    }

    /// A write transaction holding the ledger's writer lock.
    async fn begin_locked(&self) -> Result<Tx, StoreError> {
        let mut tx = self.store.pool.begin_write().await?;
        if tx.backend() == Backend::Postgres {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                args![lock_key("ledger")],
            )
            .await?;
        }
        Ok(tx)
    }
}

fn push_line(buf: &mut Vec<u8>, line: &[u8]) {
    buf.extend_from_slice(line);
    buf.push(b'\n');
}

/// A file ledger's lines (already verified) as rows: each entry with the checkpoint line
/// that follows it.
#[allow(clippy::type_complexity)]
fn rows_of(lines: &[Vec<u8>]) -> Result<Vec<(i64, Vec<u8>, Option<Vec<u8>>)>, StoreError> {
    let mut rows: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match chain::parse_line(line) {
            Ok(ParsedLine::Entry(entry)) => rows.push((seq_i64(entry.seq)?, line.clone(), None)),
            Ok(ParsedLine::Checkpoint(cp)) => match rows.last_mut() {
                Some((_, _, slot @ None)) => *slot = Some(line.clone()),
                _ => {
                    return Err(StoreError::ImportConflict(format!(
                        "line {} is a second checkpoint for seq {}, which the store cannot hold",
                        index + 1,
                        cp.seq
                    )));
                }
            },
            Err(why) => {
                return Err(StoreError::ImportConflict(format!(
                    "line {} does not parse: {why}",
                    index + 1
                )));
            }
        }
    }
    Ok(rows)
}

async fn key_record(tx: &mut Tx) -> Result<Option<KeyRecord>, StoreError> {
    tx.fetch_optional(
        "SELECT public_key, first_seq, first_ms FROM ledger_key WHERE id = 1",
        args![],
    )
    .await?
    .map(|row| {
        Ok(KeyRecord {
            public_key: row.text("public_key")?,
            first_seq: row.i64("first_seq")?,
            first_ms: row.i64("first_ms")?,
        })
    })
    .transpose()
}

async fn record_key(tx: &mut Tx, public: &PublicKey, seq: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO ledger_key (id, public_key, first_seq, first_ms) VALUES (1, $1, $2, $3)",
        args![public.to_hex(), seq, now_ms()],
    )
    .await?;
    Ok(())
}

async fn head_bytes(tx: &mut Tx) -> Result<Option<Vec<u8>>, StoreError> {
    tx.fetch_optional("SELECT head FROM ledger_head WHERE id = 1", args![])
        .await?
        .map(|row| row.bytes("head"))
        .transpose()
}

async fn set_head(tx: &mut Tx, head: Vec<u8>) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO ledger_head (id, head) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET head = excluded.head",
        args![head],
    )
    .await?;
    Ok(())
}

fn lost(recorded: &KeyRecord) -> Problem {
    let time = crate::db::from_ms(recorded.first_ms)
        .map(chain::format_time)
        .unwrap_or_default();
    problem(format!(
        "the ledger was lost: key {} first signed here at {time} (seq {}), but the store holds \
         no ledger (its rows and head are gone)",
        short(&recorded.public_key),
        recorded.first_seq
    ))
}

/// The key to check signatures against, or why there is none, in words.
fn key_to_check(recorded: Option<&KeyRecord>, pinned: Option<&str>) -> Result<PublicKey, String> {
    let recorded_key = match recorded {
        Some(r) => Some(
            PublicKey::from_hex(&r.public_key)
                .map_err(|e| format!("the store's recorded ledger key is unusable: {e}"))?,
        ),
        None => None,
    };
    let Some(pinned) = pinned else {
        return recorded_key.ok_or_else(|| {
            "the store records no ledger key, so no signature can be checked".to_string()
        });
    };
    let pinned =
        PublicKey::from_hex(pinned).map_err(|e| format!("the pinned key is unusable: {e}"))?;
    match recorded_key {
        Some(recorded) if recorded != pinned => Err(format!(
            "the store records ledger key {} but the pinned key is {}: the key was replaced",
            short(&recorded.to_hex()),
            short(&pinned.to_hex())
        )),
        _ => Ok(pinned),
    }
}
