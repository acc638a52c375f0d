//! People's logins: `/auth/login` sends the browser to the OpenID provider, `/auth/callback`
//! opens a session from what the provider sends back, `/auth/logout` ends it, and
//! `GET /api/v1/session` says who the caller is (with a session's CSRF token).
//!
//! The login is bound to the browser that started it (its state is also in a short-lived
//! cookie), is single-use (the store gives its request back once), and its `next` is a
//! path of this server only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa::IntoParams;
use ward_ledger::Outcome;
use ward_store::{NewLogin, NewSession};

use super::auth::{Caller, Credential, SESSION_COOKIE, cookie, roles_text};
use super::error::ApiError;
use super::views::SessionView;
use crate::oidc::{LOGIN_TIMEOUT, OidcError, OidcLogin};
use crate::server::Shared;

/// The cookie that binds a login to the browser that started it.
const LOGIN_COOKIE: &str = "ward_login";
/// Where a login ends when it does not say.
const DEFAULT_NEXT: &str = "/api/v1/session";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// A path of this server to go to after the login (default `/api/v1/session`).
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The issuer that answered (RFC 9207), checked when sent.
    pub iss: Option<String>,
    /// The provider's refusal, instead of a code.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn oidc(shared: &Shared) -> Result<&OidcLogin, ApiError> {
    shared.oidc.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "this server has no OpenID Connect login: start it with --oidc-issuer and --oidc-client-id, or use an API token",
        )
    })
}

fn from_oidc(e: OidcError) -> ApiError {
    match e {
        OidcError::Provider { .. } => ApiError::upstream(
            &e.to_string(),
            "check that the provider is up and that --oidc-issuer is its issuer exactly",
        ),
        OidcError::Rejected(m) => ApiError::unauthenticated(&format!("login refused: {m}")),
    }
}

/// `next` when it is a path of this server, else the default: never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => DEFAULT_NEXT.to_string(),
    }
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

fn redirect(location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(location)
            .map_err(|e| ApiError::operational(&format!("a redirect to {location:?}: {e}")))?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_str(c).map_err(|e| ApiError::operational(&e.to_string()))?,
        );
    }
    Ok(response)
}

/// Starts a login: to the provider, with a new state, nonce and PKCE challenge.
#[utoipa::path(get, path = "/auth/login", tag = "auth", params(LoginQuery),
    responses((status = 303, description = "to the OpenID provider's authorization endpoint"),
        (status = 404, body = ApiError, description = "no OpenID provider is configured"),
        (status = 502, body = ApiError, description = "the provider cannot be reached")))]
pub async fn login(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let oidc = oidc(&shared)?;
    let authorization = oidc.authorize().await.map_err(from_oidc)?;
    let expires_at =
        jiff::Timestamp::now() + jiff::SignedDuration::from_secs(LOGIN_TIMEOUT.as_secs() as i64);
    shared
        .store
        .begin_login(&NewLogin {
            state: authorization.state.clone(),
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            next: safe_next(q.next.as_deref()),
            expires_at,
        })
        .await?;
    let bind = set_cookie(
        LOGIN_COOKIE,
        &authorization.state,
        "/auth",
        LOGIN_TIMEOUT.as_secs(),
        oidc.config.secure_cookies(),
    );
    redirect(&authorization.url, &[bind])
}

/// Finishes a login: checks the state against the browser's and the store's, exchanges the
/// code, verifies the ID token, maps the groups to roles, opens a session.
#[utoipa::path(get, path = "/auth/callback", tag = "auth", params(CallbackQuery),
    responses((status = 303, description = "to the login's `next`, with the session cookie"),
        (status = 400, body = ApiError, description = "not a login this browser started, or one already finished"),
        (status = 401, body = ApiError, description = "the provider refused, or its ID token does not verify"),
        (status = 403, body = ApiError, description = "the person's groups hold no Ward role"),
        (status = 502, body = ApiError)))]
