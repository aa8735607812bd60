//! The token-exchange grant (RFC 8693) in the profile of OpenID Connect Native SSO for
//! Mobile Apps 1.0 §4 (draft 07): a native application trades the ID token and the
//! device secret another native application of the tenant got on the same device for
//! tokens of its own, bound to the same session.
//!
//! Decisions the draft leaves to the server:
//! - An expired ID token is accepted (§4.3 asks for its signature, its `ds_hash` and a
//!   live `sid`, not for an unexpired `exp`): the second app starts hours after the first
//!   signed in, long after an ID token's lifetime; the live session and the device
//!   secret are what prove the sign-in still stands.
//! - `audience`, when sent, must name this tenant's issuer (§4.2: the tokens are asked
//!   of this authorization server); anything else is `invalid_target` (RFC 8693 §2.2.2).
//! - Without `scope`, the grant is `openid`: an ID token for the user, which is what
//!   SSO is for.
//! - The presented device secret is handed back when the scope has `device_sso`, and the
//!   new ID token carries its `ds_hash`: the device keeps one secret for all its apps.

use keyhaven_core::jose;
use keyhaven_core::model::{Application, Session, Tenant};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{ApplicationType, ClientId, GrantType, ScopeSet, Timestamp};
use keyhaven_store::{device_secrets, refresh_tokens, sessions};

use crate::cache::CachedTenant;
use crate::client_auth::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::grants::user_tokens::{self, UserGrant};
use crate::id_token;
use crate::state::OAuthState;
use crate::token_response::TokenResponse;

pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const DEVICE_SECRET_TYPE: &str = "urn:openid:params:token-type:device-secret";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub async fn grant(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    // Native SSO §4.3: only the vendor's native apps may trade each other's sign-in.
    let app = &client.app;
    if app.app_type != ApplicationType::Native
        || !app.native_sso
        || !app.grant_types.contains(GrantType::TokenExchange)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not allowed Native SSO token exchange",
        ));
    }
    // RFC 8693 §2.1 and Native SSO §4.1: both tokens, each of its type (OIDF issue
    // 2101: an exchange without the device secret is a malformed request).
    let subject_token = params.require("subject_token")?;
    expect_type(params, "subject_token_type", ID_TOKEN_TYPE)?;
    let actor_token = params.require("actor_token")?;
    expect_type(params, "actor_token_type", DEVICE_SECRET_TYPE)?;
    let issuer = state.issuer(tenant);
    if params.get("audience").is_some_and(|a| a != issuer) {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "audience must be this tenant's issuer",
        ));
    }
    if params.get("resource").is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource indicators are not supported",
        ));
    }
    let scope = scope(app, params.get("scope"))?;

    let now = state.now();
    let subject = verify_id_token(state, tenant, &issuer, subject_token, now).await?;
    let session = verify_device_secret(state, tenant, &subject, actor_token, now).await?;
    sso_peer(state, tenant, &subject.claims.aud).await?;

    let family_id = state.random_id();
    let issued = user_tokens::issue(
        state,
        tenant,
        client,
        UserGrant {
            user_id: &session.user_id,
            session_id: &session.id,
            granted: &scope,
            scope: &scope,
            auth_time: session.auth_time,
            nonce: None,
            family_id: &family_id,
            device_id: None,
            device_secret: Some(actor_token),
        },
        state.random_id(),
        now,
    )
    .await?;
    if let Some(refresh) = &issued.refresh {
        refresh_tokens::issue(&state.store, &tenant.id, refresh, now).await?;
    }
    sessions::record_application(&state.store, &tenant.id, &session.id, &app.id, now).await?;
    sessions::touch(
        &state.store,
        &tenant.id,
        &session,
        tenant.lifetimes.session_idle,
        now,
    )
    .await?;
    let mut body = issued.body;
    // RFC 8693 §2.2.1.
    body.issued_token_type = Some(ACCESS_TOKEN_TYPE.to_owned());
    Ok(body)
}

