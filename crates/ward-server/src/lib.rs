//! `ward serve`: Ward's control plane as a service. It follows the estate's Git branch and
//! evaluates every commit ([`follower`]), schedules each environment's backups, drills,
//! prunes and checks ([`scheduler`]), executes leased runs ([`worker`]), and answers the
//! HTTP API ([`api`]), people's logins ([`oidc`]) and `/metrics` ([`metrics`]).
//!
//! It sits beside the CLI above `ward-ops`: every operation it runs goes through the
//! operations layer, every durable fact through `ward-store`. It parses no arguments and
//! reads no environment variable; the binary fills [`ServeConfig`]. See docs/server.md.

pub mod api;
mod config;
pub mod evaluation;
pub mod follower;
mod ledger_sink;
pub mod metrics;
pub mod oidc;
pub mod scheduler;
mod server;
pub mod worker;

pub use config::{EstateSource, Evaluator, ServeConfig, WorkspaceTemplate};
pub use ledger_sink::StoreLedgerSink;
pub use oidc::OidcConfig;
pub use server::{ServeError, serve};