pub async fn callback(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let oidc = oidc(&shared)?;
    if let Some(error) = &q.error {
        return Err(ApiError::unauthenticated(&format!(
            "the OpenID provider refused the login: {error}{}",
            q.error_description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )));
    }
    let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return Err(ApiError::bad_input(
            "the callback needs `code` and `state`",
            "start at /auth/login",
        ));
    };
    if let Some(iss) = &q.iss
        && iss.trim_end_matches('/') != oidc.config.issuer.trim_end_matches('/')
    {
        return Err(ApiError::bad_input(
            &format!("the callback comes from issuer {iss}, not this server's"),
            "start again at /auth/login",
        ));
    }
    let bound = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !bool::from(bound.as_bytes().ct_eq(state.as_bytes())) {
        return Err(ApiError::bad_input(
            "this login was not started in this browser",
            "start again at /auth/login",
        ));
    }
    let Some(pending) = shared.store.take_login(state).await? else {
        return Err(ApiError::bad_input(
            "unknown, finished or expired login",
            "start again at /auth/login",
        ));
    };
    let identity = oidc
        .complete(code, &pending.nonce, &pending.pkce_verifier)
        .await
        .map_err(from_oidc)?;
    let current = shared
        .current()
        .ok_or_else(|| ApiError::not_ready("no estate commit is in force yet"))?;
    let subject = identity
        .email
        .as_deref()
        .and_then(|e| current.estate.person_by_email(e))
        .map(|p| p.name.value.clone())
        .or_else(|| identity.email.clone())
        .unwrap_or_else(|| format!("oidc:{}", identity.subject));
    let roles = shared.roles_of_groups(&identity.groups, &oidc.config.groups_prefix);
    let mut details = ward_ops::event::AuthLogin {
        issuer: oidc.config.issuer.clone(),
        sub: identity.subject.clone(),
        email: identity.email.clone(),
        groups: identity.groups.clone(),
        roles: roles_text(&roles),
        session: None,
        expires_at: None,
    };
    if roles.is_empty() {
        shared
            .record(&subject, &details.into(), "session", Outcome::Denied)
            .await?;
        return Err(ApiError::forbidden(&format!(
            "{subject} logged in, but the groups {:?} hold no Ward role: a Team's `groups` maps each role to a group{}",
            identity.groups,
            if oidc.config.groups_prefix.is_empty() {
                String::new()
            } else {
                format!(
                    " (each group prefixed with {:?})",
                    oidc.config.groups_prefix
                )
            }
        )));
    }
    let ttl = oidc.config.session_ttl;
    let issued = shared
        .store
        .create_session(&NewSession {
            subject: subject.clone(),
            issuer: oidc.config.issuer.clone(),
            issuer_subject: identity.subject,
            email: identity.email,
            groups: identity.groups,
            expires_at: jiff::Timestamp::now()
                + jiff::SignedDuration::from_secs(ttl.as_secs() as i64),
        })
        .await?;
    details.session = Some(issued.info.id.clone());
    details.expires_at = Some(issued.info.expires_at.to_string());
    shared
        .record(&subject, &details.into(), "session", Outcome::Ok)
        .await?;
    tracing::info!(actor = %subject, session = %issued.info.id, "logged in");
    let secure = oidc.config.secure_cookies();
    redirect(
        &pending.next,
        &[
            set_cookie(SESSION_COOKIE, issued.cookie(), "/", ttl.as_secs(), secure),
            set_cookie(LOGIN_COOKIE, "", "/auth", 0, secure),
        ],
    )
}

/// Ends the caller's session (an API token is revoked with `ward token revoke` instead).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 200, body = SessionView, description = "ended; the cookie is cleared"),
        (status = 400, body = ApiError, description = "the caller holds a token, not a session")),
    security(("session" = [])))]
pub async fn logout(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let Credential::Session { id, .. } = &caller.credential else {
        return Err(ApiError::bad_input(
            "an API token is not a session",
            "revoke a token with `ward token revoke ID`",
        ));
    };
    shared.store.end_session(id).await?;
    let event = ward_ops::event::AuthLogout {
        session: id.clone(),
    };
    shared
        .record(&caller.actor(), &event.into(), "session", Outcome::Ok)
        .await?;
    let secure = shared
        .oidc
        .as_ref()
        .is_some_and(|o| o.config.secure_cookies());
    let mut response = Json(SessionView::of(&caller, false)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", "/", 0, secure))
            .map_err(|e| ApiError::operational(&e.to_string()))?,
    );
    Ok(response)
}

/// Who the caller is, its roles now, and (for a session) the CSRF token its unsafe calls
/// carry in `X-CSRF-Token`.
#[utoipa::path(get, path = "/api/v1/session", tag = "auth",
    responses((status = 200, body = SessionView)),
    security(("bearer" = []), ("session" = [])))]
pub async fn session(Extension(caller): Extension<Caller>) -> Response {
    let mut response = Json(SessionView::of(&caller, true)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_goes_on_to_a_path_of_this_server_only() {
        assert_eq!(
            safe_next(Some("/api/v1/runs?state=failed")),
            "/api/v1/runs?state=failed"
        );
        for other in [
            None,
            Some("https://evil.example/"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("api/v1"),
            Some("/a\r\nSet-Cookie: x=y"),
        ] {
            assert_eq!(safe_next(other), DEFAULT_NEXT, "{other:?}");
        }
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let c = set_cookie("ward_session", "v", "/", 60, true);
        assert_eq!(
            c,
            "ward_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(!set_cookie("ward_login", "s", "/auth", 600, false).contains("Secure"));
    }
}
