//! End-to-end tests, one binary: each module drives the real server over the wire.

mod applications;
mod audit;
mod authorize_errors;
mod bad_input;
mod bootstrap;
mod browser;
mod client_credentials;
mod client_secrets;
mod code_flow;
mod cors;
mod docs;
mod id_token_algorithms;
mod isolation;
mod management_tokens;
mod oidc_support;
mod redirect_uris;
mod reflection;
mod refresh_tokens;
mod revocation;
mod shutdown;
mod sign_in_page;
mod sign_in_throttle;
mod signing_keys;
mod tenants;
mod users;
