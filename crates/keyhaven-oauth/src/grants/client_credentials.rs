//! The client credentials grant (RFC 6749 §4.4): a confidential client gets an access
//! token for itself. Nothing is written: the JWT carries everything needed to check it.

use keyhaven_core::GrantType;

use crate::access_token::{self, Claims};
use crate::cache::CachedTenant;
use crate::client_auth::{Client, Method};
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::state::OAuthState;
use crate::token_response::TokenResponse;

pub async fn grant(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by
    // confidential clients."
    if client.method == Method::None
        || !client
            .app
            .grant_types
            .contains(GrantType::ClientCredentials)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not allowed the client_credentials grant",
        ));
    }
    let scope = client
        .app
        .scopes
        .narrowed(params.get("scope"))
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    let now = state.now();
    let lifetime = tenant.lifetimes.access_token;
    let issuer = state.issuer(tenant);
    let claims = Claims {
        aud: issuer.clone(),
        iss: issuer,
        sub: client.app.client_id.to_string(),
        client_id: client.app.client_id.to_string(),
        iat: now.unix_seconds(),
        exp: now.saturating_add(lifetime).unix_seconds(),
        jti: state.random_id(),
        scope: (!scope.is_empty()).then(|| scope.to_delimited()),
        sid: None,
    };
    let keys = tenant.keys(&state.store, now).await?;
    let token = access_token::sign(&keys, &claims)?;
    Ok(TokenResponse::bearer(
        token,
        lifetime.as_secs(),
        claims.scope,
    ))
}
