//! One file per endpoint.

pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod introspect;
pub mod jwks;
pub mod login;
pub mod revoke;
pub mod token;
pub mod userinfo;
