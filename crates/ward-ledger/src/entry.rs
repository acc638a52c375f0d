//! Entries: what one ledger line records, and how a raw line is parsed back.
//! Parsing never trusts the bytes: non-UTF-8, bad JSON and unexpected shapes come back
//! as words that `verify` can show to a person, never as a panic.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::seal::Checkpoint;

/// The `prev` of the first entry, and the `prev` of the first checkpoint: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an action ended. Serialized in lowercase: `ok`, `failed`, `denied`, `findings`.
///
/// `denied` is for an action refused by policy or approvals before it ran; `findings` for a
/// check that ran to completion and found something (a policy run with violations, a
/// failed restore drill verification) as opposed to `failed`, which means it did not run
/// to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed,
    Denied,
    Findings,
}

impl Outcome {
    /// The same word the JSON holds.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Denied => "denied",
            Outcome::Findings => "findings",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller hands to [`crate::Ledger::append`]; the ledger adds `seq`, `time` and `prev`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// Who did it: a user name, a service account, `ci`.
    pub actor: String,
    /// What was done, e.g. `backup`, `restore`, `apply`, `waiver.approve`.
    pub action: String,
    /// What it was done to, e.g. `st-marys/billing/prod`.
    pub subject: String,
    pub result: Outcome,
    /// The estate's Git commit the action was based on. A dirty work tree is recorded
    /// git-describe style, as `<sha>-dirty`.
    pub estate_commit: Option<String>,
    /// Free-form facts (sizes, durations, snapshot ids). Sorted, so the line is deterministic.
    pub details: BTreeMap<String, Value>,
}

impl NewEntry {
    /// An entry with no estate commit and no details.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        result: Outcome,
    ) -> NewEntry {
        NewEntry {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            result,
            estate_commit: None,
            details: BTreeMap::new(),
        }
    }

    /// Records the estate commit the action was based on.
    pub fn estate_commit(mut self, commit: impl Into<String>) -> NewEntry {
        self.estate_commit = Some(commit.into());
        self
    }

    /// Adds one detail; a later value for the same key replaces the earlier one.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> NewEntry {
        self.details.insert(key.into(), value.into());
        self
    }
}

/// One recorded action, exactly as it sits on its line. Field order here is the field
/// order in the JSON, and it is part of the format: do not reorder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 0 for the first entry, then +1 per entry. Checkpoints do not take a number.
    pub seq: u64,
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T11:31:00.123Z`.
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub result: Outcome,
    pub estate_commit: Option<String>,
    pub details: BTreeMap<String, Value>,
    /// Lowercase hex SHA-256 of the previous entry's line bytes (without its newline);
    /// [`GENESIS`] for the first entry.
    pub prev: String,
}

/// The wrapper that makes a checkpoint line distinguishable from an entry line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointLine {
    pub(crate) checkpoint: Checkpoint,
}

/// A parsed line of `ledger.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Line {
    Entry(Entry),
    Checkpoint(Checkpoint),
}

/// Why a line could not be parsed, in words, with the seq if one could still be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) seq: Option<u64>,
    pub(crate) message: String,
}

impl ParseError {
    fn new(seq: Option<u64>, message: String) -> ParseError {
        ParseError { seq, message }
    }
}

/// Parses one line (without its newline).
pub(crate) fn parse_line(bytes: &[u8]) -> Result<Line, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::new(None, "empty line".to_string()));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ParseError::new(
            None,
            format!(
                "not valid UTF-8 (bad byte at column {})",
                e.valid_up_to() + 1
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ParseError::new(None, format!("not valid JSON: {e}")))?;
    let Value::Object(map) = &value else {
        return Err(ParseError::new(None, "not a JSON object".to_string()));
    };
    if map.contains_key("checkpoint") {
        let seq = map
            .get("checkpoint")
            .and_then(|c| c.get("seq"))
            .and_then(Value::as_u64);
        let line: CheckpointLine = serde_json::from_value(value)
            .map_err(|e| ParseError::new(seq, format!("not a valid checkpoint: {e}")))?;
        return Ok(Line::Checkpoint(line.checkpoint));
    }
    let seq = map.get("seq").and_then(Value::as_u64);
    let entry: Entry = serde_json::from_value(value)
        .map_err(|e| ParseError::new(seq, format!("not a valid entry: {e}")))?;
    Ok(Line::Entry(entry))
}

