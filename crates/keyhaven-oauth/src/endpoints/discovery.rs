//! OpenID Connect Discovery 1.0 §4: the provider metadata of one tenant.
//!
//! Fields whose spec default would be wrong for us are stated explicitly, since clients
//! read a missing field as its default (design.md §4.4).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use keyhaven_core::jose::SigningAlgorithm;
use serde_json::json;

use crate::error::OAuthError;
use crate::state::OAuthState;
use crate::tenant;

pub async fn openid_configuration(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
) -> Result<Response, OAuthError> {
    let tenant = tenant::resolve(&state, &slug).await?;
    let issuer = state.issuer(&tenant);
    let algorithms: Vec<&str> = SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "scopes_supported": ["openid", "profile", "email", "offline_access", "device_sso"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "ds_hash",
            "preferred_username", "given_name", "family_name", "email",
        ],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "code_challenge_methods_supported": ["S256"],
        "request_uri_parameter_supported": false,
        "request_parameter_supported": false,
        "claims_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        // Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // Native SSO for Mobile Apps 1.0 §5.
        "native_sso_supported": true,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
