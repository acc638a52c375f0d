//! Files on disk: where they live, the writers' lock, and the durable-write helpers.
//! Appends only ever read the tail of `ledger.jsonl`, so their cost does not grow with
//! the ledger (given checkpoints; without them the scan falls back to the whole file).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::entry::{Line, line_hash, parse_line};
use crate::error::{LedgerError, io_at};

/// Every path the ledger uses, derived once from the state folder.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) state: PathBuf,
    pub(crate) ledger: PathBuf,
    pub(crate) head: PathBuf,
    pub(crate) head_tmp: PathBuf,
    pub(crate) lock: PathBuf,
    pub(crate) keys: PathBuf,
    pub(crate) private_key: PathBuf,
    pub(crate) public_key: PathBuf,
    pub(crate) public_key_tmp: PathBuf,
}

impl Paths {
    pub(crate) fn new(state: &Path) -> Paths {
        let keys = state.join("keys");
        Paths {
            state: state.to_path_buf(),
            ledger: state.join("ledger.jsonl"),
            head: state.join("ledger.head"),
            // A fixed temp name is safe: only the lock holder ever writes it.
            head_tmp: state.join("ledger.head.tmp"),
            lock: state.join("ledger.lock"),
            private_key: keys.join("ledger.ed25519"),
            public_key: keys.join("ledger.pub"),
            public_key_tmp: keys.join("ledger.pub.tmp"),
            keys,
        }
    }
}

/// Holds the exclusive writers' lock until dropped.
///
/// The lock is on a separate file rather than on `ledger.jsonl` so that it also covers
/// creating the key pair and replacing `ledger.head`, which happen outside that file.
pub(crate) struct WriteLock {
    _file: File,
}

pub(crate) fn lock(paths: &Paths) -> Result<WriteLock, LedgerError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.lock)
        .map_err(io_at(&paths.lock))?;
    // Closing the file (on drop) releases the lock, also when the process dies.
    file.lock().map_err(io_at(&paths.lock))?;
    Ok(WriteLock { _file: file })
}

/// What an append needs to know about the end of the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tail {
    /// Length of the file when read; an append that fails is cut back to it.
    pub(crate) len: u64,
    /// Seq and line hash of the last entry.
    pub(crate) last_entry: Option<(u64, String)>,
    /// Line hash of the last checkpoint.
    pub(crate) last_checkpoint: Option<String>,
}

/// Reads backwards from the end in growing windows until both the last entry and the last
/// checkpoint are found (or the start is reached). Refuses a file whose end is torn or
/// unparseable: appending after it would chain onto something verify cannot accept.
pub(crate) fn read_tail(file: &mut File, path: &Path, window: u64) -> Result<Tail, LedgerError> {
    let len = file.metadata().map_err(io_at(path))?.len();
    let mut tail = Tail {
        len,
        ..Tail::default()
    };
    if len == 0 {
        return Ok(tail);
    }
    let corrupt = |message: String| LedgerError::Corrupt {
        path: path.to_path_buf(),
        line: None,
        message,
    };
    let mut window = window.max(1);
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(io_at(path))?;
        let mut buf = Vec::new();
        Read::by_ref(file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io_at(path))?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(corrupt(
                "the last line is incomplete (a torn write?); run verify and repair before \
                 appending"
                    .to_string(),
            ));
        };
        let mut segments: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
        // The first segment of a window that does not start the file may be cut in half.
        if start > 0 {
            segments.remove(0);
        }
        tail.last_entry = None;
        tail.last_checkpoint = None;
        for segment in segments.iter().rev() {
            let line = parse_line(segment).map_err(|e| {
                corrupt(format!(
                    "a line near the end is not a valid ledger line ({}); run verify",
                    e.message
                ))
            })?;
            match line {
                Line::Entry(entry) if tail.last_entry.is_none() => {
                    tail.last_entry = Some((entry.seq, line_hash(segment)));
                }
                Line::Checkpoint(_) if tail.last_checkpoint.is_none() => {
                    tail.last_checkpoint = Some(line_hash(segment));
                }
                _ => {}
            }
            if tail.last_entry.is_some() && tail.last_checkpoint.is_some() {
                return Ok(tail);
            }
        }
        if start == 0 {
            return Ok(tail);
        }
        window = window.saturating_mul(2);
    }
}

