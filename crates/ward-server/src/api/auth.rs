//! Authentication and authorization of every call: the bearer token is looked up in the
//! store (only its hash is kept there), the route's access is read from the table, a
//! refusal is answered 401 or 403, and a refused authenticated call is in the ledger.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Map;
use ward_ledger::Outcome;
use ward_store::{Role, StoreError};

use super::error::ApiError;
use super::routes::{self, Access};
use crate::server::Shared;

/// Who is calling: an API token's person or robot and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    pub token_id: String,
}

impl Caller {
    /// The ledger's actor for this caller's actions.
    pub fn actor(&self) -> String {
        self.subject.clone()
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The middleware around every route.
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let route_label = matched.clone().unwrap_or_else(|| "unmatched".to_string());
    let spec = matched.as_deref().and_then(|p| routes::find(&method, p));
    let response = match spec {
        // Not in the table: axum answers (404, or 405 for another method of a route).
        None => next.run(request).await,
        Some(spec) if spec.access == Access::Public => next.run(request).await,
        Some(spec) => match authenticate(&shared, bearer(&request).map(str::to_string)).await {
            Ok(Some(caller)) => {
                if spec.access.admits(caller.role) {
                    request.extensions_mut().insert(caller);
                    next.run(request).await
                } else {
                    deny(&shared, &caller, spec, &method).await
                }
            }
            // The webhook may be signed instead; its handler checks.
            Ok(None) if spec.access == Access::Webhook => next.run(request).await,
            Ok(None) => {
                ApiError::unauthenticated("this route needs `Authorization: Bearer <token>`")
                    .into_response()
            }
            Err(e) => e.into_response(),
        },
    };
    shared.metrics.observe_http(
        &method,
        &route_label,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn authenticate(shared: &Shared, token: Option<String>) -> Result<Option<Caller>, ApiError> {
    let Some(token) = token else {
        return Ok(None);
    };
    match shared.store.authenticate(&token).await {
        Ok(p) => Ok(Some(Caller {
            subject: p.subject,
            role: p.role,
            token_id: p.token_id,
        })),
        Err(StoreError::TokenRejected(rejection)) => Err(ApiError::unauthenticated(&format!(
            "{rejection}: create one with `ward token create`"
        ))),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// 403, and the refusal in the ledger with who asked and what the route needs.
async fn deny(
    shared: &Shared,
    caller: &Caller,
    spec: &routes::RouteSpec,
    method: &str,
) -> Response {
    let needed = match spec.access {
        Access::Role(role) => role.as_str().to_string(),
        Access::Webhook => Role::PlatformOps.as_str().to_string(),
        Access::Public | Access::Read => "any".to_string(),
    };
    let mut details = Map::new();
    details.insert("role".into(), caller.role.as_str().into());
    details.insert("needs".into(), needed.clone().into());
    details.insert("token".into(), caller.token_id.clone().into());
    let subject = format!("{method} {}", spec.path);
    if let Err(e) = shared
        .record(
            &caller.actor(),
            "api.denied",
            &subject,
            Outcome::Denied,
            details,
        )
        .await
    {
        tracing::error!(error = %e.message(), "cannot record a denied call");
    }
    tracing::warn!(actor = %caller.subject, role = caller.role.as_str(), route = %subject, "call denied");
    ApiError::forbidden(&format!(
        "{subject} needs the {needed} role; this token's role is {}",
        caller.role.as_str()
    ))
    .into_response()
}
