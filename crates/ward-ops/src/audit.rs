//! Reading and proving the tamper-evident ledger: its entries through filters, its signed
//! head, verification of the state folder's file or the server's store, and the import of
//! a file ledger into a store without breaking its chain.

use std::path::Path;

use tracing::Instrument;
use ward_ledger::{Entry, Head, Ledger, LedgerKey, Verification};
use ward_store::{ImportReport, Store, StoreError};

use crate::{Error, ledger_error};

/// Which entries `audit log` keeps; every filter given must match.
#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    /// The actor, exactly.
    pub by: Option<String>,
    /// The action exactly, or every action starting with what precedes a trailing `*`.
    pub action: Option<String>,
    /// Text the subject contains.
    pub subject: Option<String>,
    /// Entries at or after this time.
    pub since: Option<jiff::Timestamp>,
}

impl EntryFilter {
    pub fn keeps(&self, e: &Entry) -> bool {
        let action = match self.action.as_deref() {
            None => true,
            Some(want) => match want.strip_suffix('*') {
                Some(prefix) => e.action.starts_with(prefix),
                None => e.action == want,
            },
        };
        // An entry time that does not parse is kept out of a `since` window rather than
        // guessed at; `audit verify` is what reports a malformed entry.
        let since = self.since.is_none_or(|since| {
            e.time
                .parse::<jiff::Timestamp>()
                .is_ok_and(|time| time >= since)
        });
        action
            && since
            && self.by.as_deref().is_none_or(|by| e.actor == by)
            && self
                .subject
                .as_deref()
                .is_none_or(|text| e.subject.contains(text))
    }
}

/// `--since`: an RFC 3339 time, or a span (`24h`, `7d`, `1w 2d`) back from `now`, where a
/// day is always 24 hours.
pub fn parse_since(when: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, Error> {
    if let Ok(time) = when.parse::<jiff::Timestamp>() {
        return Ok(time);
    }
    let bad = || {
        Error::bad_input(
            format!("--since {when:?} is neither an RFC 3339 time nor a span"),
            "pass a time such as 2026-11-01T00:00:00Z or a span back from now such as 90m, 24h or 7d",
        )
    };
    let span: jiff::Span = when.parse().map_err(|_| bad())?;
    if span.is_negative() {
        return Err(bad());
    }
    // Months and years have no fixed length, so a span with them is refused.
    let back = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    now.checked_sub(back).map_err(|_| bad())
}

/// The state folder's entries that `filter` keeps, oldest first; with `tail`, the last
/// `tail` of those (filters first, then the tail).
pub fn log(state: &Path, filter: &EntryFilter, tail: Option<usize>) -> Result<Vec<Entry>, Error> {
    let _span = tracing::info_span!("audit.log").entered();
    let mut entries = Ledger::open(state)
        .and_then(|l| l.entries())
        .map_err(ledger_error)?;
    entries.retain(|e| filter.keeps(e));
    let skip = tail.map_or(0, |n| entries.len().saturating_sub(n));
    entries.drain(..skip);
    Ok(entries)
}

/// The signed head of the state folder's ledger, `None` when it is empty.
pub fn head(state: &Path) -> Result<Option<Head>, Error> {
    Ledger::open(state)
        .and_then(|l| l.head())
        .map_err(ledger_error)
}

/// Which ledger `verify` checks.
#[derive(Clone, Copy, Debug)]
pub enum LedgerAt<'a> {
    /// The state folder's file.
    File,
    /// The server's, in the store at this URL.
    Store(&'a str),
}

/// Checks the hash chain and the signed checkpoints, against `public_key` (64 hex
/// characters, kept outside the state folder) when given, else the ledger's own key. A
/// ledger that does not verify is a [`Verification`] with its problem, not an error.
pub async fn verify(
    state: &Path,
    at: LedgerAt<'_>,
    public_key: Option<&str>,
) -> Result<Verification, Error> {
    let public_key = public_key.map(str::trim);
    if let Some(key) = public_key
        && !(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Error::bad_input(
            "--public-key is not an Ed25519 public key",
            "pass the 64 hex characters of keys/ledger.pub, copied when the ledger was trusted",
        ));
    }
    match at {
        LedgerAt::Store(url) => {
            async {
                let store = Store::open(url).await.map_err(store_error)?;
                store.ledger().verify(public_key).await.map_err(store_error)
            }
            .instrument(tracing::info_span!("audit.verify", ledger = "store"))
            .await
        }
        LedgerAt::File => {
            let _span = tracing::info_span!("audit.verify", ledger = "file").entered();
            let ledger = Ledger::open(state).map_err(ledger_error)?;
            match public_key {
                Some(key) => ledger.verify_with_key(key),
                None => ledger.verify(),
            }
            .map_err(ledger_error)
        }
    }
}

