use crate::application::{AllowedOrigin, ApplicationType, ClientId, GrantTypes};
use crate::display_name::DisplayName;
use crate::environment::EnvironmentSet;
use crate::ids::{ApplicationId, TenantId};
use crate::scope::ScopeSet;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: ApplicationId,
    pub tenant_id: TenantId,
    pub client_id: ClientId,
    pub display_name: DisplayName,
    pub app_type: ApplicationType,
    pub grant_types: GrantTypes,
    pub scopes: ScopeSet,
    pub first_party: bool,
    pub allowed_origins: Vec<AllowedOrigin>,
    pub allow_code_without_pkce: bool,
    /// Environments switched on for this application (the tenant's switches apply too).
    pub environments: EnvironmentSet,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Application {
    /// RFC 6749 §2.3 client authentication at the token endpoint.
    pub fn token_endpoint_auth_method(&self) -> &'static str {
        if self.app_type.is_confidential() {
            "client_secret_basic"
        } else {
            "none"
        }
    }
}
