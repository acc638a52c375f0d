//! The head of a `pg_dump` custom-format archive: its header and table of contents, which
//! come before any row data. A parallel restore of the post-data section (indexes,
//! constraints) reads nothing else, so `restore --jobs N` hands `pg_restore -j N` a file of
//! just this head while the rows stream into another `pg_restore`: no row reaches the disk.
//!
//! The layout follows PostgreSQL's `pg_backup_archiver.c` (`ReadHead`, `ReadToc`) and
//! `pg_backup_custom.c` (`_ReadExtraToc`) for archive versions 1.12 to 1.16 (PostgreSQL 9.0
//! to 17). Anything else is `Unknown`, and the caller keeps the whole dump instead.

use std::io::Write;

/// What is known so far about where the archive's head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadEnd {
    /// More bytes are needed to tell.
    NeedMore,
    /// The header and the table of contents are the first `n` bytes; the byte after them
    /// starts a data block (or the archive ends there).
    At(usize),
    /// Not an archive this parser reads: keep all of it.
    Unknown,
}

const MAGIC: &[u8] = b"PGDMP";
/// Block types that may follow the table of contents (`BLK_DATA`, `BLK_BLOBS`).
const DATA_BLOCKS: [u8; 2] = [1, 3];
/// A table of contents larger than this is not looked for (kept whole): bounds the memory a
/// restore holds while it looks.
const HEAD_LIMIT: usize = 32 * 1024 * 1024;

fn version(major: u8, minor: u8) -> u32 {
    (u32::from(major) << 16) | (u32::from(minor) << 8)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    int_size: usize,
}

/// A read past the end: more bytes are needed. (`None` from a field reader.)
type Field<T> = Option<T>;

impl Cursor<'_> {
    fn byte(&mut self) -> Field<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }
    fn skip(&mut self, n: usize) -> Field<()> {
        let end = self.at.checked_add(n)?;
        (end <= self.bytes.len()).then(|| self.at = end)
    }
    /// `ReadInt`: a sign byte, then `int_size` bytes, least significant first.
    fn int(&mut self) -> Field<i64> {
        let negative = self.byte()? != 0;
        let mut value: i64 = 0;
        for i in 0..self.int_size {
            let b = i64::from(self.byte()?);
            if i < 8 {
                value |= b << (8 * i);
            }
        }
        Some(if negative { -value } else { value })
    }
    /// `ReadStr`: a length (negative for NULL), then that many bytes. Returns whether it
    /// was NULL.
    fn string(&mut self) -> Field<Result<bool, ()>> {
        let len = self.int()?;
        if len < 0 {
            return Some(Ok(true));
        }
        // A length no table of contents has: not an archive read right.
        let Ok(len) = usize::try_from(len) else {
            return Some(Err(()));
        };
        if len > 1 << 30 {
            return Some(Err(()));
        }
        self.skip(len)?;
        Some(Ok(false))
    }
}

/// Where the head of the archive starting with `bytes` ends.
pub(crate) fn head_end(bytes: &[u8]) -> HeadEnd {
    match parse(bytes) {
        Some(Ok(end)) => match bytes.get(end) {
            Some(b) if DATA_BLOCKS.contains(b) => HeadEnd::At(end),
            // The archive may end with its table of contents (no data at all); the caller
            // tells that from the end of the stream.
            None => HeadEnd::NeedMore,
            Some(_) => HeadEnd::Unknown,
        },
        Some(Err(())) => HeadEnd::Unknown,
        None => HeadEnd::NeedMore,
    }
}

