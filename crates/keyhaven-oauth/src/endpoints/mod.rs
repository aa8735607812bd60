//! One file per endpoint.

pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod end_session;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod revoke;
pub mod signout;
pub mod token;
pub mod userinfo;
