//! Progress reporting: the vault calls a [`Progress`] so that the CLI can draw bars without
//! the library depending on a terminal crate.
//!
//! Calls come from several threads at once; implementations must be cheap and thread-safe.

use std::fmt;

/// A phase of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Streaming the database dump (units: plaintext bytes).
    Dump,
    /// Storing filestore blobs (units: plaintext bytes of blobs checked or uploaded).
    Filestore,
    /// Writing the manifest.
    Manifest,
    /// Restoring the database (units: plaintext dump bytes).
    RestoreDatabase,
    /// Restoring filestore blobs (units: plaintext bytes).
    RestoreFilestore,
    /// Verifying objects (units: objects).
    Verify,
    /// Deleting snapshots and unreferenced objects (units: objects).
    Prune,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Dump => "dump",
            Phase::Filestore => "filestore",
            Phase::Manifest => "manifest",
            Phase::RestoreDatabase => "restore database",
            Phase::RestoreFilestore => "restore filestore",
            Phase::Verify => "verify",
            Phase::Prune => "prune",
        })
    }
}

/// Receives progress events. Every method has an empty default.
pub trait Progress: Send + Sync {
    /// A phase starts; `total` is known for filestore, restore and verify phases.
    fn start(&self, _phase: Phase, _total: Option<u64>) {}
    /// `amount` more units of `phase` are done.
    fn advance(&self, _phase: Phase, _amount: u64) {}
    /// A phase ended.
    fn finish(&self, _phase: Phase) {}
    /// A human-readable note (never contains secrets).
    fn note(&self, _message: &str) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
