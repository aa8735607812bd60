//! Failures of the sign-out API (design.md §4.5). Its errors speak the control plane's
//! language: `error` is the gRPC status code name in snake case and `error_code` its
//! number, so that one client-side handler serves both; a 401 also carries the Bearer
//! challenge of RFC 6750 §3.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::no_store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutError {
    /// No Bearer token at all: a challenge without an error code (RFC 6750 §3.1).
    MissingToken,
    /// Not an access token of this tenant, revoked, or naming no user session.
    InvalidToken(&'static str),
    /// A header or body value the API does not accept.
    InvalidArgument(String),
    /// The tenant in the path does not exist (404, like every tenant-routed endpoint).
    NoSuchTenant,
    /// Ours; logged when made. Retrying is safe: the sign-out is idempotent.
    Internal,
}

impl SignOutError {
    pub fn server(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "sign-out failed");
        Self::Internal
    }

    /// gRPC status code (name, number): google.golang.org/grpc/codes.
    fn code(&self) -> (&'static str, u8, StatusCode) {
        match self {
            Self::InvalidArgument(_) => ("invalid_argument", 3, StatusCode::BAD_REQUEST),
            Self::MissingToken | Self::InvalidToken(_) => {
                ("unauthenticated", 16, StatusCode::UNAUTHORIZED)
            }
            Self::NoSuchTenant | Self::Internal => {
                ("internal", 13, StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl From<keyhaven_store::StoreError> for SignOutError {
    fn from(err: keyhaven_store::StoreError) -> Self {
        SignOutError::server(err)
    }
}

impl From<super::OAuthError> for SignOutError {
    fn from(err: super::OAuthError) -> Self {
        match err.code {
            super::ErrorCode::NotFound => SignOutError::NoSuchTenant,
            // Already logged where it was made.
            _ => SignOutError::Internal,
        }
    }
}

impl IntoResponse for SignOutError {
    fn into_response(self) -> Response {
        if self == SignOutError::NoSuchTenant {
            return super::OAuthError::new(super::ErrorCode::NotFound, "no such tenant")
                .into_response();
        }
        let (error, error_code, status) = self.code();
        let description = match &self {
            Self::MissingToken => "an access token is required (Authorization: Bearer)",
            Self::InvalidToken(d) => d,
            Self::InvalidArgument(d) => d.as_str(),
            Self::NoSuchTenant | Self::Internal => {
                "the server could not complete the sign-out; retrying is safe"
            }
        };
        tracing::info!(error, reason = description, "sign-out refused");
        let challenge = match &self {
            Self::MissingToken => Some("Bearer realm=\"keyhaven\"".to_owned()),
            Self::InvalidToken(d) => Some(format!(
                "Bearer realm=\"keyhaven\", error=\"invalid_token\", error_description=\"{d}\""
            )),
            _ => None,
        };
        let body = json!({
            "error": error,
            "error_code": error_code,
            "error_description": description,
        });
        let mut response = (status, Json(body)).into_response();
        no_store(&mut response);
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
