//! The API's one error document, `{"error", "message", "hint"}`, and the HTTP status of
//! each kind: input 400, not found 404, unauthenticated 401, denied 403, findings 409,
//! conflict 409, not ready 503, operational 500 (502 when the OpenID provider failed).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use ward_ops::ErrorKind;
use ward_store::StoreError;

/// An error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    /// `bad-input`, `not-found`, `unauthenticated`, `denied`, `findings`, `conflict`,
    /// `not-ready` or `operational`.
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: &str, hint: Option<&str>) -> ApiError {
        ApiError {
            status: status.as_u16(),
            error: error.to_string(),
            message: ward_ops::scrub::scrub_credentials(message),
            hint: hint.map(str::to_string),
        }
    }

    pub fn bad_input(message: &str, hint: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-input", message, Some(hint))
    }

    pub fn not_found(message: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", message, None)
    }

    pub fn unauthenticated(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message, None)
    }

    pub fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "denied", message, None)
    }

    pub fn conflict(message: &str, hint: &str) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message, Some(hint))
    }

    pub fn not_ready(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            message,
            Some("the server has not loaded an estate commit yet; see GET /api/v1/commits"),
        )
    }

    /// A service the call needed (the OpenID provider) failed: 502.
    pub fn upstream(message: &str, hint: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, "operational", message, Some(hint))
    }

    pub fn operational(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "operational",
            message,
            None,
        )
    }
}

impl From<ward_ops::Error> for ApiError {
    fn from(e: ward_ops::Error) -> ApiError {
        let (status, word) = match e.kind() {
            ErrorKind::Input => (StatusCode::BAD_REQUEST, "bad-input"),
            ErrorKind::Findings => (StatusCode::CONFLICT, "findings"),
            ErrorKind::Denied => (StatusCode::FORBIDDEN, "denied"),
            ErrorKind::Operational => (StatusCode::INTERNAL_SERVER_ERROR, "operational"),
        };
        ApiError::new(status, word, &e.message(), e.hint())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::RunNotFound { .. } => ApiError::not_found(&e.to_string()),
            StoreError::InvalidInput(m) => ApiError::bad_input(m, "see /api/v1/openapi.json"),
            _ => ApiError::operational(&format!("store: {e}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(&self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ward\""),
            );
        }
        response
    }
}
