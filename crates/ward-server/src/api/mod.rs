//! The HTTP API under `/api/v1`, `/healthz`, `/readyz` and `/metrics`. Every route is in
//! one table ([`routes::ROUTES`]) with the access it needs; one middleware authenticates
//! the bearer token or the session cookie (people's OpenID logins, [`login`]), checks the table, records denials in the ledger and times the call.
//! The OpenAPI 3.1 document is generated from the handlers ([`openapi::ApiDoc`]).

mod auth;
mod error;
mod handlers;
mod login;
pub mod openapi;
pub mod routes;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::server::Shared;

pub use auth::{CSRF_HEADER, Caller, Credential, SESSION_COOKIE};
pub use error::ApiError;
pub use routes::{Access, ROUTES, RouteSpec};

/// The API, health and (when `with_metrics`) `/metrics`.
pub fn router(shared: Arc<Shared>, with_metrics: bool) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/api/v1/openapi.json", get(handlers::openapi_document))
        .route("/auth/login", get(login::login))
        .route("/auth/callback", get(login::callback))
        .route("/auth/logout", post(login::logout))
        .route("/api/v1/session", get(login::session))
        .route("/api/v1/estate", get(handlers::estate))
        .route("/api/v1/estate/environments", get(handlers::environments))
        .route(
            "/api/v1/estate/environments/{workload}/{environment}",
            get(handlers::environment),
        )
        .route("/api/v1/estate/findings", get(handlers::findings))
        .route("/api/v1/estate/refresh", post(handlers::refresh))
        .route("/api/v1/commits", get(handlers::commits))
        .route("/api/v1/plan", get(handlers::plan))
        .route("/api/v1/snapshots", get(handlers::snapshots))
        .route("/api/v1/snapshots/verify", post(handlers::verify_snapshot))
        .route("/api/v1/backups", post(handlers::start_backup))
        .route(
            "/api/v1/drills",
            get(handlers::drills).post(handlers::start_drill),
        )
        .route("/api/v1/runs", get(handlers::runs))
        .route("/api/v1/runs/{id}", get(handlers::run))
        .route("/api/v1/runs/{id}/logs", get(handlers::run_logs))
        .route("/api/v1/runs/{id}/cancel", post(handlers::cancel_run))
        .route("/api/v1/schedule", get(handlers::schedule))
        .route("/api/v1/ledger", get(handlers::ledger))
        .route("/api/v1/ledger/verify", get(handlers::verify_ledger))
        .route("/api/v1/webhooks/git", post(handlers::git_webhook));
    if with_metrics {
        app = app.route("/metrics", get(handlers::metrics));
    }
    app.fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::authorize,
        ))
        .with_state(shared)
}

/// `/metrics` alone, for a listener of its own.
pub fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(handlers::metrics))
        .with_state(shared)
}
