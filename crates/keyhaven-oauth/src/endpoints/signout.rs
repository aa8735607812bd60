//! The sign-out API (design.md §4.5): `POST {issuer}/auth/v1/user/signout` with
//! `Authorization: Bearer <access token>` (RFC 6750 §2.1; never a cookie, so no other
//! site can make a browser call it), an optional `x-device-id` header and an optional
//! JSON body `{"redirect_uri", "state"}`.
//!
//! Without a device id it ends the token's session: its refresh tokens are revoked and
//! every access token carrying its `sid` is refused at once, on every replica. With one,
//! it revokes only the session's refresh tokens bound to that device at sign-in (and
//! their access tokens); the session and the other devices stay signed in. Either way the
//! presented access token is revoked.
//!
//! The answer is `200 {"redirect_uri": "<uri>?state=<state>"}` when the body named a
//! registered post-logout URI of the token's client, and `200 {}` otherwise. An expired
//! token still signs out (signing out must not need a refresh first), and a retry gets
//! the same 200: a token revoked by an earlier sign-out is accepted again, one revoked
//! for any other reason is not.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use keyhaven_core::authorize::MAX_VALUE_LEN;
use keyhaven_core::model::Tenant;
use keyhaven_core::post_logout::PostLogoutRedirect;
use keyhaven_core::{ClientId, DeviceId, Timestamp};
use keyhaven_store::revocations::{self, Reason};
use keyhaven_store::{refresh_tokens, sessions};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use crate::access_token::{self, Claims};
use crate::cache::CachedTenant;
use crate::error::{self, SignOutError};
use crate::form::Posted;
use crate::request_headers;
use crate::state::OAuthState;
use crate::tenant;

const INVALID_TOKEN: &str = "the access token is invalid or was revoked";

