//! `ward backup run|list|verify|prune|sign-existing`: encrypted, incremental snapshots of an environment's
//! Odoo database and filestore in the vault (`ward-vault`), targets taken from the estate.
//!
//! Also the glue `ward restore` shares: repositories, recipients, identities.

// One file per subcommand (`run.rs`, `list.rs`, `verify.rs`, `prune.rs`, `sign_existing.rs`; `keygen` is
// `commands::signing`); the glue other commands share (the database connection, the
// repositories, the keys, the ledger records) is the operations layer's (`ward_ops::vault`),
// re-exported here with the connection flags (`pg_args.rs`), so callers name `commands::backup::X`.
mod list;
pub(crate) mod pg_args;
mod prune;
mod run;
mod sign_existing;
mod verify;

pub use list::ListArgs;
pub use pg_args::PgArgs;
pub use prune::PruneArgs;
pub use run::RunArgs;
pub use sign_existing::SignExistingArgs;
pub use verify::VerifyArgs;
pub(crate) use ward_ops::environment;

use list::list;
use prune::prune;
use run::run_backup;
use sign_existing::sign_existing;
use verify::verify;

use crate::context::Context;
use crate::report::{Exit, Failure};

/// Back up, list, verify and prune snapshots in the vault.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Back up one environment: its database (pg_dump → zstd → age) and the filestore blobs
    /// the database references, committed by writing the manifest last.
    #[command(after_help = "Example:\n  \
        ward --estate care backup run billing/prod\n  \
        ward backup run billing/prod --db-url postgres://odoo@127.0.0.1:5432/billing --filestore /var/lib/odoo/filestore/billing\n  \
        PGPASSWORD=… ward backup run billing/prod -o json | jq .newBytes")]
    Run(Box<RunArgs>),
    /// List committed snapshots. Needs no key: monitoring never needs restore rights.
    #[command(after_help = "Example:\n  \
        ward --estate care backup list\n  \
        ward backup list billing/prod -o json | jq '.[-1].id'")]
    List(ListArgs),
    /// Check a snapshot: every object exists with its recorded size; with --read-data every
    /// byte is decrypted and every checksum checked. Exits 1 and names each bad object.
    #[command(after_help = "Example:\n  \
        ward --estate care backup verify 20261126T101500Z-1a2b3c4d\n  \
        ward backup verify st-marys/billing/prod/20261126T101500Z-1a2b3c4d --read-data")]
    Verify(VerifyArgs),
    /// Apply the tier's retention (keep-last/hourly/daily/weekly/monthly from the posture),
    /// then delete blobs no snapshot references that are older than the grace period.
    #[command(after_help = "Example:\n  \
        ward --estate care backup prune billing/prod --dry-run\n  \
        ward backup prune billing/prod --grace 24h")]
    Prune(PruneArgs),
    /// Generate an environment's backup signing key (Ed25519: it signs snapshots and can
    /// decrypt nothing) and print the public line to pin in the estate's backup.signingKeys.
    #[command(after_help = "Example:\n  \
        ward --estate care backup keygen billing/prod\n  \
        ward backup keygen billing/prod --out /secure/billing-prod.ed25519")]
    Keygen(crate::commands::signing::KeygenArgs),
    /// Sign, once, the snapshots of an environment written before snapshots were signed:
    /// each is verified reading every byte with a DBA identity, and signed only if every
    /// object matches its recorded checksums. The others are named and left unsigned.
    #[command(after_help = "Example:\n  \
        ward --estate care backup sign-existing billing/prod --dry-run\n  \
        ward backup sign-existing billing/prod --identity dba.age -o json")]
    SignExisting(SignExistingArgs),
}

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    match cmd {
        Command::Run(a) => run_backup(cx, *a),
        Command::List(a) => list(cx, a),
        Command::Verify(a) => verify(cx, a),
        Command::Prune(a) => prune(cx, a),
        Command::Keygen(a) => crate::commands::signing::keygen(cx, a),
        Command::SignExisting(a) => sign_existing(cx, a),
    }
}
