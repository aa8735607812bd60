//! The one place where OAuth failures become HTTP responses (RFC 6749 §5.2).
//!
//! `error_description` is what a client developer sees; `reason` is what the log sees.
//! Neither ever carries a secret, a token or another tenant's data.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// RFC 6749 §5.2 error codes (and RFC 7009 / 7662 / OIDC Core additions as they come).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 8693 §2.2.2: the requested audience or resource is not one we issue for.
    InvalidTarget,
    ServerError,
    /// Not an OAuth error: the tenant in the path does not exist.
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::ServerError => "server_error",
            Self::NotFound => "not_found",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Basic authentication was attempted: a 401 must say how to retry (RFC 6749 §5.2).
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: keyhaven_core::authorize::description_text(&description.into()),
            basic_challenge: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(ErrorCode::InvalidClient, description)
        }
    }

    /// A failure that is ours, not the client's; `detail` goes to the log only.
    pub fn server(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "request failed");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request; retry later",
        )
    }

    fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<keyhaven_store::StoreError> for OAuthError {
    fn from(err: keyhaven_store::StoreError) -> Self {
        OAuthError::server(err)
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::info!(error = self.code.as_str(), reason = %self.description, "refused");
        let body = Body {
            error: self.code.as_str(),
            error_description: &self.description,
        };
        let mut response = (self.status(), Json(body)).into_response();
        no_store(&mut response);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keyhaven\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// Token responses and their errors must not be cached (RFC 6749 §5.1).
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

// The browser pages' and the Bearer endpoints' failures, translated here too.
mod bearer;
mod page;
mod signout;
pub use bearer::BearerError;
pub use page::PageError;
pub use signout::SignOutError;