/// Copies the state folder's file ledger into the store at `url`, keeping its chain; an
/// import after the file grew copies only the rest. The file's signatures are checked
/// against `public_key` when given.
pub async fn import(
    state: &Path,
    url: &str,
    public_key: Option<&str>,
) -> Result<ImportReport, Error> {
    let file = Ledger::open(state).map_err(ledger_error)?;
    let key = LedgerKey::load(state).map_err(ledger_error)?;
    async {
        let store = Store::open(url).await.map_err(store_error)?;
        store
            .ledger()
            .import(&file, &key, public_key.map(str::trim))
            .await
            .map_err(store_error)
    }
    .instrument(tracing::info_span!("audit.import"))
    .await
}

/// A store error as every command reports it, with the store URL's credentials masked.
pub fn store_error(e: StoreError) -> Error {
    use StoreError as E;
    let message = crate::scrub::scrub_credentials(&e.to_string());
    match e {
        E::UnsupportedUrl { .. } | E::InvalidInput(_) => {
            Error::bad_input(message, "use sqlite:PATH or postgres://USER@HOST/DB")
        }
        E::ImportConflict(_) => Error::bad_input(
            message,
            "import into an empty store, or into the store an earlier import of this same ledger went to",
        ),
        E::ImportDamaged { .. } | E::LedgerDamaged { .. } => Error::findings(
            message,
            "run `ward audit verify` (or `--store`) to see the first bad entry",
        ),
        E::LedgerKeyMismatch { .. } => Error::bad_input(
            message,
            "use the state folder whose keys/ledger.key signed this store's ledger",
        ),
        E::SchemaTooNew { .. } => Error::bad_input(
            message,
            "run the newer Ward that migrated this store, or a store of this version",
        ),
        _ => Error::operational(message, "check that the store is reachable (--store)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_span_back_from_now() {
        let now: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().expect("test setup");
        let at = |s: &str| parse_since(s, now).map(|t| t.to_string());
        assert_eq!(at("24h").expect("a valid --since"), "2026-11-30T12:00:00Z");
        assert_eq!(at("7d").expect("a valid --since"), "2026-11-24T12:00:00Z");
        assert_eq!(at("90m").expect("a valid --since"), "2026-12-01T10:30:00Z");
        assert_eq!(
            at("2026-11-01T00:00:00Z").expect("a valid --since"),
            "2026-11-01T00:00:00Z"
        );
        assert!(at("yesterday").is_err());
        assert!(at("-7d").is_err());
    }

    #[test]
    fn filters_all_match_and_the_tail_is_of_what_matched() {
        let tmp = tempfile::tempdir().expect("tmp");
        let ledger = Ledger::open(tmp.path()).expect("ledger");
        for (actor, action) in [
            ("alice", "backup.run"),
            ("bob", "backup.prune"),
            ("alice", "restore"),
            ("alice", "backup.verify"),
        ] {
            ledger
                .append(ward_ledger::NewEntry {
                    actor: actor.into(),
                    action: action.into(),
                    subject: "billing/prod".into(),
                    result: ward_ledger::Outcome::Ok,
                    estate_commit: None,
                    details: Default::default(),
                })
                .expect("append");
        }
        let filter = EntryFilter {
            by: Some("alice".into()),
            action: Some("backup*".into()),
            ..EntryFilter::default()
        };
        let all = log(tmp.path(), &filter, None).expect("log");
        let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["backup.run", "backup.verify"]);
        let last = log(tmp.path(), &filter, Some(1)).expect("log");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].action, "backup.verify");
        let every = log(tmp.path(), &EntryFilter::default(), None).expect("log");
        assert_eq!(every.len(), 4);
        let newest = every.last().map(|e| e.seq);
        assert_eq!(head(tmp.path()).expect("head").map(|h| h.seq), newest);
    }
}
