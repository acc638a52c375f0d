//! The tamper-evident ledger.
