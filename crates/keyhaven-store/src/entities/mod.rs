//! sea-orm entities: the rows as stored. They never leave this crate; the repository
//! modules turn them into `keyhaven_core::model` records.

pub mod application;
pub mod audit_event;
pub mod authorization_code;
pub mod authorization_request;
pub mod client_secret;
pub mod device_secret;
pub mod logout_delivery;
pub mod management_token;
pub mod organization;
pub mod redirect_uri;
pub mod refresh_token;
pub mod request_id;
pub mod revocation;
pub mod session;
pub mod session_application;
pub mod sign_in_throttle;
pub mod signing_key;
pub mod tenant;
pub mod user;
