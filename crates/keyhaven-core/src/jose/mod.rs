//! JOSE: the JSON Web Signatures Keyhaven issues (RFC 7515, compact serialization) and
//! the public JSON Web Keys it publishes (RFC 7517), over `jsonwebtoken` with its
//! aws-lc-rs backend.
//!
//! Keys are handed in as bytes: generating them needs the operating system's random
//! generator, which this crate does not touch (keyhaven-admin generates them).

mod algorithm;
mod jwk;
mod pkcs8;
mod signer;

pub use algorithm::SigningAlgorithm;
pub use jwk::PublicJwk;
pub use signer::{Signer, Verified, Verifier, peek_kid};

/// Why a key, a JWK or a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("the private key is not an unencrypted PKCS#8 {0} key: {1}")]
    InvalidPrivateKey(SigningAlgorithm, String),
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    #[error("the token is not a well-formed JWS in compact serialization: {0}")]
    Malformed(String),
    #[error("the token's alg is not the verifying key's algorithm")]
    WrongAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's claims do not have the expected shape: {0}")]
    Claims(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

impl JoseError {
    /// Sorts a `jsonwebtoken` failure of decoding or verifying a token.
    fn from_verification(err: jsonwebtoken::errors::Error) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match err.kind() {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => Self::WrongAlgorithm,
            ErrorKind::Json(e) if e.is_data() => Self::Claims(e.to_string()),
            ErrorKind::InvalidClaimFormat(claim) => Self::Claims(format!("{claim} is malformed")),
            _ => Self::Malformed(err.to_string()),
        }
    }
}

