//! Errors of the authorization endpoint (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9207)
//! and where they go: to the user as a page while the client or its redirect URI is in
//! doubt, back to the client's redirect URI once both are known.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with the `error_description` a client developer reads. The description is
/// kept to the characters RFC 6749 Appendix A.7 allows (printable ASCII except `"` and
/// `\`); anything else a caller passes in is replaced, so a presented value can never
/// smuggle other characters into a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    pub code: ErrorCode,
    pub description: String,
}

impl AuthorizeError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description_text(&description.into()),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
}

/// `raw` with every character RFC 6749 Appendix A.7 does not allow in an
/// `error_description` (anything but printable ASCII without `"` and `\`) replaced by `?`.
pub fn description_text(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect()
}

/// Where a successful or failed answer goes once the client and its redirect URI passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// The redirect URI exactly as the client sent it (for a loopback IP, with its port).
    pub redirect_uri: String,
    /// Echoed unchanged in every answer (RFC 6749 §4.1.2).
    pub state: Option<String>,
}

/// Why an authorization request is refused, and how the refusal is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The client or its redirect URI cannot be trusted: the user sees an error page and
    /// is never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
    Page(AuthorizeError),
    /// Everything else: back to the client's redirect URI.
    Redirect(ReplyTo, AuthorizeError),
}

impl Rejection {
    pub fn error(&self) -> &AuthorizeError {
        match self {
            Self::Page(e) | Self::Redirect(_, e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_the_rfc_6749_error_description_characters() {
        let error = AuthorizeError::invalid_request("scope \"x\\y\" is \u{a7}3.3 ok!");
        assert_eq!(error.description, "scope ?x?y? is ?3.3 ok!");
    }
}
