//! Failures of endpoints that take a Bearer access token (RFC 6750 §3): the status and
//! the `WWW-Authenticate` challenge that tells the client what went wrong.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::no_store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No token at all: a challenge without an error code (RFC 6750 §3.1).
    Missing,
    /// A malformed request, such as a token sent twice.
    InvalidRequest(&'static str),
    /// Expired, revoked, malformed or issued elsewhere.
    InvalidToken(&'static str),
    /// The token lacks the scope the endpoint needs.
    InsufficientScope(&'static str),
    /// Not a Bearer matter: the tenant in the path does not exist (404, like every
    /// tenant-routed endpoint).
    NoSuchTenant,
    /// Ours; logged when made.
    Server,
}

impl BearerError {
    pub fn server(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "bearer request failed");
        Self::Server
    }
}

impl From<keyhaven_store::StoreError> for BearerError {
    fn from(err: keyhaven_store::StoreError) -> Self {
        BearerError::server(err)
    }
}

impl From<super::OAuthError> for BearerError {
    fn from(err: super::OAuthError) -> Self {
        match err.code {
            super::ErrorCode::NotFound => BearerError::NoSuchTenant,
            _ => BearerError::Server,
        }
    }
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        if self == BearerError::NoSuchTenant {
            return super::OAuthError::new(super::ErrorCode::NotFound, "no such tenant")
                .into_response();
        }
        let (status, error, description, scope) = match self {
            BearerError::Missing => (
                StatusCode::UNAUTHORIZED,
                None,
                "an access token is required",
                None,
            ),
            BearerError::InvalidRequest(d) => {
                (StatusCode::BAD_REQUEST, Some("invalid_request"), d, None)
            }
            BearerError::InvalidToken(d) => {
                (StatusCode::UNAUTHORIZED, Some("invalid_token"), d, None)
            }
            BearerError::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the access token does not carry the scope this endpoint needs",
                Some(scope),
            ),
            BearerError::NoSuchTenant | BearerError::Server => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("server_error"),
                "the server could not complete the request; retry later",
                None,
            ),
        };
        tracing::info!(
            error = error.unwrap_or("missing_token"),
            reason = description,
            "bearer refused"
        );
        let mut challenge = String::from("Bearer realm=\"keyhaven\"");
        if let Some(error) = error {
            challenge.push_str(&format!(
                ", error=\"{error}\", error_description=\"{description}\""
            ));
        }
        if let Some(scope) = scope {
            challenge.push_str(&format!(", scope=\"{scope}\""));
        }
        let body = match error {
            Some(error) => json!({ "error": error, "error_description": description }),
            None => json!({ "error_description": description }),
        };
        let mut response = (status, Json(body)).into_response();
        no_store(&mut response);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
