//! ID tokens (OIDC Core §2, §3.1.3.6): signed RS256, the algorithm every relying party
//! supports and OIDC Discovery requires, with `typ: JWT`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_core::jose::SigningAlgorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::OAuthError;
use crate::keys::TenantKeys;

pub const TYP: &str = "JWT";
pub const ALGORITHM: SigningAlgorithm = SigningAlgorithm::Rs256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user's id: stable, unique in the tenant, never reassigned.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub sid: String,
    pub at_hash: String,
}

pub fn sign(keys: &TenantKeys, claims: &Claims) -> Result<String, OAuthError> {
    keys.signer(ALGORITHM)?
        .sign(TYP, claims)
        .map_err(OAuthError::server)
}

/// OIDC Core §3.1.3.6: the base64url of the left half of the SHA-256 of the access token
/// (SHA-256 being the hash of RS256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_openid_connect_core_example() {
        // OIDC Core 1.0, Appendix A.4 (code id_token token, RS256).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn nonce_is_left_out_when_none_was_sent() {
        let claims = Claims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp: 2,
            iat: 1,
            auth_time: 1,
            nonce: None,
            sid: "sid".into(),
            at_hash: "h".into(),
        };
        let json = serde_json::to_value(&claims).expect("serializes");
        assert!(json.get("nonce").is_none(), "{json}");
        assert_eq!(json["sid"], "sid");
    }
}