/// RFC 8693 §2.2.2: a token type other than the profile's is a malformed request.
fn expect_type(params: &Params, name: &str, expected: &str) -> Result<(), OAuthError> {
    if params.require(name)? != expected {
        return Err(OAuthError::invalid_request(format!(
            "{name} must be {expected}"
        )));
    }
    Ok(())
}

/// RFC 6749 §3.3: what the caller may be granted, as at its own authorization request.
fn scope(app: &Application, requested: Option<&str>) -> Result<ScopeSet, OAuthError> {
    let invalid = |d: String| OAuthError::new(ErrorCode::InvalidScope, d);
    let scope = ScopeSet::parse_delimited(requested.unwrap_or("openid"))
        .map_err(|e| invalid(e.to_string()))?;
    if let Some(extra) = scope.iter().find(|s| !app.may_be_granted(s.as_str())) {
        return Err(invalid(format!(
            "scope {extra} is not allowed for this client"
        )));
    }
    Ok(scope)
}

struct Subject {
    claims: id_token::Claims,
    algorithm: jose::SigningAlgorithm,
}

/// Native SSO §4.3 and OIDF issue 1637: an ID token this tenant signed (a published key,
/// its algorithm, `typ: JWT`, this issuer), expired or not (see the module notes).
async fn verify_id_token(
    state: &OAuthState,
    tenant: &CachedTenant,
    issuer: &str,
    token: &str,
    now: Timestamp,
) -> Result<Subject, OAuthError> {
    let refuse = || invalid_grant("subject_token is not an ID token issued by this tenant");
    let keys = tenant.keys(&state.store, now).await?;
    let kid = jose::peek_kid(token).ok().flatten().ok_or_else(refuse)?;
    let verifier = keys.verifier(&kid).ok_or_else(refuse)?;
    let verified = verifier
        .verify_with_header::<id_token::Claims>(token)
        .map_err(|_| refuse())?;
    if verified.typ.as_deref() != Some(id_token::TYP) || verified.claims.iss != issuer {
        return Err(refuse());
    }
    Ok(Subject {
        claims: verified.claims,
        algorithm: verifier.algorithm(),
    })
}

/// Native SSO §4.3: the device secret matches the ID token's `ds_hash`, is live, and
/// belongs to the ID token's session and user, which are still signed in.
async fn verify_device_secret(
    state: &OAuthState,
    tenant: &Tenant,
    subject: &Subject,
    presented: &str,
    now: Timestamp,
) -> Result<Session, OAuthError> {
    let mismatch = || invalid_grant("actor_token is not the device secret of this ID token");
    let expected = id_token::ds_hash(subject.algorithm, presented);
    if subject.claims.ds_hash.as_deref() != Some(expected.as_str()) {
        return Err(mismatch());
    }
    let digest = OpaqueDigest::of_presented(presented).ok_or_else(mismatch)?;
    let secret = device_secrets::find(&state.store, &tenant.id, &digest)
        .await?
        .filter(|s| s.session_id == subject.claims.sid && s.user_id == subject.claims.sub)
        .ok_or_else(mismatch)?;
    let ended = || invalid_grant("the session of this device secret has ended");
    if !secret.is_live(now) {
        return Err(ended());
    }
    let (session, user) = sessions::get_with_user(&state.store, &tenant.id, &secret.session_id)
        .await?
        .filter(|(s, _)| s.is_live(now) && s.user_id == secret.user_id)
        .ok_or_else(ended)?;
    if user.disabled {
        return Err(invalid_grant(
            "the user of this device secret can no longer sign in",
        ));
    }
    Ok(session)
}

/// Native SSO §4.3: the ID token was issued to a native application of this tenant that
/// takes part in Native SSO, the caller's SSO group.
async fn sso_peer(state: &OAuthState, tenant: &Tenant, aud: &str) -> Result<(), OAuthError> {
    let refuse = || invalid_grant("the ID token was issued to a client outside Native SSO");
    let client_id = ClientId::parse(aud).map_err(|_| refuse())?;
    state
        .clients
        .find(&state.store, &tenant.id, &client_id, state.now())
        .await?
        .filter(|c| c.app.app_type == ApplicationType::Native && c.app.native_sso)
        .map(|_| ())
        .ok_or_else(refuse)
}

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}
