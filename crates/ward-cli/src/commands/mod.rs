//! One module per `ward` subcommand: its arguments (clap) and its `run`.

pub mod apply;
pub mod audit;
pub mod backup;
pub mod check;
pub mod classify;
pub mod completion;
pub mod controls;
pub mod drill;
pub mod evaluate_commit;
pub mod explain;
pub mod init;
pub mod plan;
pub mod render;
pub mod restore;
pub mod serve;
pub mod signing;
pub mod store_args;
pub mod token;
pub mod validate;
pub mod vault;
pub mod version;
