//! The tokens a user's grant yields (authorization code, refresh, and later token
//! exchange): an access token, an ID token for an OpenID Connect grant, and a refresh
//! token when the client may refresh.

use keyhaven_core::model::Application;
use keyhaven_core::{GrantType, ScopeSet, Timestamp};
use keyhaven_store::refresh_tokens::NewRefreshToken;

use crate::access_token::{self, Claims};
use crate::browser::random_token;
use crate::cache::CachedTenant;
use crate::client_auth::Client;
use crate::error::OAuthError;
use crate::id_token;
use crate::state::OAuthState;
use crate::token_response::TokenResponse;

/// What the user granted, as recorded with the code or the refresh token.
pub struct UserGrant<'a> {
    pub user_id: &'a str,
    pub session_id: &'a str,
    /// The scope of the whole grant; a refresh token keeps it (RFC 6749 §6).
    pub granted: &'a ScopeSet,
    /// The scope of this access token: the grant's, or less when a refresh narrowed it.
    pub scope: &'a ScopeSet,
    pub auth_time: Timestamp,
    /// Only on the code exchange: a refreshed ID token carries none (OIDC Core §12.2).
    pub nonce: Option<String>,
    pub family_id: &'a str,
    /// The device the client named at the token request (`x-device-id`), or the one its
    /// refresh token was bound to.
    pub device_id: Option<String>,
    /// The Native SSO device secret of the grant (Native SSO §3.4): the ID token carries
    /// its `ds_hash`, and the response carries the secret when the scope has `device_sso`.
    pub device_secret: Option<&'a str>,
}

pub struct Issued {
    /// The token response (RFC 6749 §5.1).
    pub body: TokenResponse,
    /// The new refresh token's record, to be stored by the caller with its grant.
    pub refresh: Option<NewRefreshToken>,
}

/// Signs the tokens of `grant` for `client`. `access_jti` is chosen by the caller, which
/// may have had to record it before (a code records the jti it is redeemed for).
pub async fn issue(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    grant: UserGrant<'_>,
    access_jti: String,
    now: Timestamp,
) -> Result<Issued, OAuthError> {
    let issuer = state.issuer(tenant);
    let lifetime = tenant.lifetimes.access_token;
    let access_expires_at = now.saturating_add(lifetime);
    let scope = (!grant.scope.is_empty()).then(|| grant.scope.to_delimited());
    let claims = Claims {
        iss: issuer.clone(),
        aud: issuer.clone(),
        sub: grant.user_id.to_owned(),
        client_id: client.app.client_id.to_string(),
        iat: now.unix_seconds(),
        exp: access_expires_at.unix_seconds(),
        jti: access_jti.clone(),
        scope: scope.clone(),
        sid: Some(grant.session_id.to_owned()),
    };
    let keys = tenant.keys(&state.store, now).await?;
    let access_token = access_token::sign(&keys, &claims)?;
    let mut body = TokenResponse::bearer(access_token, lifetime.as_secs(), scope);
    // OIDC Core §3.1.3.3 and §12.2: an ID token for an OpenID Connect grant only.
    if grant.scope.contains("openid") {
        let alg = client.app.id_token_signed_response_alg;
        let id_claims = id_token::Claims {
            iss: issuer,
            sub: grant.user_id.to_owned(),
            aud: client.app.client_id.to_string(),
            iat: now.unix_seconds(),
            exp: now.saturating_add(tenant.lifetimes.id_token).unix_seconds(),
            auth_time: grant.auth_time.unix_seconds(),
            nonce: grant.nonce,
            sid: grant.session_id.to_owned(),
            at_hash: id_token::at_hash(alg, &body.access_token),
            ds_hash: grant.device_secret.map(|s| id_token::ds_hash(alg, s)),
        };
        body.id_token = Some(id_token::sign(&keys, alg, &id_claims)?);
        if let Some(secret) = grant.device_secret
            && grant.scope.contains(Application::DEVICE_SSO_SCOPE)
        {
            body.device_secret = Some(secret.to_owned());
        }
    }
    let refresh = if client.app.grant_types.contains(GrantType::RefreshToken) {
        let token = random_token(state);
        body.refresh_token = Some(token.expose().to_owned());
        Some(NewRefreshToken {
            digest: token.digest(),
            family_id: grant.family_id.to_owned(),
            application_id: client.app.id.clone(),
            user_id: grant.user_id.to_owned(),
            session_id: grant.session_id.to_owned(),
            scope: grant.granted.clone(),
            auth_time: grant.auth_time,
            access_jti,
            access_expires_at,
            expires_at: now.saturating_add(tenant.lifetimes.refresh_token),
            device_id: grant.device_id,
        })
    } else {
        None
    };
    Ok(Issued { body, refresh })
}
