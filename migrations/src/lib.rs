//! Keyhaven's schema history. Each migration is dated and frozen once released: it names
//! tables and columns itself and never uses the store's entity types, so later changes
//! to the entities cannot rewrite history.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261123_000001_control_plane;
mod m20261123_000002_users;
mod m20261123_000003_signing_keys;
mod m20261123_000005_sessions_and_codes;
mod m20261123_000006_refresh_tokens_and_revocations;
mod m20261123_000007_sign_in_throttle;
mod m20261123_000008_application_id_token_alg;
mod m20261123_000009_session_lifetimes;
mod m20261123_000010_native_sso;
mod m20261123_000011_backchannel_logout;
mod m20261123_000020_sweep_indexes;
mod m20261202_000021_cache_changes;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_control_plane::Migration),
            Box::new(m20261123_000002_users::Migration),
            Box::new(m20261123_000003_signing_keys::Migration),
            Box::new(m20261123_000005_sessions_and_codes::Migration),
            Box::new(m20261123_000006_refresh_tokens_and_revocations::Migration),
            Box::new(m20261123_000007_sign_in_throttle::Migration),
            Box::new(m20261123_000008_application_id_token_alg::Migration),
            Box::new(m20261123_000009_session_lifetimes::Migration),
            Box::new(m20261123_000010_native_sso::Migration),
            Box::new(m20261123_000011_backchannel_logout::Migration),
            Box::new(m20261123_000020_sweep_indexes::Migration),
            Box::new(m20261202_000021_cache_changes::Migration),
        ]
    }
}
