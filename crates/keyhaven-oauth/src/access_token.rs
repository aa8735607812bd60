//! Access tokens: JWTs in the profile of RFC 9068 (`typ: at+jwt`), signed with ES256 by
//! default. They are self-contained, so issuing one for client_credentials writes nothing.

use keyhaven_core::Timestamp;
use keyhaven_core::jose::{self, SigningAlgorithm};
use serde::{Deserialize, Serialize};

use crate::error::OAuthError;
use crate::keys::TenantKeys;

pub const TYP: &str = "at+jwt";
/// ES256 costs a twentieth of RS256 per signature (design: speed is the signature).
pub const DEFAULT_ALGORITHM: SigningAlgorithm = SigningAlgorithm::Es256;

/// RFC 9068 §2.2 claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

pub fn sign(keys: &TenantKeys, claims: &Claims) -> Result<String, OAuthError> {
    keys.signer(DEFAULT_ALGORITHM)?
        .sign(TYP, claims)
        .map_err(OAuthError::server)
}

/// Why a presented token is not an active access token of this tenant.
#[derive(Debug, thiserror::Error)]
pub enum Inactive {
    #[error("not a JWT signed by a key of this tenant")]
    UnknownKey,
    #[error("bad signature or malformed token")]
    Invalid,
    #[error("a JWT of another type (typ is not at+jwt)")]
    NotAnAccessToken,
    #[error("issued by another issuer")]
    Issuer,
    #[error("expired")]
    Expired,
}

/// Verifies a token as this tenant's access token at `now`.
pub fn validate(
    keys: &TenantKeys,
    issuer: &str,
    token: &str,
    now: Timestamp,
) -> Result<Claims, Inactive> {
    let claims = validate_ignoring_expiry(keys, issuer, token)?;
    if claims.exp <= now.unix_seconds() {
        return Err(Inactive::Expired);
    }
    Ok(claims)
}

/// Verifies a token as this tenant's access token, expired or not: the sign-out API
/// accepts an expired token (design.md §4.5), since signing out must not need a refresh.
pub fn validate_ignoring_expiry(
    keys: &TenantKeys,
    issuer: &str,
    token: &str,
) -> Result<Claims, Inactive> {
    let kid = jose::peek_kid(token)
        .map_err(|_| Inactive::Invalid)?
        .ok_or(Inactive::UnknownKey)?;
    let verifier = keys.verifier(&kid).ok_or(Inactive::UnknownKey)?;
    let verified = verifier
        .verify_with_header::<Claims>(token)
        .map_err(|_| Inactive::Invalid)?;
    // RFC 9068 §4: an ID token (or any other JWT of the tenant) is not an access token.
    if verified.typ.as_deref() != Some(TYP) {
        return Err(Inactive::NotAnAccessToken);
    }
    let claims = verified.claims;
    if claims.iss != issuer {
        return Err(Inactive::Issuer);
    }
    Ok(claims)
}