/// Lowercase hex SHA-256 of a line's exact bytes. Hashing bytes rather than a
/// re-serialization means any change, even one JSON would call equivalent, is caught.
pub(crate) fn line_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Now, in the one format entries use. Fixed millisecond precision keeps lines a
/// predictable shape.
pub(crate) fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            seq: 3,
            time: "2026-11-26T11:31:00.123Z".to_string(),
            actor: "alice".to_string(),
            action: "backup".to_string(),
            subject: "st-marys/billing/prod".to_string(),
            result: Outcome::Findings,
            estate_commit: Some("abc123-dirty".to_string()),
            details: BTreeMap::from([
                ("zeta".to_string(), Value::from(1)),
                ("alpha".to_string(), Value::from("x")),
            ]),
            prev: GENESIS.to_string(),
        }
    }

    #[test]
    fn entry_json_has_stable_field_order_and_sorted_details() {
        let json = serde_json::to_string(&sample()).expect("serializes");
        assert_eq!(
            json,
            format!(
                concat!(
                    r#"{{"seq":3,"time":"2026-11-26T11:31:00.123Z","actor":"alice","action":"backup","#,
                    r#""subject":"st-marys/billing/prod","result":"findings","estate_commit":"abc123-dirty","#,
                    r#""details":{{"alpha":"x","zeta":1}},"prev":"{}"}}"#
                ),
                GENESIS
            )
        );
    }

    #[test]
    fn outcome_words_are_lowercase_and_match_display() {
        for outcome in [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Denied,
            Outcome::Findings,
        ] {
            let json = serde_json::to_string(&outcome).expect("serializes");
            assert_eq!(json, format!("\"{outcome}\""));
        }
    }

    #[test]
    fn entry_line_round_trips() {
        let line = serde_json::to_vec(&sample()).expect("serializes");
        assert_eq!(parse_line(&line), Ok(Line::Entry(sample())));
    }

    #[test]
    fn bad_lines_are_described_not_panicked_on() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty line"),
            (
                b"{\"seq\":1,\xff}",
                "not valid UTF-8 (bad byte at column 10)",
            ),
            (b"{\"seq\":", "not valid JSON"),
            (b"[1,2]", "not a JSON object"),
            (
                b"{\"seq\":7,\"time\":\"x\"}",
                "not a valid entry: missing field",
            ),
            (b"{\"checkpoint\":{\"seq\":2}}", "not a valid checkpoint"),
        ];
        for (bytes, want) in cases {
            let err = parse_line(bytes).expect_err("must not parse");
            assert!(
                err.message.starts_with(want),
                "{:?} -> {}",
                bytes,
                err.message
            );
        }
        let err = parse_line(b"{\"seq\":7,\"time\":\"x\"}").expect_err("must not parse");
        assert_eq!(err.seq, Some(7));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut value = serde_json::to_value(sample()).expect("serializes");
        value["extra"] = Value::from(true);
        let line = serde_json::to_vec(&value).expect("serializes");
        let err = parse_line(&line).expect_err("must not parse");
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn line_hash_is_sha256_hex() {
        assert_eq!(
            line_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(GENESIS.len(), 64);
    }

    #[test]
    fn now_is_rfc3339_utc_with_milliseconds() {
        let t = now();
        assert!(t.ends_with('Z'), "{t}");
        assert_eq!(t.len(), "2026-11-26T11:31:00.123Z".len(), "{t}");
        assert!(t.parse::<jiff::Timestamp>().is_ok(), "{t}");
    }

    #[test]
    fn builder_fills_fields() {
        let e = NewEntry::new("a", "b", "c", Outcome::Denied)
            .estate_commit("deadbeef")
            .detail("bytes", 42)
            .detail("bytes", 43);
        assert_eq!(e.estate_commit.as_deref(), Some("deadbeef"));
        assert_eq!(e.details.get("bytes"), Some(&Value::from(43)));
        assert_eq!(e.result, Outcome::Denied);
    }
}
