//! Token introspection (RFC 7662) for authenticated confidential clients of the tenant.
//! A token that is not an active access or refresh token of this tenant is
//! `{"active": false}` with nothing else, whatever the reason, so the answer says nothing
//! about other tenants or clients.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use keyhaven_core::Timestamp;
use keyhaven_core::model::Tenant;
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_store::refresh_tokens;
use keyhaven_store::revocations;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::access_token;
use crate::cache::CachedTenant;
use crate::client_auth::{self, Client, Method};
use crate::error::{self, OAuthError};
use crate::form::{Params, Posted};
use crate::state::OAuthState;
use crate::tenant;

pub async fn introspect(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Posted { headers, body }: Posted,
) -> Result<Response, OAuthError> {
    let span = tracing::info_span!(
        "introspect",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let params = Params::parse(&headers, &body)?;
        let now = state.now();
        let client = client_auth::authenticate(&state, &tenant, &headers, &params, now).await?;
        if client.method == Method::None {
            // RFC 7662 §2.1: the endpoint requires authorization; a public client proves nothing.
            return Err(OAuthError::invalid_client(
                "introspection requires client authentication",
                false,
            ));
        }
        let token = params.require("token")?;
        let answer = match OpaqueDigest::of_presented(token) {
            Some(digest) => refresh_token(&state, &tenant, &client, &digest, now).await?,
            None => access_token(&state, &tenant, token, now).await?,
        };
        let body = match answer {
            Ok(active) => active,
            Err(why) => {
                tracing::info!(reason = %why, "inactive token");
                json!({ "active": false })
            }
        };
        let mut response = Json(body).into_response();
        error::no_store(&mut response);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// An access token of this tenant, not expired and not revoked.
async fn access_token(
    state: &OAuthState,
    tenant: &CachedTenant,
    token: &str,
    now: Timestamp,
) -> Result<Result<Value, String>, OAuthError> {
    let keys = tenant.keys(&state.store, now).await?;
    let claims = match access_token::validate(&keys, &state.issuer(tenant), token, now) {
        Ok(claims) => claims,
        Err(why) => return Ok(Err(why.to_string())),
    };
    if revocations::is_revoked(&state.store, &tenant.id, &claims.jti, claims.sid.as_deref()).await?
    {
        return Ok(Err("revoked".into()));
    }
    Ok(Ok(json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
    })))
}

/// A refresh token is described to the client that holds it only: to any other
/// client of the tenant it is as good as unknown.
async fn refresh_token(
    state: &OAuthState,
    tenant: &Tenant,
    client: &Client,
    digest: &OpaqueDigest,
    now: Timestamp,
) -> Result<Result<Value, String>, OAuthError> {
    let Some((token, _)) = refresh_tokens::find(&state.store, &tenant.id, digest).await? else {
        return Ok(Err("unknown refresh token".into()));
    };
    let why = if token.application_id != client.app.id {
        Some("another client's refresh token")
    } else if token.revoked_at.is_some() {
        Some("revoked refresh token")
    } else if token.used_at.is_some() {
        Some("rotated-out refresh token")
    } else if now >= token.expires_at {
        Some("expired refresh token")
    } else {
        None
    };
    if let Some(why) = why {
        return Ok(Err(why.into()));
    }
    let scope = (!token.scope.is_empty()).then(|| token.scope.to_delimited());
    Ok(Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": scope,
        "client_id": client.app.client_id.as_str(),
        "sub": token.user_id,
        "iss": state.issuer(tenant),
        "exp": token.expires_at.unix_seconds(),
        "iat": token.created_at.unix_seconds(),
    })))
}
