//! Keyhaven's persistence over sea-orm, on SQLite (embedded default) and PostgreSQL.
//!
//! Invariants: sea-orm types never leave this crate (functions return
//! `keyhaven_core::model` records); every query of tenant-owned rows filters on the
//! tenant, which is the first argument after the store; every mutation writes its audit
//! event in the same transaction.

pub mod applications;
pub mod audit;
pub mod authorization_codes;
pub mod authorization_requests;
pub mod changes;
mod connect;
pub mod device_secrets;
mod entities;
mod error;
pub mod hashing;
mod kept;
pub mod logout_deliveries;
pub mod management_tokens;
pub mod organizations;
mod page;
mod pools;
pub mod redirect_uris;
pub mod refresh_tokens;
mod request_ids;
mod revocation_checks;
pub mod revocations;
pub mod sessions;
pub mod sign_in_throttle;
pub mod signing_keys;
pub mod sweep;
pub mod tenants;
#[cfg(test)]
mod testing;
pub mod users;

pub use audit::Audit;
pub use connect::{Backend, MigrationState, Store};
pub use error::StoreError;
pub use hashing::PasswordHasher;
pub use page::{Page, PageRequest};
pub use pools::PoolStats;
