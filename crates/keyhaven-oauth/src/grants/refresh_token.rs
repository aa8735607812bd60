//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2); the rules are `keyhaven_core::refresh`.

use keyhaven_core::model::{RefreshToken, Tenant};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::refresh::{self, Verdict};
use keyhaven_core::{GrantType, Timestamp};
use keyhaven_store::refresh_tokens;
use keyhaven_store::revocations::Reason;
use keyhaven_store::sessions;

use crate::cache::CachedTenant;
use crate::client_auth::Client;
use crate::error::{ErrorCode, OAuthError};
use crate::form::Params;
use crate::grants::user_tokens::{self, UserGrant};
use crate::state::OAuthState;
use crate::token_response::TokenResponse;

pub async fn grant(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if !client.app.grant_types.contains(GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not allowed the refresh_token grant",
        ));
    }
    let presented = params.require("refresh_token")?;
    let digest = OpaqueDigest::of_presented(presented).ok_or_else(unknown)?;
    let now = state.now();
    // A rotation lost to a concurrent one is judged again on what the winner wrote:
    // usually a retry, answered with the winner's tokens.
    for _ in 0..2 {
        let (token, successor) = refresh_tokens::find(&state.store, &tenant.id, &digest)
            .await?
            .ok_or_else(unknown)?;
        let verdict = refresh::classify(
            &token,
            successor.as_ref(),
            &client.app.id,
            now,
            state.refresh_retry_window,
        );
        match verdict {
            Verdict::Rotate => {
                if let Some(body) =
                    rotate(state, tenant, client, params, presented, &token, now).await?
                {
                    return Ok(body);
                }
            }
            Verdict::Retry => {
                if let Some(body) = token
                    .retry_response
                    .as_deref()
                    .and_then(|sealed| refresh::open_response(presented, sealed))
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                {
                    tracing::info!(family = %token.family_id, "refresh retried inside the window: same answer");
                    return Ok(body);
                }
                return reuse(state, tenant, &token, now).await;
            }
            Verdict::Reuse => return reuse(state, tenant, &token, now).await,
            Verdict::Expired => return Err(invalid_grant("the refresh token has expired")),
            Verdict::Revoked => return Err(invalid_grant("the refresh token was revoked")),
            Verdict::OtherClient => {
                tracing::warn!(family = %token.family_id, "refresh token presented by another client");
                return Err(invalid_grant(
                    "the refresh token was issued to another client",
                ));
            }
        }
    }
    Err(OAuthError::server("refresh rotation lost twice in a row"))
}

/// Issues the successor of `token` and replaces it, unless a concurrent rotation got
/// there first (`None`).
async fn rotate(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    params: &Params,
    presented: &str,
    token: &RefreshToken,
    now: Timestamp,
) -> Result<Option<TokenResponse>, OAuthError> {
    // RFC 6749 §6: a narrower scope for this access token; the grant keeps its own.
    let scope = token
        .scope
        .narrowed(params.get("scope"))
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    // A signed-out session or a disabled user ends the grant.
    let (_, user) = sessions::get_with_user(&state.store, &tenant.id, &token.session_id)
        .await?
        .filter(|(s, _)| s.ended_at.is_none())
        .ok_or_else(|| invalid_grant("the session of this refresh token has ended"))?;
    if user.disabled || user.id != token.user_id {
        return Err(invalid_grant(
            "the user of this refresh token can no longer sign in",
        ));
    }

    let issued = user_tokens::issue(
        state,
        tenant,
        client,
        UserGrant {
            user_id: &token.user_id,
            session_id: &token.session_id,
            granted: &token.scope,
            scope: &scope,
            auth_time: token.auth_time,
            nonce: None,
            family_id: &token.family_id,
            device_id: token.device_id.clone(),
            // OIDF issue 2170: a refresh never hands out or rebinds a device secret.
            device_secret: None,
        },
        state.random_id(),
        now,
    )
    .await?;
    // The client is allowed refresh, so a successor is always issued.
    let Some(successor) = &issued.refresh else {
        return Err(OAuthError::server("no successor refresh token was issued"));
    };
    let mut nonce = [0u8; keyhaven_core::kek::NONCE_LEN];
    state.entropy.fill(&mut nonce);
    let answer = serde_json::to_vec(&issued.body).map_err(OAuthError::server)?;
    let sealed = refresh::seal_response(presented, nonce, &answer);
    let won = refresh_tokens::rotate(
        &state.store,
        &tenant.id,
        &token.digest,
        successor,
        &sealed,
        now,
    )
    .await?;
    Ok(won.then_some(issued.body))
}

/// A replaced token came back: two parties hold it. Revoke the family (RFC 9700
/// §4.14.2) and refuse.
async fn reuse(
    state: &OAuthState,
    tenant: &Tenant,
    token: &RefreshToken,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let revoked = refresh_tokens::revoke_family(
        &state.store,
        &tenant.id,
        &token.family_id,
        Reason::RefreshReuse,
        now,
    )
    .await?;
    let reason = Reason::RefreshReuse.as_str();
    state.metrics.revoked(tenant.slug.as_str(), reason);
    tracing::warn!(
        family = %token.family_id,
        sid = %token.session_id,
        refresh_tokens_revoked = revoked,
        "a replaced refresh token was presented again: its family is revoked"
    );
    Err(invalid_grant(
        "the refresh token was already used; the grant is revoked",
    ))
}

fn unknown() -> OAuthError {
    invalid_grant("the refresh token is not one this server issued")
}

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}
