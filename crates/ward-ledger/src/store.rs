//! Files on disk: where they live, the writers' lock, and the durable-write helpers.
//! Appends only ever read the tail of `ledger.jsonl` from its last checkpoint, so their
//! cost does not grow with the ledger (without checkpoints they read the whole file).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::entry::{Line, parse_line};
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
    /// When the key first signed (see `keys::record_first_use`); beside the key, so that
    /// deleting the ledger files does not delete it.
    pub(crate) first_use: PathBuf,
    pub(crate) first_use_tmp: PathBuf,
}

impl Paths {
    pub(crate) fn new(state: &Path) -> Paths {
        let keys = state.join("keys");
        Paths {
            state: state.to_path_buf(),
            ledger: state.join("ledger.jsonl"),
            head: state.join("ledger.head"),
            // A fixed name is safe: only the lock holder ever writes it. It is also where an
            // append leaves its signed head until the entry is written (the pending head).
            head_tmp: state.join("ledger.head.tmp"),
            lock: state.join("ledger.lock"),
            private_key: keys.join("ledger.ed25519"),
            public_key: keys.join("ledger.pub"),
            public_key_tmp: keys.join("ledger.pub.tmp"),
            first_use: keys.join("ledger.first-use"),
            first_use_tmp: keys.join("ledger.first-use.tmp"),
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

/// The end of `ledger.jsonl` that an append checks before it extends the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Window {
    /// Length of the file when read; an append that fails is cut back to it.
    pub(crate) len: u64,
    /// From the entry line just before the last checkpoint to the end of the file, or the
    /// whole file when no checkpoint was found.
    pub(crate) bytes: Vec<u8>,
    /// True when `bytes` starts at that entry rather than at the start of the file.
    pub(crate) resumed: bool,
}

/// Reads backwards from the end in growing windows until one holds the last checkpoint
/// line and the line before it (or the start of the file is reached). Nothing is judged
/// here: `verify::check_end` walks what this returns, torn or garbled lines included.
pub(crate) fn read_window(
    file: &mut File,
    path: &Path,
    window: u64,
) -> Result<Window, LedgerError> {
    let len = file.metadata().map_err(io_at(path))?.len();
    let mut window = window.max(1);
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(io_at(path))?;
        let mut buf = Vec::new();
        Read::by_ref(file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io_at(path))?;
        if start == 0 {
            return Ok(Window {
                len,
                bytes: buf,
                resumed: false,
            });
        }
        // Where whole lines start: after each newline (what comes before the first newline
        // of a window that does not start the file may be cut in half).
        let starts: Vec<usize> = buf
            .iter()
            .enumerate()
            .filter(|(i, b)| **b == b'\n' && i + 1 < buf.len())
            .map(|(i, _)| i + 1)
            .collect();
        for k in (1..starts.len()).rev() {
            let rest = &buf[starts[k]..];
            let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
            // The writer always puts this key first; anything else is left to the walk.
            if line.starts_with(b"{\"checkpoint\":")
                && matches!(parse_line(line), Ok(Line::Checkpoint(_)))
            {
                return Ok(Window {
                    len,
                    bytes: buf[starts[k - 1]..].to_vec(),
                    resumed: true,
                });
            }
        }
        window = window.saturating_mul(2);
    }
}

/// Replaces `path` with `bytes` so that readers see either the old or the new file, never a
/// half-written one, and the new one survives a power cut once this returns.
pub(crate) fn write_atomic(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    write_synced(tmp, bytes)?;
    rename_synced(tmp, path)
}

/// Writes `bytes` to `path` (replacing it) and fsyncs the file.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let mut file = File::create(path).map_err(io_at(path))?;
    file.write_all(bytes).map_err(io_at(path))?;
    file.sync_all().map_err(io_at(path))
}

/// Renames `from` over `to` and makes the rename durable.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> Result<(), LedgerError> {
    fs::rename(from, to).map_err(io_at(to))?;
    match to.parent() {
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
    Ok(read_if_present(path)?.unwrap_or_default())
}

/// Reads a whole file; `None` when it does not exist.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, LedgerError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
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

    fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    }

    #[test]
    fn starts_at_the_entry_before_the_last_checkpoint_with_windows_smaller_than_a_line() {
        let lines = vec![
            entry_line(0, 300),
            checkpoint_line(0),
            entry_line(1, 500),
            checkpoint_line(1),
            entry_line(2, 10),
            entry_line(3, 10),
        ];
        let whole = joined(&lines);
        let want = Window {
            len: whole.len() as u64,
            bytes: joined(&lines[2..]),
            resumed: true,
        };
        // Windows that grow to the start of the file before they hold the checkpoint and
        // the line before it get the whole file instead (below).
        for window in [1, 7, 64] {
            let (_dir, path, mut file) = file_with(&lines);
            assert_eq!(
                read_window(&mut file, &path, window).expect("window"),
                want,
                "window {window}"
            );
        }
        // A window that reaches the start returns the whole file, to be walked whole.
        let (_dir, path, mut file) = file_with(&lines);
        let all = read_window(&mut file, &path, 1 << 20).expect("window");
        assert_eq!((all.bytes, all.resumed), (whole, false));
    }

    #[test]
    fn without_any_checkpoint_reads_to_the_start() {
        let lines = vec![entry_line(0, 1), entry_line(1, 1)];
        let (_dir, path, mut file) = file_with(&lines);
        let window = read_window(&mut file, &path, 16).expect("window");
        assert_eq!((window.bytes, window.resumed), (joined(&lines), false));
    }

    #[test]
    fn a_torn_or_garbled_end_is_returned_for_the_walk_to_judge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let lines = [
            entry_line(0, 600),
            entry_line(1, 1),
            checkpoint_line(1),
            entry_line(2, 1),
        ];
        let mut data = joined(&lines);
        data.extend_from_slice(b"\xff{\"seq\":3,\"ti");
        fs::write(&path, &data).expect("write");
        let mut file = File::open(&path).expect("open");
        let window = read_window(&mut file, &path, 8).expect("window");
        assert!(window.resumed);
        assert!(window.bytes.starts_with(&lines[1]));
        assert!(window.bytes.ends_with(b"\xff{\"seq\":3,\"ti"));
        assert_eq!(window.len, data.len() as u64);
    }

    #[test]
    fn split_lines_flags_a_missing_final_newline() {
        assert_eq!(split_lines(b""), (vec![], false));
        assert_eq!(split_lines(b"a\nb\n"), (vec![&b"a"[..], b"b"], false));
        assert_eq!(split_lines(b"a\nb"), (vec![&b"a"[..], b"b"], true));
        assert_eq!(split_lines(b"\n"), (vec![&b""[..]], false));
    }
}
