use crate::application::{AllowedOrigin, ApplicationType, ClientId, GrantTypes};
use crate::backchannel_logout_uri::BackchannelLogoutUri;
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
    /// Where it hears that a session it holds tokens of ended (OpenID Connect Back-Channel
    /// Logout 1.0 §2.2).
    pub backchannel_logout_uri: Option<BackchannelLogoutUri>,
    /// May take part in OpenID Connect Native SSO: ask for `device_sso` and exchange
    /// another application's ID token and device secret for its own tokens. Only
    /// `native` applications may (see [`Application::native_sso_for`]).
    pub native_sso: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Application {
    /// The ID token algorithm of an application that chose none: RS256, the default of
    /// Dynamic Client Registration §2 and the one every provider must support (OIDC Core
    /// §15.1), so every relying party can verify it.
    pub const DEFAULT_ID_TOKEN_ALG: SigningAlgorithm = SigningAlgorithm::Rs256;

    /// The scope that asks for a Native SSO device secret (Native SSO §3.1).
    pub const DEVICE_SSO_SCOPE: &'static str = "device_sso";

    /// Whether this client may be granted `scope` (RFC 6749 §3.3): `openid` always, since
    /// it only asks for an ID token about the user who signs in; `device_sso` with Native
    /// SSO, whatever the list says; anything else when listed.
    pub fn may_be_granted(&self, scope: &str) -> bool {
        match scope {
            "openid" => true,
            Self::DEVICE_SSO_SCOPE => self.native_sso,
            other => self.scopes.contains(other),
        }
    }

    /// The `native_sso` setting for an application of `app_type`: the device secret lives
    /// on a device shared by the apps of one vendor (Native SSO §1), which only native
    /// applications are.
    pub fn native_sso_for(
        app_type: ApplicationType,
        native_sso: bool,
    ) -> Result<bool, &'static str> {
        if native_sso && app_type != ApplicationType::Native {
            return Err("only native applications may take part in Native SSO");
        }
        Ok(native_sso)
    }

    /// RFC 6749 §2.3 client authentication at the token endpoint.
    pub fn token_endpoint_auth_method(&self) -> &'static str {
        if self.app_type.is_confidential() {
            "client_secret_basic"
        } else {
            "none"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_native_applications_may_take_part_in_native_sso() {
        for app_type in ApplicationType::ALL {
            assert_eq!(Application::native_sso_for(app_type, false), Ok(false));
            assert_eq!(
                Application::native_sso_for(app_type, true).is_ok(),
                app_type == ApplicationType::Native,
                "{app_type}"
            );
        }
    }
}
