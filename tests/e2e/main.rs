//! End-to-end tests, one binary: each module drives the real server over the wire.

mod applications;
mod audit;
mod authorize_errors;
mod bad_input;
mod bootstrap;
mod client_credentials;
mod client_secrets;
mod code_flow;
mod docs;
mod isolation;
mod management_tokens;
mod oidc_support;
mod redirect_uris;
mod reflection;
mod shutdown;
mod sign_in_page;
mod signing_keys;
mod tenants;
mod users;