/// `Some(Ok(end))`, `Some(Err(()))` for what this parser does not read, `None` for more.
fn parse(bytes: &[u8]) -> Option<Result<usize, ()>> {
    let mut c = Cursor {
        bytes,
        at: 0,
        int_size: 4,
    };
    let magic = bytes.get(..MAGIC.len())?;
    if magic != MAGIC {
        return Some(Err(()));
    }
    c.at = MAGIC.len();
    let (major, minor) = (c.byte()?, c.byte()?);
    let _revision = c.byte()?;
    let v = version(major, minor);
    if !(version(1, 12)..=version(1, 16)).contains(&v) {
        return Some(Err(()));
    }
    c.int_size = usize::from(c.byte()?);
    let off_size = usize::from(c.byte()?);
    let format = c.byte()?;
    // archCustom = 1; sizes beyond 8 bytes are not written by any pg_dump.
    if format != 1 || !(1..=8).contains(&c.int_size) || !(1..=8).contains(&off_size) {
        return Some(Err(()));
    }
    if v >= version(1, 15) {
        c.byte()?; // compression algorithm
    } else {
        c.int()?; // compression level
    }
    for _ in 0..7 {
        c.int()?; // creation time: sec, min, hour, mday, mon, year, isdst
    }
    // Database name, server version, pg_dump version.
    for _ in 0..3 {
        if c.string()?.is_err() {
            return Some(Err(()));
        }
    }
    let entries = c.int()?;
    if entries < 0 {
        return Some(Err(()));
    }
    for _ in 0..entries {
        c.int()?; // dump id
        c.int()?; // had dumper
        // tableoid, oid, tag, desc
        for _ in 0..4 {
            if c.string()?.is_err() {
                return Some(Err(()));
            }
        }
        c.int()?; // section
        // defn, dropStmt, copyStmt, namespace, tablespace, (1.14) tableam
        let strings = if v >= version(1, 14) { 6 } else { 5 };
        for _ in 0..strings {
            if c.string()?.is_err() {
                return Some(Err(()));
            }
        }
        if v >= version(1, 16) {
            c.int()?; // relkind
        }
        // owner, with-oids flag
        for _ in 0..2 {
            if c.string()?.is_err() {
                return Some(Err(()));
            }
        }
        // Dependencies, up to a NULL.
        loop {
            match c.string()? {
                Ok(true) => break,
                Ok(false) => {}
                Err(()) => return Some(Err(())),
            }
        }
        // The data offset: a flag byte and `off_size` bytes.
        c.byte()?;
        c.skip(off_size)?;
    }
    Some(Ok(c.at))
}

/// Writes the head of the archive streamed through it into `out`, and nothing after it;
/// when the head cannot be found (`Unknown`), all of it.
pub(crate) struct HeadWriter<W: Write> {
    out: W,
    /// Bytes seen so far, until the head's end is known.
    pending: Vec<u8>,
    state: HeadEnd,
}

impl<W: Write> HeadWriter<W> {
    pub(crate) fn new(out: W) -> HeadWriter<W> {
        HeadWriter {
            out,
            pending: Vec::new(),
            state: HeadEnd::NeedMore,
        }
    }

