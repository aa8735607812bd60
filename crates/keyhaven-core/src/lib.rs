//! Keyhaven's pure domain: the values the rest of the system trusts once parsed.
//!
//! Invariant: no I/O, no async, no clock reads and no randomness of its own. Time and
//! entropy are handed in, so every rule here is tested with plain data.

pub mod application;
pub mod authorize;
pub mod backchannel_logout_uri;
pub mod device_id;
pub mod display_name;
pub mod entropy;
pub mod environment;
pub mod ids;
pub mod jose;
pub mod kek;
pub mod logout;
pub mod model;
pub mod opaque;
pub mod password;
pub mod permission;
pub mod pkce;
pub mod post_logout;
pub mod redirect_uri;
pub mod refresh;
pub mod scope;
pub mod secret;
pub mod slug;
pub mod throttle;
pub mod time;
pub mod username;
pub mod validation;

pub use application::{AllowedOrigin, ApplicationType, ClientId, GrantType, GrantTypes};
pub use backchannel_logout_uri::BackchannelLogoutUri;
pub use device_id::DeviceId;
pub use display_name::DisplayName;
pub use entropy::Entropy;
pub use environment::{Environment, EnvironmentSet};
pub use ids::{ApplicationId, OrganizationId, TenantId};
pub use permission::{Permission, PermissionSet};
pub use redirect_uri::{RedirectPurpose, RedirectUri};
pub use scope::{Scope, ScopeSet};
pub use secret::{SecretDigest, SecretKind, SecretToken};
pub use slug::Slug;
pub use time::{Clock, SystemClock, Timestamp};
pub use validation::{FieldViolation, Invalid};
