//! Token revocation (RFC 7009) for the tenant's clients, confidential or public: a
//! client revokes its own refresh tokens (the whole grant, with the access tokens issued
//! in it) and access tokens.
//!
//! Whatever the token, the answer is 200 once the client is authenticated: an invalid,
//! unknown, expired or already revoked token (RFC 7009 §2.2), and a token of another
//! client, which is left alone (design.md §4.4), so the answer tells nothing about
//! tokens the caller does not hold.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use keyhaven_core::Timestamp;
use keyhaven_core::model::Tenant;
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_store::refresh_tokens;
use keyhaven_store::revocations::{self, Reason};
use tracing::Instrument;

use crate::access_token;
use crate::cache::CachedTenant;
use crate::client_auth::{self, Client};
use crate::error::{self, OAuthError};
use crate::form::{Params, Posted};
use crate::state::OAuthState;
use crate::tenant;

pub async fn revoke(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Posted { headers, body }: Posted,
) -> Result<Response, OAuthError> {
    let span = tracing::info_span!(
        "revoke",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty,
        outcome = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let params = Params::parse(&headers, &body)?;
        let now = state.now();
        let client = client_auth::authenticate(&state, &tenant, &headers, &params, now).await?;
        let token = params.require("token")?;
        // token_type_hint only orders a search (RFC 7009 §2.1); the two kinds cannot be
        // mistaken for each other (an opaque handle has no dots, a JWT has two), so the
        // shape decides and a wrong or unknown hint changes nothing.
        let outcome = match OpaqueDigest::of_presented(token) {
            Some(digest) => revoke_refresh_token(&state, &tenant, &client, &digest, now).await?,
            None => revoke_access_token(&state, &tenant, &client, token, now).await?,
        };
        tracing::Span::current().record("outcome", outcome);
        tracing::info!("revocation request answered");
        let mut response = ().into_response();
        error::no_store(&mut response);
        Ok(response)
    }
    .instrument(span)
    .await
}

async fn revoke_refresh_token(
    state: &OAuthState,
    tenant: &Tenant,
    client: &Client,
    digest: &OpaqueDigest,
    now: Timestamp,
) -> Result<&'static str, OAuthError> {
    let Some((token, _)) = refresh_tokens::find(&state.store, &tenant.id, digest).await? else {
        return Ok("unknown token");
    };
    if token.application_id != client.app.id {
        return Ok("another client's token: left alone");
    }
    // RFC 7009 §2.1: revoking a refresh token revokes the grant, access tokens included.
    refresh_tokens::revoke_family(
        &state.store,
        &tenant.id,
        &token.family_id,
        Reason::ClientRequest,
        now,
    )
    .await?;
    let reason = Reason::ClientRequest.as_str();
    state.metrics.revoked(tenant.slug.as_str(), reason);
    Ok("refresh token revoked with its grant")
}

async fn revoke_access_token(
    state: &OAuthState,
    tenant: &CachedTenant,
    client: &Client,
    token: &str,
    now: Timestamp,
) -> Result<&'static str, OAuthError> {
    let keys = tenant.keys(&state.store, now).await?;
    let Ok(claims) = access_token::validate(&keys, &state.issuer(tenant), token, now) else {
        return Ok("not an active access token of this tenant");
    };
    if claims.client_id != client.app.client_id.as_str() {
        return Ok("another client's token: left alone");
    }
    revocations::revoke_access_token(
        &state.store,
        &tenant.id,
        &claims.jti,
        Timestamp::from_unix_millis(claims.exp.saturating_mul(1000)),
        Reason::ClientRequest,
        now,
    )
    .await?;
    let reason = Reason::ClientRequest.as_str();
    state.metrics.revoked(tenant.slug.as_str(), reason);
    Ok("access token revoked")
}