pub async fn signout(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Posted { headers, body }: Posted,
) -> Result<Response, SignOutError> {
    let span = tracing::info_span!(
        "signout",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty,
        device = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let now = state.now();
        let (claims, sid) = authenticate(&state, &tenant, &headers, now).await?;
        let device = request_headers::device_id(&headers)
            .map_err(|e| SignOutError::InvalidArgument(e.to_string()))?;
        let request = SignOutRequest::parse(&body)?;
        let redirect = match &request.redirect_uri {
            Some(uri) => Some(post_logout_target(&state, &tenant, &claims, uri).await?),
            None => None,
        };

        sign_out(&state, &tenant, &claims, &sid, device.as_ref(), now).await?;

        let body = match redirect {
            Some(target) => json!({ "redirect_uri": target.with_state(request.state.as_deref()) }),
            None => json!({}),
        };
        let mut response = Json(body).into_response();
        error::no_store(&mut response);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The presented token, if it is a user's access token of this tenant, expired or not,
/// and not revoked by anything but an earlier sign-out. Returns it with its `sid`.
async fn authenticate(
    state: &OAuthState,
    tenant: &CachedTenant,
    headers: &HeaderMap,
    now: Timestamp,
) -> Result<(Claims, String), SignOutError> {
    let token = request_headers::bearer_token(headers).ok_or(SignOutError::MissingToken)?;
    let keys = tenant.keys(&state.store, now).await?;
    let claims = access_token::validate_ignoring_expiry(&keys, &state.issuer(tenant), &token)
        .map_err(|why| {
            tracing::info!(reason = %why, "inactive token at sign-out");
            SignOutError::InvalidToken(INVALID_TOKEN)
        })?;
    tracing::Span::current().record("client", claims.client_id.as_str());
    // A client's own token (client_credentials) carries no sid: there is no user to sign out.
    let sid = claims.sid.clone().ok_or(SignOutError::InvalidToken(
        "the access token was not issued to a user: it names no session to sign out of",
    ))?;
    if revocations::is_revoked_other_than(
        &state.store,
        &tenant.id,
        &claims.jti,
        Some(&sid),
        Reason::SignOut,
    )
    .await?
    {
        tracing::info!("revoked access token at sign-out");
        return Err(SignOutError::InvalidToken(INVALID_TOKEN));
    }
    Ok((claims, sid))
}

/// The optional JSON body. No body, or an empty one, asks for no redirect.
#[derive(Debug, Default, Deserialize)]
struct SignOutRequest {
    #[serde(default)]
    redirect_uri: Option<String>,
    /// Echoed to `redirect_uri`; ignored without one, as OIDC RP-Initiated Logout §3 does.
    #[serde(default)]
    state: Option<String>,
}

impl SignOutRequest {
    fn parse(body: &[u8]) -> Result<Self, SignOutError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let invalid = || {
            SignOutError::InvalidArgument(
                "the body must be a JSON object with optional string members redirect_uri and state"
                    .into(),
            )
        };
        // Through Value first: serde would also read a struct from a JSON array.
        let object = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(invalid)?;
        let mut request: Self = serde_json::from_value(object).map_err(|_| invalid())?;
        // An empty value is an absent one, as for OAuth parameters (RFC 6749 §3.1).
        request.redirect_uri = request.redirect_uri.filter(|v| !v.is_empty());
        request.state = request.state.filter(|v| !v.is_empty());
        if request
            .state
            .as_ref()
            .is_some_and(|s| s.len() > MAX_VALUE_LEN)
        {
            return Err(SignOutError::InvalidArgument(format!(
                "state must be at most {MAX_VALUE_LEN} bytes long"
            )));
        }
        Ok(request)
    }
}

/// design.md §4.5: a registered, enabled `post_logout` URI of the token's client.
async fn post_logout_target(
    state: &OAuthState,
    tenant: &Tenant,
    claims: &Claims,
    presented: &str,
) -> Result<PostLogoutRedirect, SignOutError> {
    let not_registered = || {
        SignOutError::InvalidArgument(
            "redirect_uri is not a registered post_logout URI of this client (URIs are compared as exact strings)"
                .into(),
        )
    };
    let client_id = ClientId::parse(&claims.client_id).map_err(|_| not_registered())?;
    let Some(client) = state
        .clients
        .find(&state.store, &tenant.id, &client_id, state.now())
        .await?
    else {
        return Err(not_registered());
    };
    PostLogoutRedirect::resolve(
        client.app.environments,
        tenant.environments,
        &client.redirect_uris,
        presented,
    )
    .map_err(|e| SignOutError::InvalidArgument(e.to_string()))
}

/// Revokes what the sign-out covers. Every step is idempotent, so a retry after a
/// failure completes what the failed call began.
async fn sign_out(
    state: &OAuthState,
    tenant: &Tenant,
    claims: &Claims,
    sid: &str,
    device: Option<&DeviceId>,
    now: Timestamp,
) -> Result<(), SignOutError> {
    match device {
        None => {
            let ended = sessions::end(&state.store, &tenant.id, sid, Reason::SignOut, now).await?;
            tracing::info!(
                ended_now = ended.as_ref().is_some_and(|e| e.ended_now),
                refresh_tokens_revoked = ended.as_ref().map_or(0, |e| e.refresh_tokens),
                "signed out of the session"
            );
        }
        Some(device) => {
            tracing::Span::current().record("device", device.as_str());
            let revoked = refresh_tokens::revoke_device(
                &state.store,
                &tenant.id,
                sid,
                device.as_str(),
                Reason::SignOut,
                now,
            )
            .await?;
            tracing::info!(refresh_tokens_revoked = revoked, "signed out of one device");
        }
    }
    // Covered by the session's revocation when there was a session to end; recorded on
    // its own too, since a device sign-out leaves the session, and a session already
    // swept from the store has no revocation to cover it.
    revocations::revoke_access_token(
        &state.store,
        &tenant.id,
        &claims.jti,
        Timestamp::from_unix_millis(claims.exp.saturating_mul(1000)),
        Reason::SignOut,
        now,
    )
    .await?;
    let reason = Reason::SignOut.as_str();
    state.metrics.revoked(tenant.slug.as_str(), reason);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_optional_json_with_a_redirect_uri_and_a_state() {
        let parsed =
            |body: &str| SignOutRequest::parse(body.as_bytes()).map(|r| (r.redirect_uri, r.state));
        assert_eq!(parsed(""), Ok((None, None)));
        assert_eq!(parsed(" \n"), Ok((None, None)));
        assert_eq!(parsed("{}"), Ok((None, None)));
        assert_eq!(
            parsed(r#"{"redirect_uri":"https://a.example/bye","state":"s"}"#),
            Ok((Some("https://a.example/bye".into()), Some("s".into())))
        );
        assert_eq!(
            parsed(r#"{"redirect_uri":"","state":""}"#),
            Ok((None, None))
        );
        for bad in ["{", "[]", "null", r#"{"redirect_uri":3}"#, "redirect_uri=x"] {
            assert!(
                matches!(parsed(bad), Err(SignOutError::InvalidArgument(_))),
                "{bad}"
            );
        }
        let long_state = format!(r#"{{"state":"{}"}}"#, "s".repeat(MAX_VALUE_LEN + 1));
        assert!(matches!(
            parsed(&long_state),
            Err(SignOutError::InvalidArgument(_))
        ));
    }
}
