//! One file per grant type, named after its wire value.

pub mod authorization_code;
pub mod client_credentials;