#[cfg(test)]
mod test_keys;

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde::{Deserialize, Serialize};

    use super::test_keys::*;
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn claims() -> Claims {
        // Long expired: verification leaves expiry to the caller.
        Claims {
            sub: "alice".into(),
            exp: 1,
        }
    }

    fn jwk(alg: SigningAlgorithm, kid: &str, a: &str, b: Option<&str>) -> PublicJwk {
        let mut json = serde_json::json!({
            "kty": alg.key_type(), "alg": alg.as_str(), "kid": kid, "use": "sig",
        });
        match alg {
            SigningAlgorithm::Rs256 => {
                json["n"] = a.into();
                json["e"] = "AQAB".into();
            }
            SigningAlgorithm::Es256 => {
                json["crv"] = "P-256".into();
                json["x"] = a.into();
                json["y"] = b.unwrap_or_default().into();
            }
            SigningAlgorithm::EdDsa => {
                json["crv"] = "Ed25519".into();
                json["x"] = a.into();
            }
        }
        PublicJwk::from_json(&json).expect("fixture JWK parses")
    }

    /// (algorithm, PKCS#8 key, its public JWK, the JWK of another key of that algorithm)
    fn keys() -> Vec<(SigningAlgorithm, Vec<u8>, PublicJwk, PublicJwk)> {
        use SigningAlgorithm::*;
        let der = |b64: &str| STANDARD.decode(b64).expect("fixture base64");
        vec![
            (
                Rs256,
                der(RSA_PKCS8),
                jwk(Rs256, "rsa-1", RSA_N, None),
                jwk(Rs256, "rsa-2", OTHER_RSA_N, None),
            ),
            (
                Es256,
                der(EC_PKCS8),
                jwk(Es256, "ec-1", EC_X, Some(EC_Y)),
                jwk(Es256, "ec-2", OTHER_EC_X, Some(OTHER_EC_Y)),
            ),
            (
                EdDsa,
                der(ED_PKCS8),
                jwk(EdDsa, "ed-1", ED_X, None),
                jwk(EdDsa, "ed-2", OTHER_ED_X, None),
            ),
        ]
    }

    fn header(token: &str) -> serde_json::Value {
        let encoded = token.split('.').next().expect("header part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url"))
            .expect("JSON header")
    }

    #[test]
    fn a_token_signed_with_each_algorithm_verifies_with_its_public_jwk() {
        for (alg, pkcs8, public, _) in keys() {
            let signer = Signer::from_pkcs8(&public.kid, alg, &pkcs8).expect("signer");
            assert_eq!(
                (signer.kid(), signer.algorithm()),
                (public.kid.as_str(), alg)
            );
            let token = signer.sign("at+jwt", &claims()).expect("signed");
            assert_eq!(
                header(&token),
                serde_json::json!({"alg": alg.as_str(), "kid": public.kid, "typ": "at+jwt"}),
                "{alg}"
            );
            assert_eq!(peek_kid(&token), Ok(Some(public.kid.clone())));
            let verifier = Verifier::from_jwk(&public).expect("verifier");
            assert_eq!(verifier.verify::<Claims>(&token), Ok(claims()), "{alg}");
            let verified = verifier
                .verify_with_header::<Claims>(&token)
                .expect("verified");
            assert_eq!(verified.typ.as_deref(), Some("at+jwt"));
            assert_eq!(verified.kid.as_deref(), Some(public.kid.as_str()));
        }
    }

    #[test]
    fn wrong_keys_other_algorithms_and_tampered_tokens_are_refused() {
        let keys = keys();
        for (alg, pkcs8, public, other) in &keys {
            let signer = Signer::from_pkcs8("k", *alg, pkcs8).expect("signer");
            let token = signer.sign("JWT", &claims()).expect("signed");
            let refused = |verifier: &Verifier, token: &str| verifier.verify::<Claims>(token);

            let other_key = Verifier::from_jwk(other).expect("verifier");
            assert_eq!(
                refused(&other_key, &token),
                Err(JoseError::BadSignature),
                "{alg}"
            );
            for (other_alg, _, other_public, _) in keys.iter().filter(|k| k.0 != *alg) {
                let verifier = Verifier::from_jwk(other_public).expect("verifier");
                assert_eq!(
                    refused(&verifier, &token),
                    Err(JoseError::WrongAlgorithm),
                    "{alg} token checked as {other_alg}"
                );
            }

            let right = Verifier::from_jwk(public).expect("verifier");
            let parts: Vec<&str> = token.split('.').collect();
            let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":1}"#);
            let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#);
            let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k"}"#);
            let mut flipped = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
            flipped[0] ^= 1;
            let tampered = [
                format!("{}.{forged_claims}.{}", parts[0], parts[2]),
                format!(
                    "{}.{}.{}",
                    parts[0],
                    parts[1],
                    URL_SAFE_NO_PAD.encode(flipped)
                ),
                format!("{}.{}.", parts[0], parts[1]),
                format!("{none_header}.{}.", parts[1]),
                format!("{hs_header}.{}.{}", parts[1], parts[2]),
                format!("{}.{}", parts[0], parts[1]),
                "not a token".to_owned(),
            ];
            for bad in tampered {
                assert!(refused(&right, &bad).is_err(), "{alg}: {bad}");
            }
            assert!(
                matches!(
                    right.verify::<Vec<String>>(&token),
                    Err(JoseError::Claims(_))
                ),
                "claims of the wrong shape are an error, not a panic"
            );
        }
    }

    #[test]
    fn keys_that_are_not_pkcs8_of_the_named_algorithm_make_no_signer() {
        let keys = keys();
        for (alg, pkcs8, _, _) in &keys {
            for (other_alg, _, _, _) in keys.iter().filter(|k| k.0 != *alg) {
                assert!(
                    matches!(
                        Signer::from_pkcs8("k", *other_alg, pkcs8),
                        Err(JoseError::InvalidPrivateKey(..))
                    ),
                    "{alg} key as {other_alg}"
                );
            }
            let mut not_der = pkcs8.clone();
            not_der[0] = 0x31;
            assert!(Signer::from_pkcs8("k", *alg, &not_der).is_err(), "{alg}");
            if *alg != SigningAlgorithm::EdDsa {
                // Any 32 bytes are an Ed25519 seed; RSA and EC keys have checkable parts.
                let mut inconsistent = pkcs8.clone();
                let last = inconsistent.len() - 1;
                inconsistent[last] ^= 0x01;
                assert!(
                    Signer::from_pkcs8("k", *alg, &inconsistent).is_err(),
                    "{alg}"
                );
            }
            assert!(Signer::from_pkcs8("k", *alg, &pkcs8[..pkcs8.len() / 2]).is_err());
        }
        assert!(peek_kid("a.b").is_err());
    }
}
