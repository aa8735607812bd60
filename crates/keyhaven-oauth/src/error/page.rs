//! Failures of the browser-facing endpoints (authorize, sign-in, consent), shown to the
//! person in the browser as an HTML page: never a redirect, so a client or redirect URI
//! that failed its checks is never sent anything (RFC 6749 §4.1.2.1).

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{ErrorCode, OAuthError};
use crate::pages::{self, ErrorPage};

#[derive(Debug)]
pub enum PageError {
    /// 400: the request cannot go on; the message says why and what to do.
    BadRequest(String),
    /// 403: a form posted from another site, for another browser, or without its token.
    Forbidden(String),
    /// 404: no such tenant.
    NotFound,
    /// 500: ours; the detail went to the log when this was made.
    Server,
    /// A page the caller rendered that reports a refusal: the sign-in form again after
    /// wrong credentials (401) or with a stale form token (403).
    Refused {
        html: String,
        stale_form: bool,
        /// Where the page's form may send the browser besides this server (CSP).
        form_target: Option<String>,
    },
    /// 429 with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3): the sign-in form again,
    /// its failed attempts throttled for `retry_after` seconds.
    Throttled {
        html: String,
        retry_after: u64,
        form_target: Option<String>,
    },
}

impl PageError {
    pub fn server(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "page failed");
        Self::Server
    }
}

impl From<keyhaven_store::StoreError> for PageError {
    fn from(err: keyhaven_store::StoreError) -> Self {
        PageError::server(err)
    }
}

impl From<OAuthError> for PageError {
    fn from(err: OAuthError) -> Self {
        match err.code {
            ErrorCode::NotFound => PageError::NotFound,
            ErrorCode::ServerError => PageError::Server,
            _ => PageError::BadRequest(err.description),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Refused {
                html,
                stale_form,
                form_target,
            } => {
                let status = if stale_form {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut response = (status, Html(html)).into_response();
                pages::harden(&mut response, form_target.as_deref());
                return response;
            }
            PageError::Throttled {
                html,
                retry_after,
                form_target,
            } => {
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after.to_string())],
                    Html(html),
                )
                    .into_response();
                pages::harden(&mut response, form_target.as_deref());
                return response;
            }
            PageError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "This request cannot be completed",
                message,
            ),
            PageError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                "This form cannot be accepted",
                message,
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.".to_owned(),
            ),
            PageError::Server => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete the request. Please try again later.".to_owned(),
            ),
        };
        tracing::info!(status = status.as_u16(), reason = %message, "page refused");
        let html = pages::render(&ErrorPage {
            title,
            message: &message,
        })
        .unwrap_or_else(|_| message.clone());
        let mut response = (status, Html(html)).into_response();
        pages::harden(&mut response, None);
        response
    }
}
