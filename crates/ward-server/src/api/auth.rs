//! Authentication and authorization of every call: a bearer token is looked up in the
//! store (only its hash is kept there), else the session cookie of a person's OpenID
//! login, whose groups the estate in force maps to roles on every call; the route's access
//! is read from the table; a refusal is answered 401 or 403, and a refused authenticated
//! call is in the ledger. A session's unsafe calls must carry its CSRF token.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use ward_ledger::Outcome;
use ward_store::{Role, StoreError};

use super::error::ApiError;
use super::routes::{self, Access};
use crate::server::Shared;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ward_session";
/// The header a session's unsafe calls carry its CSRF token in (from `GET /api/v1/session`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API token, by id.
    Token { id: String },
    /// A person's session after an OpenID login, by id, with its CSRF token.
    Session { id: String, csrf: String },
}

/// Who is calling: a token's person or robot, or a logged-in person, and their roles.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    /// Sorted, once each; a token has one, a session those its groups map to (maybe none).
    pub roles: Vec<Role>,
    pub credential: Credential,
    /// When the token or session stops working.
    pub expires_at: jiff::Timestamp,
}

impl Caller {
    /// The ledger's actor for this caller's actions.
    pub fn actor(&self) -> String {
        self.subject.clone()
    }

    /// The roles, as the ledger and the errors write them: `dba,security-reviewer`.
    pub fn roles_text(&self) -> String {
        roles_text(&self.roles)
    }

    /// The ledger's record of the credential: a token's id or a session's.
    pub fn credential_detail(&self) -> ward_ops::event::Credential {
        let (kind, id) = self.credential_kind();
        ward_ops::event::Credential {
            token: (kind == "token").then(|| id.to_string()),
            session: (kind == "session").then(|| id.to_string()),
        }
    }

    /// `token` or `session`, and its id.
    pub fn credential_kind(&self) -> (&'static str, &str) {
        match &self.credential {
            Credential::Token { id } => ("token", id),
            Credential::Session { id, .. } => ("session", id),
        }
    }
}

/// Roles as the ledger and the errors write them: `dba,security-reviewer`, or `none`.
pub fn roles_text(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "none".to_string();
    }
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of cookie `name`, if the request sent it.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
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
        Some(spec) => match authenticate(&shared, request.headers()).await {
            Ok(Some(caller)) => {
                if let Err(refusal) = csrf_guard(&caller, request.method(), request.headers()) {
                    deny(&shared, &caller, spec, &method, refusal).await
                } else if spec.access.admits_any(&caller.roles) {
                    request.extensions_mut().insert(caller);
                    next.run(request).await
                } else {
                    deny(&shared, &caller, spec, &method, Refusal::Role).await
                }
            }
            // The webhook may be signed instead; its handler checks.
            Ok(None) if spec.access == Access::Webhook => next.run(request).await,
            Ok(None) => ApiError::unauthenticated(
                "this route needs `Authorization: Bearer <token>` or a session (log in at /auth/login)",
            )
            .into_response(),
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

/// The caller a request's token, else its session cookie, names; `None` without either.
async fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    if let Some(token) = bearer(headers) {
        return match shared.store.authenticate(token).await {
            Ok(p) => Ok(Some(Caller {
                subject: p.subject,
                roles: vec![p.role],
                credential: Credential::Token { id: p.token_id },
                expires_at: p.expires_at,
            })),
            Err(StoreError::TokenRejected(rejection)) => Err(ApiError::unauthenticated(&format!(
                "{rejection}: create one with `ward token create`"
            ))),
            Err(e) => Err(ApiError::from(e)),
        };
    }
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let (Some(oidc), Some(csrf)) = (&shared.oidc, ward_store::csrf_token(value)) else {
        return Err(ApiError::unauthenticated(
            "this session cookie is not one of this server's: log in again at /auth/login",
        ));
    };
    match shared.store.session(value).await {
        Ok(session) => Ok(Some(Caller {
            roles: shared.roles_of_groups(&session.groups, &oidc.config.groups_prefix),
            subject: session.subject,
            credential: Credential::Session {
                id: session.id,
                csrf,
            },
            expires_at: session.expires_at,
        })),
        Err(StoreError::SessionRejected(rejection)) => Err(ApiError::unauthenticated(&format!(
            "{rejection}: log in again at /auth/login"
        ))),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// Why an authenticated call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The route needs a role the caller does not hold.
    Role,
    /// A session's unsafe call without its CSRF token: another site's page may have sent it.
    Csrf,
}

/// A session's unsafe call must carry the session's CSRF token: the cookie goes with any
/// request the browser makes (`SameSite=Lax` stops only cross-site subrequests), the header
/// only with the server's own pages. Tokens are not sent by browsers on their own.
fn csrf_guard(caller: &Caller, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let Credential::Session { csrf, .. } = &caller.credential else {
        return Ok(());
    };
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Csrf)
    }
}

/// 403, and the refusal in the ledger with who asked and why.
async fn deny(
    shared: &Shared,
    caller: &Caller,
    spec: &routes::RouteSpec,
    method: &str,
    refusal: Refusal,
) -> Response {
    let needed = match spec.access {
        Access::Role(role) => role.as_str().to_string(),
        Access::Webhook => Role::PlatformOps.as_str().to_string(),
        Access::Public | Access::Read => "any".to_string(),
    };
    let event = ward_ops::event::ApiDenied {
        roles: caller.roles_text(),
        needs: needed.clone(),
        reason: (refusal == Refusal::Csrf).then(|| "csrf".to_string()),
        credential: caller.credential_detail(),
    };
    let subject = format!("{method} {}", spec.path);
    if let Err(e) = shared
        .record(&caller.actor(), &event.into(), &subject, Outcome::Denied)
        .await
    {
        tracing::error!(error = %e.message(), "cannot record a denied call");
    }
    tracing::warn!(actor = %caller.subject, roles = %caller.roles_text(), route = %subject, ?refusal, "call denied");
    let message = match refusal {
        Refusal::Role if needed == "any" => format!(
            "{subject} needs a Ward role; {} holds none (the estate's Teams map the identity provider's groups to roles)",
            caller.subject
        ),
        Refusal::Role => format!(
            "{subject} needs the {needed} role; this caller's roles: {}",
            caller.roles_text()
        ),
        Refusal::Csrf => format!(
            "{subject} from a session needs the `X-CSRF-Token` header (its value is in GET /api/v1/session)"
        ),
    };
    ApiError::forbidden(&message).into_response()
}
