//! The token endpoint (RFC 6749 §3.2): authenticate the client, then hand the request to
//! the grant named by `grant_type`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::client_auth;
use crate::error::{self, ErrorCode, OAuthError};
use crate::form::{Params, Posted};
use crate::grants;
use crate::request_headers;
use crate::state::OAuthState;
use crate::tenant;

pub async fn token(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Posted { headers, body }: Posted,
) -> Result<Response, OAuthError> {
    let span = tracing::info_span!(
        "token",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty,
        grant = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let params = Params::parse(&headers, &body)?;
        let grant_type = params.require("grant_type")?;
        tracing::Span::current().record("grant", grant_type);
        let client =
            client_auth::authenticate(&state, &tenant, &headers, &params, state.now()).await?;
        let body = match grant_type {
            "authorization_code" => {
                // Binds the tokens of this sign-in to the device, for a sign-out from it.
                let device_id = request_headers::device_id(&headers)
                    .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
                grants::authorization_code::grant(&state, &tenant, &client, &params, device_id)
                    .await?
            }
            "refresh_token" => {
                grants::refresh_token::grant(&state, &tenant, &client, &params).await?
            }
            "client_credentials" => {
                grants::client_credentials::grant(&state, &tenant, &client, &params).await?
            }
            "urn:ietf:params:oauth:grant-type:token-exchange" => {
                grants::token_exchange::grant(&state, &tenant, &client, &params).await?
            }
            other => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type {other} is not supported by this server"),
                ));
            }
        };
        tracing::info!("token issued");
        // Only the grant types above get here: the label set stays the four of them.
        let grant = match grant_type {
            "authorization_code" => "authorization_code",
            "refresh_token" => "refresh_token",
            "client_credentials" => "client_credentials",
            _ => "token_exchange",
        };
        state.metrics.token_issued(tenant.slug.as_str(), grant);
        let mut response = Json(body).into_response();
        error::no_store(&mut response);
        Ok(response)
    }
    .instrument(span)
    .await
}
