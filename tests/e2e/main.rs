//! End-to-end tests, one binary: each module drives the real server over the wire.

mod bootstrap;
mod reflection;
mod shutdown;
mod tenants;
