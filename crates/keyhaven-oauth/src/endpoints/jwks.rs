//! The tenant's JWK Set (RFC 7517 §5): every published key, including the next one
//! (before it signs) and retired ones (until what they signed has expired).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::OAuthError;
use crate::state::OAuthState;
use crate::tenant;

/// Shorter than the time a next key is published before it is activated by a rotation.
const MAX_AGE: &str = "public, max-age=300";

pub async fn jwks(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
) -> Result<Response, OAuthError> {
    let tenant = tenant::resolve(&state, &slug).await?;
    let keys = tenant.keys(&state.store, state.now()).await?;
    let json = HeaderValue::from_static("application/json");
    let mut response = ([(header::CONTENT_TYPE, json)], keys.jwks.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(MAX_AGE));
    Ok(response)
}
