//! One file per grant type, named after its wire value.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod token_exchange;
pub mod user_tokens;
