//! The one place where control-plane failures become gRPC statuses.

use keyhaven_core::Invalid;
use keyhaven_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// Carries the resource name the caller asked for, never more.
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(Invalid),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// Details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl AdminError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(Invalid::one(field, description))
    }

    pub fn code(&self) -> Code {
        match self {
            Self::Unauthenticated(_) => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::NotFound(_) => Code::NotFound,
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::Aborted(_) => Code::Aborted,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Internal(_) => Code::Internal,
            Self::Unavailable(_) => Code::Unavailable,
        }
    }

    /// The status name the audit log records, such as `INVALID_ARGUMENT`.
    pub fn code_name(&self) -> &'static str {
        code_name(self.code())
    }

    /// Maps a store failure on the resource the caller named.
    pub fn from_store(name: &str) -> impl FnOnce(StoreError) -> AdminError + '_ {
        move |err| match err {
            StoreError::NotFound => AdminError::NotFound(name.to_owned()),
            StoreError::AlreadyExists(what) => {
                AdminError::AlreadyExists(format!("{what} already exists"))
            }
            StoreError::Conflict => AdminError::Aborted(format!(
                "{name} was changed by another request since it was read (etag mismatch); read it again and retry"
            )),
            other => AdminError::from(other),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AdminError::NotFound("resource".into()),
            StoreError::AlreadyExists(what) => {
                AdminError::AlreadyExists(format!("{what} already exists"))
            }
            StoreError::Conflict => AdminError::Aborted(err.to_string()),
            StoreError::Corrupt(detail) => AdminError::Internal(detail),
            StoreError::Database(db) => AdminError::Unavailable(db.to_string()),
        }
    }
}

impl From<Invalid> for AdminError {
    fn from(invalid: Invalid) -> Self {
        AdminError::InvalidArgument(invalid)
    }
}

impl From<AdminError> for Status {
    fn from(err: AdminError) -> Status {
        match err {
            AdminError::InvalidArgument(invalid) => {
                let mut details = ErrorDetails::new();
                for v in &invalid.violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let message = match invalid.violations.as_slice() {
                    [one] => format!("invalid {}: {}", one.field, one.description),
                    many => format!(
                        "invalid request: {} (see the field violations for the rule each broke)",
                        many.iter()
                            .map(|v| v.field.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                tracing::info!(violations = %invalid, "invalid argument");
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            // The caller gets a generic message; the log gets the details, here, where
            // the error is mapped.
            AdminError::Internal(detail) => {
                tracing::error!(%detail, "control-plane call failed");
                Status::internal("internal error; see the server log")
            }
            AdminError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                Status::unavailable("the database is unavailable; retry later")
            }
            other => Status::new(other.code(), other.to_string()),
        }
    }
}

pub fn code_name(code: Code) -> &'static str {
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

/// Reads the status a response carries in its headers (a trailers-only error response),
/// which is how every failed unary call answers.
pub fn response_code(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(Code::from_i32(value))
}

/// tonic answers a body that is not valid protobuf with INTERNAL; the fault is the
/// caller's, so it becomes INVALID_ARGUMENT with a message that says so.
pub fn rewrite_decode_failure(response: &mut http::Response<tonic::body::Body>) {
    let headers = response.headers_mut();
    let is_decode_failure = response_code(headers) == Some(Code::Internal)
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("decode") || m.contains("buffer"));
    if is_decode_failure {
        let status = Status::invalid_argument(
            "the request body is not a valid protobuf message for this method",
        );
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(Code::InvalidArgument as i32),
        );
        if let Ok(message) = http::HeaderValue::from_str(status.message()) {
            headers.insert("grpc-message", message);
        }
    }
}
