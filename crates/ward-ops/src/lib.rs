//! Ward's operations layer: the use cases the CLI and the server both offer (check, plan,
//! apply, backup, restore, drill, audit…) over a [`Workspace`], with one error kind.
//!
//! It sits between the domain crates (`ward-estate`, `ward-policy`, `ward-render`,
//! `ward-vault`, `ward-ledger`) and the binaries. It never prints, parses arguments or
//! reads environment variables: what the process environment says arrives in
//! [`ProcessEnv`]. See docs/ARCHITECTURE.md.

pub mod audit;
pub mod backup;
pub mod check;
pub mod drill;
mod error;
mod estate;
pub mod event;
pub mod init;
pub mod keys;
pub mod plan;
mod process_env;
pub mod restore;
pub mod scrub;
pub mod secrets;
pub mod snapshots;
pub mod vault;
mod workspace;

pub use error::{Error, ErrorKind, ledger_error};
pub use estate::{environment, unknown_address};
pub use event::Event;
pub use process_env::ProcessEnv;
pub use workspace::{LedgerSink, Workspace, default_state_dir, record_in};
