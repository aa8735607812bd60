//! End-to-end tests, one binary: each module drives the real server over the wire.

mod applications;
mod audit;
mod bad_input;
mod bootstrap;
mod client_secrets;
mod docs;
mod isolation;
mod management_tokens;
mod redirect_uris;
mod reflection;
mod shutdown;
mod tenants;
mod users;
