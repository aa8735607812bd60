//! One file per service of `keyhaven.admin.v1`.

pub mod application;
pub mod audit;
pub mod management_token;
pub mod organization;
pub mod session;
pub mod signing_key;
pub mod tenant;
pub mod user;
