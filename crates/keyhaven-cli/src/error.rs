//! Everything that can go wrong in an admin command, and the one place a gRPC status
//! becomes the text the user reads.

use std::fmt::Write as _;

use tonic::Code;
use tonic_types::StatusExt as _;

/// Why an admin command failed. `Display` is the message to print on stderr; none of them
/// contains the management token.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No token from `--token` or `KEYHAVEN_TOKEN`; nothing was sent.
    #[error(
        "no management token: pass --token <TOKEN> or set KEYHAVEN_TOKEN (an organization or service token)"
    )]
    MissingToken,
    /// The token cannot be sent as an HTTP header value.
    #[error("the management token contains characters that cannot be sent in a header")]
    MalformedToken,
    /// `--admin-url` is not a URL this client can use.
    #[error("invalid admin URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The control plane could not be reached at all.
    #[error("could not reach the control plane at {url}: {reason}")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// The underlying connection error, its causes joined by `: `.
        reason: String,
    },
    /// The control plane answered with an error status.
    #[error("{}", describe_status(.0))]
    Status(Box<tonic::Status>),
    /// The arguments are well-formed but do not make a request (checked before sending).
    #[error("{0}")]
    Usage(String),
    /// No user of the tenant has the username given in place of a user's resource name.
    #[error("no user with username {username:?} in {tenant}")]
    UnknownUsername {
        /// The tenant searched, as `tenants/<slug>`.
        tenant: String,
        /// The username as given.
        username: String,
    },
    /// Writing to stdout failed, for example because the pipe was closed.
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<tonic::Status> for CliError {
    fn from(status: tonic::Status) -> Self {
        CliError::Status(Box::new(status))
    }
}

/// `<CODE>: <message>`, then one `  - field: description` line per `google.rpc.BadRequest`
/// field violation in the status details.
fn describe_status(status: &tonic::Status) -> String {
    let mut text = code_name(status.code()).to_owned();
    if !status.message().is_empty() {
        text.push_str(": ");
        text.push_str(status.message());
    }
    if let Some(bad_request) = status.get_details_bad_request() {
        // A violation the message already spells out is not repeated.
        for violation in bad_request
            .field_violations
            .into_iter()
            .filter(|v| !status.message().contains(&v.description))
        {
            let _ = write!(text, "\n  - {}: {}", violation.field, violation.description);
        }
    }
    text
}

/// The canonical name of a gRPC code, as the audit log and other gRPC tools spell it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A transport error and its causes on one line; tonic's own `Display` says only
/// "transport error". A cause that repeats the line before it is left out.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut previous = text.clone();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if message != previous {
            let _ = write!(text, ": {message}");
        }
        previous = message;
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, FieldViolation};

    use super::*;

    #[test]
    fn a_status_reads_as_its_code_name_and_message() {
        let error = CliError::from(tonic::Status::not_found("tenant tenants/acme not found"));
        assert_eq!(
            error.to_string(),
            "NOT_FOUND: tenant tenants/acme not found"
        );
    }

    #[test]
    fn each_bad_request_field_violation_gets_its_own_line() {
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "the tenant is invalid",
            ErrorDetails::with_bad_request(vec![
                FieldViolation::new("tenant.slug", "must start with a letter"),
                FieldViolation::new("tenant.display_name", "must not be empty"),
            ]),
        );
        assert_eq!(
            CliError::from(status).to_string(),
            "INVALID_ARGUMENT: the tenant is invalid\n\
             \x20 - tenant.slug: must start with a letter\n\
             \x20 - tenant.display_name: must not be empty"
        );
    }
}
