//! ID tokens (OIDC Core §2, §3.1.3.6) with `typ: JWT`, signed with the application's
//! `id_token_signed_response_alg`: RS256 unless it chose ES256 or EdDSA.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_core::jose::SigningAlgorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::error::OAuthError;
use crate::keys::TenantKeys;

pub const TYP: &str = "JWT";

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
    /// Native SSO §3.4.1: binds the ID token to the device secret issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_hash: Option<String>,
}

/// Signs with the tenant's active key of `algorithm`, the application's
/// `id_token_signed_response_alg`; `claims.at_hash` must be [`at_hash`] of that algorithm.
pub fn sign(
    keys: &TenantKeys,
    algorithm: SigningAlgorithm,
    claims: &Claims,
) -> Result<String, OAuthError> {
    keys.signer(algorithm)?
        .sign(TYP, claims)
        .map_err(OAuthError::server)
}

/// OIDC Core §3.1.3.6: the [`left_half_hash`] of the access token.
pub fn at_hash(algorithm: SigningAlgorithm, access_token: &str) -> String {
    left_half_hash(algorithm, access_token)
}

/// Native SSO §3.4.1 leaves the function to the server; ours is the one of `at_hash`,
/// the [`left_half_hash`] of the device secret, so that a client that checks `at_hash`
/// can check `ds_hash` the same way.
pub fn ds_hash(algorithm: SigningAlgorithm, device_secret: &str) -> String {
    left_half_hash(algorithm, device_secret)
}

/// The base64url of the left half of the hash of `value`, with the hash the ID token's
/// `alg` uses: SHA-256 for RS256 and ES256, SHA-512 for EdDSA on Ed25519 (the hash
/// inside Ed25519, RFC 8032 §5.1). Core names no hash for EdDSA; SHA-512 is the OpenID
/// Connect working group's consensus (openid/connect issue 1125) and what relying
/// parties check, the `openidconnect` crate among them.
pub fn left_half_hash(algorithm: SigningAlgorithm, value: &str) -> String {
    let left_half = |digest: &[u8]| URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
    match algorithm {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => {
            left_half(&Sha256::digest(value.as_bytes()))
        }
        SigningAlgorithm::EdDsa => left_half(&Sha512::digest(value.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_hash_of_the_id_tokens_algorithm() {
        // The access token of OIDC Core 1.0, Appendix A.4 (code id_token token, RS256),
        // whose at_hash is given there; EdDSA's is the left half of its SHA-512
        // (Python's hashlib).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        let cases = [
            (SigningAlgorithm::Rs256, "77QmUPtjPfzWtF2AnpK9RQ"),
            (SigningAlgorithm::Es256, "77QmUPtjPfzWtF2AnpK9RQ"),
            (
                SigningAlgorithm::EdDsa,
                "q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM",
            ),
        ];
        for (alg, expected) in cases {
            assert_eq!(at_hash(alg, token), expected, "{alg}");
        }
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
            ds_hash: None,
        };
        let json = serde_json::to_value(&claims).expect("serializes");
        assert!(json.get("nonce").is_none(), "{json}");
        assert!(json.get("ds_hash").is_none(), "{json}");
        assert_eq!(json["sid"], "sid");
    }
}
