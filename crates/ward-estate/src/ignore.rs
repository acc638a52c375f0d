//! `.wardignore`: paths under the estate folder that are not the estate, in a small
//! gitignore subset (a pattern per line, `#` comment lines, a trailing `/` for folders, `/`
//! to anchor, `*` within a segment); anything else is refused with its line.

use crate::source::{Diagnostic, SourceFile, SourceMap, Span};
use std::path::Path;

/// The ignore file, at the top of the estate folder.
pub const IGNORE_FILE: &str = ".wardignore";

/// One line of `.wardignore`.
#[derive(Debug)]
struct Pattern {
    /// Matched against the whole path from the root, not against any trailing part.
    anchored: bool,
    /// Matches folders only (the line ended in `/`).
    folders_only: bool,
    segments: Vec<String>,
}

/// The patterns of an estate's `.wardignore`; empty when there is none.
#[derive(Debug, Default)]
pub struct IgnoreList {
    patterns: Vec<Pattern>,
}

impl IgnoreList {
    /// Reads `<root>/.wardignore`. A line it cannot honour is reported in `diags` (the file
    /// is then added to `sources` so the report can show it) and left out.
    pub fn read(root: &Path, sources: &mut SourceMap, diags: &mut Vec<Diagnostic>) -> IgnoreList {
        let path = root.join(IGNORE_FILE);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return IgnoreList::default();
        };
        let text = if !meta.is_file() {
            Err("it is not a regular file (a link or a folder)".to_string())
        } else if meta.len() > crate::load::MAX_FILE_BYTES {
            Err(format!(
                "it is {} bytes, more than an ignore file needs",
                meta.len()
            ))
        } else {
            std::fs::read(&path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|b| String::from_utf8(b).map_err(|_| "it is not UTF-8".to_string()))
        };
        let text = match text {
            Ok(t) => t,
            Err(why) => {
                let file = sources.add(SourceFile::new(IGNORE_FILE.into(), path, String::new()));
                let span = Span {
                    file,
                    line: 1,
                    col: 1,
                    ..Span::default()
                };
                diags.push(
                    Diagnostic::new(span, format!("`{IGNORE_FILE}` cannot be used: {why}"))
                        .hint("make it a plain UTF-8 text file with one pattern per line"),
                );
                return IgnoreList::default();
            }
        };
        let mut list = IgnoreList::default();
        let mut refused = Vec::new();
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some(p)) => list.patterns.push(p),
                Ok(None) => {}
                Err(why) => {
                    let indent = line.chars().take_while(|c| c.is_whitespace()).count();
                    refused.push((i + 1, indent, why));
                }
            }
        }
        if !refused.is_empty() {
            let file = sources.add(SourceFile::new(IGNORE_FILE.into(), path, text));
            if let Some(source) = sources.get(file) {
                for (line, indent, why) in refused {
                    let len = source.line_text(line as u32).trim().chars().count();
                    let span = source.span(file, (line, indent), (line, indent + len));
                    diags.push(Diagnostic::new(span, why).hint(
                        "one pattern per line: a name or path, `*` within a segment, a trailing `/` for folders (see docs/estate.md)",
                    ));
                }
            }
        }
        list
    }

    /// Whether the entry at `rel` (a `/`-separated path from the estate root) is ignored.
    pub fn ignores(&self, rel: &str, is_folder: bool) -> bool {
        let path: Vec<&str> = rel.split('/').collect();
        self.patterns.iter().any(|p| {
            if p.folders_only && !is_folder {
                return false;
            }
            let tail = if p.anchored {
                path.as_slice()
            } else {
                &path[path.len().saturating_sub(p.segments.len())..]
            };
            tail.len() == p.segments.len()
                && tail
                    .iter()
                    .zip(&p.segments)
                    .all(|(name, glob)| glob_matches(glob, name))
        })
    }
}

/// One line: `Ok(None)` for blanks and comments, an error naming the line otherwise.
fn parse_line(line: &str) -> Result<Option<Pattern>, String> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let shown = crate::decode::escape(text);
    if text.starts_with('!') {
        return Err(format!(
            "`{shown}`: negated patterns (`!`) are not supported in `{IGNORE_FILE}`"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, '?' | '[' | ']' | '\\' | '{' | '}'))
    {
        return Err(format!(
            "`{shown}`: `{c}` is not supported in `{IGNORE_FILE}`; only `*` within a segment is"
        ));
    }
    // Written after a pattern, `# …` would otherwise become part of it and match nothing.
    if text.contains('#') || text.contains(char::is_whitespace) {
        return Err(format!(
            "`{shown}`: a pattern may not hold spaces or `#`; write a comment on a line of its own"
        ));
    }
    let folders_only = text.ends_with('/');
    let body = text.trim_end_matches('/');
    let anchored = body.starts_with('/') || body.contains('/');
    let body = body.trim_start_matches('/');
    let segments: Vec<String> = body.split('/').map(str::to_string).collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "`{shown}`: a pattern may not have an empty, `.` or `..` segment"
        ));
    }
    if segments.iter().any(|s| s.contains("**")) {
        return Err(format!(
            "`{shown}`: `**` is not supported in `{IGNORE_FILE}`; name the folder, or use `*` within one segment"
        ));
    }
    Ok(Some(Pattern {
        anchored,
        folders_only,
        segments,
    }))
}

/// `*` matches any run of characters (within one segment); everything else matches itself.
fn glob_matches(glob: &str, name: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return glob == name;
    };
    if parts.len() == 1 {
        return glob == name;
    }
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_within_a_segment() {
        assert!(glob_matches("*.tmpl.yaml", "billing.tmpl.yaml"));
        assert!(glob_matches("a*b*c", "abc"));
        assert!(glob_matches("a*b*c", "a-x-b-y-c"));
        assert!(!glob_matches("a*b*c", "a-x-c"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert!(glob_matches("vendor", "vendor"));
        assert!(!glob_matches("vendor", "vendors"));
    }
}
