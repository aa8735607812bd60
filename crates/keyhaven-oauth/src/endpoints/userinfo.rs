//! The UserInfo endpoint (OIDC Core §5.3): GET or POST with a Bearer access token of this
//! tenant (RFC 6750 §2.1 header, or §2.2 form body, never both), answered with the
//! claims its scopes allow (OIDC Core §5.4): `sub` always, `profile` for the names,
//! `email` for the address.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use keyhaven_core::ScopeSet;
use keyhaven_core::model::User;
use keyhaven_store::{revocations, users};
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::access_token;
use crate::error::{self, BearerError};
use crate::form::Posted;
use crate::request_headers;
use crate::state::OAuthState;
use crate::tenant;

pub async fn userinfo(
    State(state): State<OAuthState>,
    Path(slug): Path<String>,
    Posted { headers, body }: Posted,
) -> Result<Response, BearerError> {
    let span = tracing::info_span!(
        "userinfo",
        tenant = tracing::field::Empty,
        client = tracing::field::Empty
    );
    async move {
        let tenant = tenant::resolve(&state, &slug).await?;
        let token = presented_token(&headers, &body)?;
        let now = state.now();
        let keys = tenant.keys(&state.store, now).await?;
        let claims =
            access_token::validate(&keys, &state.issuer(&tenant), &token, now).map_err(|why| {
                tracing::info!(reason = %why, "inactive token at userinfo");
                BearerError::InvalidToken("the access token is invalid or expired")
            })?;
        tracing::Span::current().record("client", claims.client_id.as_str());
        if revocations::is_revoked(&state.store, &tenant.id, &claims.jti, claims.sid.as_deref())
            .await?
        {
            tracing::info!("revoked access token at userinfo");
            return Err(BearerError::InvalidToken(
                "the access token is invalid or expired",
            ));
        }
        let scope = claims
            .scope
            .as_deref()
            .map(ScopeSet::parse_delimited)
            .transpose()
            .map_err(|_| BearerError::InvalidToken("the access token is malformed"))?
            .unwrap_or_default();
        if !scope.contains("openid") {
            return Err(BearerError::InsufficientScope("openid"));
        }
        // Only user tokens carry a session; a client's own token names no user.
        if claims.sid.is_none() {
            return Err(BearerError::InvalidToken(
                "the access token was not issued to a user",
            ));
        }
        let user = users::get(&state.store, &tenant.id, &claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(BearerError::InvalidToken(
                "the user of this access token can no longer sign in",
            ))?;
        let mut response = Json(user_claims(&user, &scope)).into_response();
        error::no_store(&mut response);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The token from the `Authorization` header (scheme case-insensitive) or the form body.
fn presented_token(headers: &HeaderMap, body: &[u8]) -> Result<String, BearerError> {
    let from_header = request_headers::bearer_token(headers);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut from_body = None;
    if is_form {
        for (key, value) in url::form_urlencoded::parse(body) {
            if key == "access_token" {
                if from_body.is_some() {
                    return Err(BearerError::InvalidRequest("access_token is repeated"));
                }
                from_body = Some(value.into_owned());
            }
        }
    }
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest(
            "send the access token once: in the header or in the body",
        )),
        (Some(token), None) | (None, Some(token)) => Ok(token),
        (None, None) => Err(BearerError::Missing),
    }
}

fn user_claims(user: &User, scope: &ScopeSet) -> Value {
    let mut claims = Map::new();
    claims.insert("sub".into(), user.id.clone().into());
    if scope.contains("profile") {
        claims.insert("preferred_username".into(), user.username.as_str().into());
        if !user.given_name.is_empty() {
            claims.insert("given_name".into(), user.given_name.clone().into());
        }
        if !user.family_name.is_empty() {
            claims.insert("family_name".into(), user.family_name.clone().into());
        }
    }
    if scope.contains("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), email.as_str().into());
    }
    Value::Object(claims)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(k.clone(), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_body_but_not_both() {
        let form = (header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        assert_eq!(
            presented_token(&headers(&[(header::AUTHORIZATION, "Bearer abc")]), b""),
            Ok("abc".into())
        );
        assert_eq!(
            presented_token(&headers(&[(header::AUTHORIZATION, "bEaReR abc")]), b""),
            Ok("abc".into())
        );
        assert_eq!(
            presented_token(&headers(std::slice::from_ref(&form)), b"access_token=abc"),
            Ok("abc".into())
        );
        assert_eq!(
            presented_token(&headers(&[]), b""),
            Err(BearerError::Missing)
        );
        assert!(matches!(
            presented_token(
                &headers(&[(header::AUTHORIZATION, "Bearer abc"), form.clone()]),
                b"access_token=abc"
            ),
            Err(BearerError::InvalidRequest(_))
        ));
        assert_eq!(
            presented_token(&headers(&[(header::AUTHORIZATION, "Basic abc")]), b""),
            Err(BearerError::Missing)
        );
        // Not a form: the body is not read.
        assert_eq!(
            presented_token(&headers(&[]), b"access_token=abc"),
            Err(BearerError::Missing)
        );
    }
}