/// Replaces `path` with `bytes` so that readers see either the old or the new file, never a
/// half-written one, and the new one survives a power cut once this returns.
pub(crate) fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let mut file = File::create(tmp).map_err(io_at(tmp))?;
    file.write_all(bytes).map_err(io_at(tmp))?;
    file.sync_all().map_err(io_at(tmp))?;
    drop(file);
    fs::rename(tmp, path).map_err(io_at(path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Makes a rename or a file creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a whole file, treating an absent one as empty.
pub(crate) fn read_or_empty(path: &Path) -> Result<Vec<u8>, LedgerError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// Splits the file into lines without their newlines. The flag is true when the last line
/// has no newline, which a complete append never leaves behind.
pub(crate) fn split_lines(data: &[u8]) -> (Vec<&[u8]>, bool) {
    if data.is_empty() {
        return (Vec::new(), false);
    }
    match data.strip_suffix(b"\n") {
        Some(body) => (body.split(|b| *b == b'\n').collect(), false),
        None => (data.split(|b| *b == b'\n').collect(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{CheckpointLine, Entry, GENESIS, Outcome};
    use crate::seal::Checkpoint;
    use ed25519_dalek::SigningKey;
    use std::collections::BTreeMap;

    fn entry_line(seq: u64, pad: usize) -> Vec<u8> {
        let entry = Entry {
            seq,
            time: "2026-11-26T11:31:00.000Z".into(),
            actor: "a".repeat(pad),
            action: "x".into(),
            subject: "y".into(),
            result: Outcome::Ok,
            estate_commit: None,
            details: BTreeMap::new(),
            prev: GENESIS.into(),
        };
        serde_json::to_vec(&entry).expect("serializes")
    }

    fn checkpoint_line(seq: u64) -> Vec<u8> {
        let key = SigningKey::from_bytes(&[1; 32]);
        let checkpoint =
            Checkpoint::sign(&key, seq, "t".into(), GENESIS.into(), GENESIS.into()).expect("signs");
        serde_json::to_vec(&CheckpointLine { checkpoint }).expect("serializes")
    }

    fn file_with(lines: &[Vec<u8>]) -> (tempfile::TempDir, PathBuf, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let mut data = Vec::new();
        for line in lines {
            data.extend_from_slice(line);
            data.push(b'\n');
        }
        fs::write(&path, data).expect("write");
        let file = File::open(&path).expect("open");
        (dir, path, file)
    }

    #[test]
    fn finds_last_entry_and_checkpoint_with_windows_smaller_than_a_line() {
        let lines = vec![
            entry_line(0, 300),
            checkpoint_line(0),
            entry_line(1, 500),
            entry_line(2, 10),
        ];
        let want = Tail {
            len: lines.iter().map(|l| l.len() as u64 + 1).sum(),
            last_entry: Some((2, line_hash(&lines[3]))),
            last_checkpoint: Some(line_hash(&lines[1])),
        };
        for window in [1, 7, 64, 333, 4096] {
            let (_dir, path, mut file) = file_with(&lines);
            assert_eq!(
                read_tail(&mut file, &path, window).expect("tail"),
                want,
                "window {window}"
            );
        }
    }

    #[test]
    fn without_any_checkpoint_reads_to_the_start() {
        let lines = vec![entry_line(0, 1), entry_line(1, 1)];
        let (_dir, path, mut file) = file_with(&lines);
        let tail = read_tail(&mut file, &path, 16).expect("tail");
        assert_eq!(tail.last_entry, Some((1, line_hash(&lines[1]))));
        assert_eq!(tail.last_checkpoint, None);
    }

    #[test]
    fn refuses_a_torn_or_garbled_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let mut torn = entry_line(0, 1);
        torn.extend_from_slice(b"\n{\"seq\":1,\"ti");
        fs::write(&path, &torn).expect("write");
        let mut file = File::open(&path).expect("open");
        let err = read_tail(&mut file, &path, 4096).expect_err("torn");
        assert!(err.to_string().contains("incomplete"), "{err}");

        fs::write(&path, b"\xff\xff\n").expect("write");
        let mut file = File::open(&path).expect("open");
        let err = read_tail(&mut file, &path, 4096).expect_err("garbled");
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn split_lines_flags_a_missing_final_newline() {
        assert_eq!(split_lines(b""), (vec![], false));
        assert_eq!(split_lines(b"a\nb\n"), (vec![&b"a"[..], b"b"], false));
        assert_eq!(split_lines(b"a\nb"), (vec![&b"a"[..], b"b"], true));
        assert_eq!(split_lines(b"\n"), (vec![&b""[..]], false));
    }
}
