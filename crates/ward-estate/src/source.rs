//! Source files of the estate and positions inside them.
//!
//! Every value the loader produces can point back at the bytes it came from, so an error
//! or a finding names the file, the line and the column a person has to edit.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// An index into [`SourceMap::files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A region of one source file: byte offsets for tooling, line and column for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte length; zero for a point.
    pub len: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

impl Span {
    /// "Nowhere in particular": for problems of the estate as a whole.
    pub const NONE: Span = Span {
        file: FileId(u32::MAX),
        start: 0,
        len: 0,
        line: 0,
        col: 0,
    };
}

/// One estate file as read from disk.
#[derive(Debug)]
pub struct SourceFile {
    /// Path relative to the estate folder, with `/` separators, as shown to people.
    pub name: String,
    /// Absolute (or as given) path on disk.
    pub path: PathBuf,
    /// The text; empty when the file could not be read as UTF-8.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, path: PathBuf, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name,
            path,
            text,
            line_starts,
        }
    }

    /// Byte offset of a 1-based line and 0-based character column, clamped to the text.
    pub fn offset(&self, line: usize, col_chars: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let within = rest
            .char_indices()
            .nth(col_chars)
            .map_or(rest.len(), |(i, _)| i);
        start + within
    }

    /// The full text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let Some(&start) = self.line_starts.get((line as usize).saturating_sub(1)) else {
            return "";
        };
        let rest = &self.text[start..];
        rest.split('\n').next().unwrap_or("").trim_end_matches('\r')
    }

    /// Overwrites the text under `span` with `*`, byte for byte and keeping line breaks,
    /// so that a secret found there is never shown again (in a report's snippet or
    /// anywhere else) while offsets, lines and carets stay where they were.
    pub fn mask(&mut self, span: Span) {
        let end = (span.start + span.len).min(self.text.len());
        let Some(region) = self.text.get(span.start..end) else {
            return;
        };
        let mut masked = String::with_capacity(region.len());
        for c in region.chars() {
            if matches!(c, '\n' | '\r') {
                masked.push(c);
            } else {
                masked.extend(std::iter::repeat_n('*', c.len_utf8()));
            }
        }
        self.text.replace_range(span.start..end, &masked);
    }

    /// A span from 1-based line / 0-based char column markers.
    pub fn span(&self, file: FileId, start: (usize, usize), end: (usize, usize)) -> Span {
        let s = self.offset(start.0, start.1);
        let e = self.offset(end.0, end.1).max(s);
        Span {
            file,
            start: s,
            len: e - s,
            line: start.0.max(1) as u32,
            col: start.1 as u32 + 1,
        }
    }

    /// A span for a byte offset (used for errors found before parsing, such as bad UTF-8).
    pub fn span_at_byte(file: FileId, bytes: &[u8], offset: usize) -> Span {
        let before = &bytes[..offset.min(bytes.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        Span {
            file,
            start: offset,
            len: 0,
            line,
            col: (offset - line_start) as u32 + 1,
        }
    }
}

/// All files read for one estate, addressed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// See [`SourceFile::mask`].
    pub fn mask(&mut self, span: Span) {
        if let Some(f) = self.files.get_mut(span.file.0 as usize) {
            f.mask(span);
        }
    }

    /// `file:line:col`, as editors and CI annotations expect.
    pub fn location(&self, span: Span) -> Location {
        Location {
            file: self
                .get(span.file)
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            line: span.line,
            col: span.col,
        }
    }
}

/// A place in the estate in the form people and tools read: `tenants/a.yaml:3:5`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A value together with where it was written.
#[derive(Clone, Debug, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// One problem in the estate, aimed at the person who has to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// A second place that explains the first (e.g. where a duplicate was first defined).
    pub related: Option<(Span, String)>,
}

impl Diagnostic {
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
            hint: None,
            related: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related = Some((span, label.into()));
        self
    }
}
