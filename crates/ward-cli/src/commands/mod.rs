//! One module per `ward` subcommand: its arguments (clap) and its `run`.

pub mod audit;
pub mod classify;
pub mod explain;
pub mod init;
pub mod validate;
