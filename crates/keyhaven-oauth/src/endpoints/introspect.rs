//! Token introspection (RFC 7662) for authenticated confidential clients of the tenant.
//! A token that is not an active access token of this tenant is `{"active": false}`,
//! whatever the reason, so the answer says nothing about other tenants.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use crate::access_token;
use crate::client_auth::{self, Method};
use crate::error::{self, OAuthError};
use crate::form::Params;
use crate::state::OAuthState;
use crate::tenant;

pub async fn introspect(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
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
        let client =
            client_auth::authenticate(&state.store, &tenant, &headers, &params, now).await?;
        if client.method == Method::None {
            // RFC 7662 §2.1: the endpoint requires authorization; a public client proves nothing.
            return Err(OAuthError::invalid_client(
                "introspection requires client authentication",
                false,
            ));
        }
        let token = params.require("token")?;
        let keys = state.keys.for_tenant(&state.store, &tenant, now).await?;
        let body = match access_token::validate(&keys, &state.issuer(&tenant), token, now) {
            Ok(claims) => json!({
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
            }),
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
