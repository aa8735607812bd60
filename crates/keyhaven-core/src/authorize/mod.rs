//! The authorization endpoint's rules (RFC 6749 §4.1.1-4.1.2, OIDC Core §3.1.2, RFC 9207,
//! design.md §4.1-4.3), with no I/O: the endpoint reads the parameters, looks the client
//! up, and hands both here; what comes back is a checked [`AuthorizationRequest`] or a
//! [`Rejection`] that says whether the answer may go to the redirect URI at all.

mod checks;
mod error;
mod next_step;
mod params;
mod request;

pub use checks::{Client, MAX_VALUE_LEN, client_id, validate};
pub use error::{AuthorizeError, ErrorCode, Rejection, ReplyTo, description_text};
pub use next_step::{Situation, Step, next_step};
pub use params::Params;
pub use request::{AuthorizationRequest, Prompt, PromptError};

use std::time::Duration;

/// How long an authorization code lives (design.md §4.2: at most 60 s).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
