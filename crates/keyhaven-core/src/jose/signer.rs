use std::fmt;

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{JoseError, PublicJwk, SigningAlgorithm, pkcs8};

/// A private signing key, checked once and then used for many tokens.
pub struct Signer {
    kid: String,
    alg: SigningAlgorithm,
    key: EncodingKey,
}

impl Signer {
    /// Takes an unencrypted PKCS#8 key of `alg` (what keyhaven-admin generates and seals).
    /// jsonwebtoken parses key bytes only when it signs, so one signature is made here: a
    /// key that cannot sign fails now, once, rather than at every token.
    pub fn from_pkcs8(
        kid: &str,
        alg: SigningAlgorithm,
        pkcs8_der: &[u8],
    ) -> Result<Signer, JoseError> {
        let private_key = pkcs8::private_key(alg, pkcs8_der)?;
        let key = match alg {
            // jsonwebtoken's RSA signer reads the PKCS#1 RSAPrivateKey, which PKCS#8 wraps.
            SigningAlgorithm::Rs256 => EncodingKey::from_rsa_der(private_key),
            SigningAlgorithm::Es256 => EncodingKey::from_ec_der(pkcs8_der),
            SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(pkcs8_der),
        };
        let signer = Signer {
            kid: kid.to_owned(),
            alg,
            key,
        };
        signer
            .sign("JWT", &serde_json::Map::new())
            .map_err(|e| JoseError::InvalidPrivateKey(alg, e.to_string()))?;
        Ok(signer)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The JWS compact serialization of `claims` with the protected header
    /// `{"alg", "kid", "typ"}` (RFC 7515 §7.1); `typ` is `at+jwt` for access tokens
    /// (RFC 9068 §2.1) and `JWT` for ID tokens.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, JoseError> {
        let mut header = Header::new(self.alg.jwt());
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| JoseError::Signing(e.to_string()))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A public key that checks signatures of one algorithm.
#[derive(Clone)]
pub struct Verifier {
    kid: String,
    alg: SigningAlgorithm,
    key: DecodingKey,
    validation: Validation,
}

/// What a verified token says: its header's `typ` and `kid`, and its claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<T> {
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub claims: T,
}

impl Verifier {
    pub fn from_jwk(jwk: &PublicJwk) -> Result<Verifier, JoseError> {
        let member = |name: &str, value: &Option<String>| {
            value
                .clone()
                .ok_or_else(|| JoseError::InvalidJwk(format!("{name} is required")))
        };
        let key = match jwk.alg {
            SigningAlgorithm::Rs256 => {
                DecodingKey::from_rsa_components(&member("n", &jwk.n)?, &member("e", &jwk.e)?)
            }
            SigningAlgorithm::Es256 => {
                DecodingKey::from_ec_components(&member("x", &jwk.x)?, &member("y", &jwk.y)?)
            }
            SigningAlgorithm::EdDsa => DecodingKey::from_ed_components(&member("x", &jwk.x)?),
        }
        .map_err(|e| JoseError::InvalidJwk(e.to_string()))?;
        // The signature and its algorithm only: expiry, audience and issuer are protocol
        // rules that callers apply with their own clock.
        let mut validation = Validation::new(jwk.alg.jwt());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Ok(Verifier {
            kid: jwk.kid.clone(),
            alg: jwk.alg,
            key,
            validation,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The claims of `token` if this key signed it with its algorithm. Does not look at
    /// `typ`: use [`Verifier::verify_with_header`] where the token type matters.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, JoseError> {
        self.verify_with_header(token).map(|v| v.claims)
    }

    /// Like [`Verifier::verify`], with the header's `typ` and `kid`, so that a caller can
    /// refuse an ID token presented as an access token (RFC 9068 §4).
    pub fn verify_with_header<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<T>, JoseError> {
        let data = jsonwebtoken::decode::<T>(token, &self.key, &self.validation)
            .map_err(JoseError::from_verification)?;
        Ok(Verified {
            typ: data.header.typ,
            kid: data.header.kid,
            claims: data.claims,
        })
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The `kid` of a token's header, read without verifying anything, to pick the
/// [`Verifier`].
pub fn peek_kid(token: &str) -> Result<Option<String>, JoseError> {
    jsonwebtoken::decode_header(token)
        .map(|header| header.kid)
        .map_err(|e| JoseError::Malformed(e.to_string()))
}
