//! The records the store returns and the services trust: already parsed, never raw rows.

mod application;
mod audit;
mod authorization_code;
mod lifetimes;
mod management_token;
mod organization;
mod pending_authorization;
mod refresh_token;
mod registered_redirect_uri;
mod session;
mod signing_key;
mod tenant;
mod user;

pub use application::Application;
pub use audit::{AuditEvent, AuditOutcome};
pub use authorization_code::AuthorizationCode;
pub use lifetimes::{LifetimeError, TokenLifetimes};
pub use management_token::ManagementToken;
pub use organization::Organization;
pub use pending_authorization::PendingAuthorization;
pub use refresh_token::RefreshToken;
pub use registered_redirect_uri::RegisteredRedirectUri;
pub use session::Session;
pub use signing_key::{KeyState, SigningKey, UnsealError};
pub use tenant::Tenant;
pub use user::User;