    /// Takes the next bytes of the archive.
    pub(crate) fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.state {
            HeadEnd::At(_) => Ok(()),
            HeadEnd::Unknown => self.out.write_all(bytes),
            HeadEnd::NeedMore => {
                self.pending.extend_from_slice(bytes);
                self.state = match head_end(&self.pending) {
                    HeadEnd::NeedMore if self.pending.len() > HEAD_LIMIT => HeadEnd::Unknown,
                    state => state,
                };
                match self.state {
                    HeadEnd::At(end) => self.out.write_all(&self.pending[..end]),
                    HeadEnd::Unknown => self.out.write_all(&self.pending),
                    HeadEnd::NeedMore => return Ok(()),
                }?;
                self.pending = Vec::new();
                Ok(())
            }
        }
    }

    /// At the end of the archive: writes what is still pending (an archive without data is
    /// all head) and returns the output and whether only the head was kept.
    pub(crate) fn finish(mut self) -> std::io::Result<(W, bool)> {
        let head_only = matches!(self.state, HeadEnd::At(_));
        if !self.pending.is_empty() {
            self.out.write_all(&self.pending)?;
        }
        self.out.flush()?;
        Ok((self.out, head_only))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Vec<u8> {
        let mut out = vec![u8::from(v < 0)];
        out.extend_from_slice(&(v.unsigned_abs() as u32).to_le_bytes());
        out
    }
    fn string(s: Option<&str>) -> Vec<u8> {
        match s {
            None => int(-1),
            Some(s) => [int(s.len() as i64), s.as_bytes().to_vec()].concat(),
        }
    }

    /// An archive of version 1.14 (PostgreSQL 12–15) with one entry, then a data block.
    fn archive() -> (Vec<u8>, usize) {
        let mut a = b"PGDMP".to_vec();
        a.extend_from_slice(&[1, 14, 0, 4, 8, 1]);
        a.extend(int(0)); // compression
        for _ in 0..7 {
            a.extend(int(1));
        }
        for s in ["odoo", "15.2", "15.2"] {
            a.extend(string(Some(s)));
        }
        a.extend(int(1));
        a.extend(int(7));
        a.extend(int(1));
        for s in ["1259", "16384", "res_partner", "TABLE DATA"] {
            a.extend(string(Some(s)));
        }
        a.extend(int(3));
        for s in [
            Some(""),
            Some(""),
            Some("COPY x FROM stdin;\n"),
            Some("public"),
            Some(""),
        ] {
            a.extend(string(s));
        }
        a.extend(string(Some("heap")));
        a.extend(string(Some("odoo")));
        a.extend(string(Some("false")));
        a.extend(string(Some("6")));
        a.extend(string(None));
        a.push(1); // offset not set
        a.extend_from_slice(&[0; 8]);
        let end = a.len();
        a.push(1); // BLK_DATA
        a.extend(int(7));
        (a, end)
    }

    #[test]
    fn the_head_ends_before_the_first_data_block_whatever_the_pieces() {
        let (a, end) = archive();
        assert_eq!(head_end(&a), HeadEnd::At(end));
        for cut in 0..end {
            assert_eq!(head_end(&a[..cut]), HeadEnd::NeedMore, "cut at {cut}");
        }
        for piece in [1, 3, 7, 64] {
            let mut w = HeadWriter::new(Vec::new());
            for bytes in a.chunks(piece) {
                w.take(bytes).expect("take");
            }
            let (out, head_only) = w.finish().expect("finish");
            assert!(head_only);
            assert_eq!(out, a[..end]);
        }
    }

    #[test]
    fn what_it_does_not_read_is_kept_whole() {
        let (mut a, end) = archive();
        a[end] = 9; // not a block type: the parse is not trusted
        let mut w = HeadWriter::new(Vec::new());
        w.take(&a).expect("take");
        let (out, head_only) = w.finish().expect("finish");
        assert!(!head_only);
        assert_eq!(out, a);
        let mut newer = archive().0;
        newer[6] = 17; // version 1.17
        assert_eq!(head_end(&newer), HeadEnd::Unknown);
        assert_eq!(head_end(b"PGDMX"), HeadEnd::Unknown);
    }

    /// A real `pg_dump -Fc` streamed to a pipe, as backups take it: the head is found, and
    /// `pg_restore` reads from the head alone the same table of contents as from the whole.
    #[test]
    fn a_real_streamed_archive_s_head_is_its_table_of_contents() {
        let cluster = ward_pgtemp::TempCluster::start().expect("cluster");
        cluster
            .psql(
                "CREATE TABLE t (id int PRIMARY KEY, note text); \
                 INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g; \
                 CREATE INDEX t_note ON t (note); CREATE TABLE u (t int REFERENCES t);",
            )
            .expect("schema");
        let dump = std::process::Command::new(cluster.bindir().join("pg_dump"))
            .args(["-Fc", "-Z0", "-h"])
            .arg(cluster.socket_dir())
            .args([
                "-p",
                &cluster.port().to_string(),
                "-U",
                "postgres",
                "postgres",
            ])
            .stdout(std::process::Stdio::piped())
            .output()
            .expect("pg_dump");
        assert!(dump.status.success());
        let archive = dump.stdout;
        let HeadEnd::At(end) = head_end(&archive) else {
            panic!("no head found in a {} byte archive", archive.len());
        };
        assert!(end < archive.len() / 10, "{end} of {}", archive.len());
        let dir = tempfile::tempdir().expect("tmp");
        let (whole, head) = (dir.path().join("whole"), dir.path().join("head"));
        std::fs::write(&whole, &archive).expect("write");
        std::fs::write(&head, &archive[..end]).expect("write");
        let list = |path: &std::path::Path| {
            let out = std::process::Command::new(cluster.bindir().join("pg_restore"))
                .arg("-l")
                .arg(path)
                .output()
                .expect("pg_restore -l");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let toc = list(&whole);
        assert!(toc.contains("INDEX public t_note") && toc.contains("TABLE DATA public t"));
        assert_eq!(list(&head), toc);
    }
}
