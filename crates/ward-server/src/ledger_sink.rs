//! The served ledger as the operations layer's [`LedgerSink`]: while serving, every entry
//! an operation records goes to the store's ledger, one chain across replicas.

use std::sync::{Arc, Mutex};

use ward_ledger::{LedgerKey, NewEntry};
use ward_ops::{Error, LedgerSink};
use ward_store::StoreLedger;

/// Appends to the store's ledger, signed with the server's ledger key, and remembers the
/// seq of the last entry it wrote (a run's ledger entry).
#[derive(Clone)]
pub struct StoreLedgerSink {
    ledger: StoreLedger,
    key: Arc<LedgerKey>,
    runtime: tokio::runtime::Handle,
    last_seq: Arc<Mutex<Option<u64>>>,
}

impl std::fmt::Debug for StoreLedgerSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLedgerSink").finish_non_exhaustive()
    }
}

impl StoreLedgerSink {
    pub fn new(
        ledger: StoreLedger,
        key: Arc<LedgerKey>,
        runtime: tokio::runtime::Handle,
    ) -> StoreLedgerSink {
        StoreLedgerSink {
            ledger,
            key,
            runtime,
            last_seq: Arc::new(Mutex::new(None)),
        }
    }

    /// The same sink with its own memory of the last seq (one per run).
    pub fn fresh(&self) -> StoreLedgerSink {
        StoreLedgerSink {
            last_seq: Arc::new(Mutex::new(None)),
            ..self.clone()
        }
    }

    /// Appends from async code (the API's own entries: denied calls, enqueued runs).
    pub async fn append_async(&self, entry: NewEntry) -> Result<u64, Error> {
        let written = self.ledger.append(&self.key, entry).await.map_err(|e| {
            Error::operational(
                e.to_string(),
                "check the store and `ward audit verify --store`",
            )
        })?;
        if let Ok(mut last) = self.last_seq.lock() {
            *last = Some(written.seq);
        }
        Ok(written.seq)
    }

    /// The seq of the last entry this sink wrote.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq.lock().ok().and_then(|l| *l)
    }
}

impl LedgerSink for StoreLedgerSink {
    /// Called by operations on a blocking thread (never on the runtime's own threads).
    fn append(&self, entry: NewEntry) -> Result<(), Error> {
        self.runtime.block_on(self.append_async(entry)).map(|_| ())
    }
}
