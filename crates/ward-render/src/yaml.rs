//! A small deterministic YAML emitter for rendered objects, and a reader for the deploy
//! tree that turns YAML back into JSON values for the plan's diff.
//!
//! Emitting goes through `serde_json::Value` so keys are sorted and output is byte-stable;
//! scalars that YAML could read as anything but a string are double-quoted.

use serde_json::Value;
use ward_estate::source::{FileId, SourceFile};
use ward_estate::yaml::{Node, Value as YamlValue};

/// Serializes a value as one YAML document (block style, sorted keys, final newline).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            write_inline(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut n = n;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    // serde_json keeps keys sorted unless `preserve_order` is unified in by another crate;
    // sorting here keeps the bytes stable either way (and costs nothing when sorted).
    let mut entries: Vec<_> = m.iter().collect();
    if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
        entries.sort_by(|a, b| a.0.cmp(b.0));
    }
    entries
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in sorted(m) {
        indent(out, level);
        write_string(out, k, level);
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        // Sequences under a key sit at the key's indentation, as kubectl prints them.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        Value::String(s) if block_literal(s) => {
            write_literal(out, s, level + 2);
        }
        other => {
            out.push(' ');
            write_inline(out, other);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key goes on the dash's line; the rest align under it.
                let mut first = true;
                for (k, v) in sorted(m) {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, level + 2);
                    }
                    write_string(out, k, level + 2);
                    out.push(':');
                    write_value_after_key(out, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            Value::String(s) if block_literal(s) => write_literal(out, s, level + 2),
            other => {
                out.push(' ');
                write_inline(out, other);
                out.push('\n');
            }
        }
    }
}

fn write_inline(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, 0),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Multi-line text (odoo.conf, alert expressions) reads best as a `|` block; only text
/// that round-trips exactly through a block scalar is written that way.
fn block_literal(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && s.lines().all(|l| !l.ends_with([' ', '\t']))
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
}

fn write_literal(out: &mut String, s: &str, level: usize) {
    out.push_str(if s.ends_with('\n') { " |\n" } else { " |-\n" });
    for line in s.lines() {
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn write_string(out: &mut String, s: &str, _level: usize) {
    if plain_safe(s) {
        out.push_str(s);
    } else {
        write_quoted(out, s);
    }
}

/// A double-quoted scalar with JSON's escapes, which YAML reads the same way.
fn write_quoted(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a string can be written without quotes and still read back as the same string
/// under both YAML 1.1 and 1.2 rules. Deliberately conservative.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '/') {
        return false;
    }
    if s.ends_with([' ', ':']) || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | ':' | '@' | ' '))
    {
        return false;
    }
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf",
    ];
    !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

/// Why a file of the deploy tree could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ReadError {
    pub file: String,
    pub message: String,
}

/// Parses YAML text (one or more documents) into JSON values, resolving plain scalars as
/// YAML 1.2's core schema does (null, booleans, integers, floats), everything else strings.
pub fn from_yaml(name: &str, text: &str) -> Result<Vec<Value>, ReadError> {
    let src = SourceFile::new(name.to_string(), name.into(), text.to_string());
    let docs = ward_estate::yaml::parse_documents(FileId(0), &src).map_err(|d| ReadError {
        file: name.to_string(),
        message: d.message,
    })?;
    Ok(docs.iter().map(node_to_json).collect())
}

fn node_to_json(node: &Node) -> Value {
    match &node.value {
        YamlValue::Scalar { text, plain } => {
            if !*plain {
                return Value::String(text.clone());
            }
            match text.as_str() {
                "" | "~" | "null" | "Null" | "NULL" => Value::Null,
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                t => {
                    if let Ok(i) = t.parse::<i64>() {
                        Value::from(i)
                    } else if t.contains(['.', 'e', 'E'])
                        && t.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                        && let Ok(f) = t.parse::<f64>()
                    {
                        Value::from(f)
                    } else {
                        Value::String(t.to_string())
                    }
                }
            }
        }
        YamlValue::Seq(items) => Value::Array(items.iter().map(node_to_json).collect()),
        YamlValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), node_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_awkward_scalars() {
        let value = json!({
            "a": "yes", "b": "17.0", "c": "", "d": "x: y", "e": "- item", "f": "#c",
            "g": "multi\nline\n", "h": "no-trailing\nnewline", "i": " lead", "j": 3,
            "k": true, "l": null, "m": [], "n": {}, "o": [{"p": 1, "q": [1, 2]}, "r"],
            "s": "8Gi", "t": "On", "u": "tab\tin", "v": "\"quoted\"", "w": "two\n\nblank\n",
            "x": [[1, 2], [3]], "y": "*alias", "z": "~",
        });
        let text = to_yaml(&value);
        let back = from_yaml("t.yaml", &text).expect("parses");
        assert_eq!(back, vec![value], "{text}");
    }

    #[test]
    fn keys_are_sorted_and_strings_plain_when_safe() {
        let text = to_yaml(&json!({"b": "hello world", "a": {"d": 1, "c": "v1"}}));
        assert_eq!(text, "a:\n  c: v1\n  d: 1\nb: hello world\n");
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        let text = to_yaml(&json!({"conf": "[options]\nworkers = 4\n"}));
        assert_eq!(text, "conf: |\n  [options]\n  workers = 4\n");
    }
}
