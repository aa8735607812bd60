//! Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): a JWT that tells an
//! application a session ended, signed like its ID tokens (§2.4: "signed ... with the same
//! algorithm as ID tokens") and typed `logout+jwt` (§2.4, RFC 8725 §3.11) so that it
//! cannot pass for an ID token.

use std::collections::BTreeMap;
use std::time::Duration;

use keyhaven_core::Timestamp;
use keyhaven_core::jose::{JoseError, Signer};
use serde::{Deserialize, Serialize};

pub const TYP: &str = "logout+jwt";

/// The one member of `events` (§2.4).
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Short: the token is sent at once, and a receiver should refuse a stale one.
pub const LIFETIME: Duration = Duration::from_secs(120);

/// The claims of §2.4. There is no `nonce`: §2.4 forbids it, so that a logout token can
/// never be replayed as an ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The application's client id.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Random and unique, so a receiver can reject a replay.
    pub jti: String,
    /// The user id, as in the ID tokens of the session.
    pub sub: String,
    /// The ended session, as in the `sid` of its ID tokens.
    pub sid: String,
    /// `{EVENT: {}}`.
    pub events: BTreeMap<String, serde_json::Value>,
}

impl Claims {
    pub fn new(
        issuer: String,
        client_id: String,
        subject: String,
        session_id: String,
        jti: String,
        now: Timestamp,
    ) -> Self {
        let iat = now.unix_seconds();
        Self {
            iss: issuer,
            aud: client_id,
            iat,
            exp: now.saturating_add(LIFETIME).unix_seconds(),
            jti,
            sub: subject,
            sid: session_id,
            events: BTreeMap::from([(EVENT.to_owned(), serde_json::json!({}))]),
        }
    }
}

/// Signs with the tenant's active key of the application's ID token algorithm.
pub fn sign(signer: &Signer, claims: &Claims) -> Result<String, JoseError> {
    signer.sign(TYP, claims)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use keyhaven_core::jose::SigningAlgorithm;

    use super::*;

    /// A throwaway Ed25519 key (PKCS#8), used for nothing but this test.
    const ED_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIDnm6fbDA3yIVUGrkEXfdwgGHsxh9RaRpvkoTvtdvFO9";

    fn part(token: &str, index: usize) -> serde_json::Value {
        let segment = token.split('.').nth(index).expect("three segments");
        let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn a_logout_token_carries_the_claims_of_section_2_4_and_no_nonce() {
        let now = Timestamp::from_unix_millis(1_700_000_000_500);
        let claims = Claims::new(
            "https://id.example.com/t/acme".into(),
            "web-app".into(),
            "user-1".into(),
            "sid-1".into(),
            "jti-1".into(),
            now,
        );
        let pkcs8 = STANDARD.decode(ED_PKCS8).expect("base64");
        let signer = Signer::from_pkcs8("k1", SigningAlgorithm::EdDsa, &pkcs8).expect("key");
        let token = sign(&signer, &claims).expect("signs");

        let header = part(&token, 0);
        assert_eq!(header["typ"], "logout+jwt");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], "k1");
        let body = part(&token, 1);
        assert_eq!(
            body,
            serde_json::json!({
                "iss": "https://id.example.com/t/acme",
                "aud": "web-app",
                "iat": 1_700_000_000,
                "exp": 1_700_000_120,
                "jti": "jti-1",
                "sub": "user-1",
                "sid": "sid-1",
                "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
            })
        );
        assert!(body.get("nonce").is_none());
    }
}
