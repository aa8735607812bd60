use crate::application::{AllowedOrigin, ApplicationType, ClientId, GrantTypes};
use crate::display_name::DisplayName;
use crate::environment::EnvironmentSet;
use crate::ids::{ApplicationId, TenantId};
use crate::jose::SigningAlgorithm;
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
    /// What its ID tokens are signed with (`id_token_signed_response_alg`, OpenID Connect
    /// Dynamic Client Registration 1.0 §2).
    pub id_token_signed_response_alg: SigningAlgorithm,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Application {
    /// The ID token algorithm of an application that chose none: RS256, the default of
    /// Dynamic Client Registration §2 and the one every provider must support (OIDC Core
    /// §15.1), so every relying party can verify it.
    pub const DEFAULT_ID_TOKEN_ALG: SigningAlgorithm = SigningAlgorithm::Rs256;

    /// RFC 6749 §2.3 client authentication at the token endpoint.
    pub fn token_endpoint_auth_method(&self) -> &'static str {
        if self.app_type.is_confidential() {
            "client_secret_basic"
        } else {
            "none"
        }
    }
}
