//! The records the store returns and the services trust: already parsed, never raw rows.

mod application;
mod audit;
mod lifetimes;
mod management_token;
mod organization;
mod registered_redirect_uri;
mod tenant;
mod user;

pub use application::Application;
pub use audit::{AuditEvent, AuditOutcome};
pub use lifetimes::{LifetimeError, TokenLifetimes};
pub use management_token::ManagementToken;
pub use organization::Organization;
pub use registered_redirect_uri::RegisteredRedirectUri;
pub use tenant::Tenant;
pub use user::User;
