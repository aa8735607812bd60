//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 section 2.3): `client_secret_basic`, `client_secret_post`, and `none` for public
//! clients, which have no secret and prove themselves with PKCE instead.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyhaven_core::model::{Application, Tenant};
use keyhaven_core::{ClientId, SecretDigest, SecretKind, Timestamp};

use crate::error::OAuthError;
use crate::form::Params;
use crate::state::OAuthState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    ClientSecretBasic,
    ClientSecretPost,
    None,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub app: Arc<Application>,
    pub method: Method,
}

/// What the request claims, before anything is looked up.
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: Method,
}

const FAILED: &str = "client authentication failed";

pub async fn authenticate(
    state: &OAuthState,
    tenant: &Tenant,
    headers: &HeaderMap,
    params: &Params,
    now: Timestamp,
) -> Result<Client, OAuthError> {
    let presented = presented(headers, params)?;
    let basic = presented.method == Method::ClientSecretBasic;
    let refuse = |reason: &str| {
        tracing::info!(reason, "client authentication failed");
        OAuthError::invalid_client(FAILED, basic)
    };
    let client_id =
        ClientId::parse(&presented.client_id).map_err(|_| refuse("malformed client_id"))?;
    tracing::Span::current().record("client", client_id.as_str());
    // A client of another tenant is as unknown here as one that never existed.
    let client = state
        .clients
        .find(&state.store, &tenant.id, &client_id, now)
        .await?
        .ok_or_else(|| refuse("unknown client_id in this tenant"))?;
    let app = client.app.clone();
    match (app.app_type.is_confidential(), presented.secret) {
        (true, None) => Err(refuse("confidential client sent no secret")),
        (false, Some(_)) => Err(refuse("public client sent a secret")),
        (false, None) => Ok(Client {
            app,
            method: Method::None,
        }),
        (true, Some(secret)) => {
            let digest = SecretDigest::of_presented(SecretKind::ClientSecret, &secret)
                .map_err(|_| refuse("malformed client secret"))?;
            // Compare against every live secret, without stopping at the first match.
            let matched = client
                .secrets
                .iter()
                .fold(false, |found, d| d.matches(&digest) | found);
            if matched {
                Ok(Client {
                    app,
                    method: presented.method,
                })
            } else {
                Err(refuse("wrong or expired client secret"))
            }
        }
    }
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(credentials) = authorization.and_then(basic_credentials) {
        let (id, secret) = credentials.ok_or_else(|| {
            OAuthError::invalid_client("malformed Basic authorization header", true)
        })?;
        if params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not Basic and client_secret together (RFC 6749 section 2.3)",
            ));
        }
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_client(FAILED, true));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            method: Method::ClientSecretBasic,
        });
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required: send client_id (and client_secret), or HTTP Basic", false))?
        .to_owned();
    match params.get("client_secret") {
        Some(secret) => Ok(Presented {
            client_id,
            secret: Some(secret.to_owned()),
            method: Method::ClientSecretPost,
        }),
        None => Ok(Presented {
            client_id,
            secret: None,
            method: Method::None,
        }),
    }
}

/// `Some(None)` for a Basic header that does not decode; `None` for another scheme.
/// The id and secret are form-urlencoded inside the header (RFC 6749 §2.3.1).
fn basic_credentials(value: &str) -> Option<Option<(String, String)>> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = || -> Option<(String, String)> {
        let bytes = STANDARD.decode(encoded.trim()).ok()?;
        let colon = bytes.iter().position(|&b| b == b':')?;
        Some((
            form_decoded(&bytes[..colon])?,
            form_decoded(&bytes[colon + 1..])?,
        ))
    };
    Some(decode())
}

/// One application/x-www-form-urlencoded value: `+` is a space and `%XX` a byte; the
/// result must be UTF-8.
fn form_decoded(raw: &[u8]) -> Option<String> {
    let spaced: Cow<'_, [u8]> = if raw.contains(&b'+') {
        Cow::Owned(
            raw.iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode(&spaced).into();
    String::from_utf8(decoded.into_owned()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        assert_eq!(
            basic_credentials(&header),
            Some(Some(("my client".into(), "s:cret x".into())))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), Some(None));
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("no-colon"))),
            Some(None)
        );
        // Only the first colon separates: the secret may hold more.
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("id:a:b&c=d"))),
            Some(Some(("id".into(), "a:b&c=d".into())))
        );
        // A value that decodes to bytes that are not UTF-8 is malformed, not mangled.
        assert_eq!(
            basic_credentials(&format!("Basic {}", STANDARD.encode("id:%FF"))),
            Some(None)
        );
        assert_eq!(basic_credentials("basic  "), Some(None));
    }
}
