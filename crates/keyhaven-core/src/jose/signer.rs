use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{JoseError, PublicJwk, SigningAlgorithm, pkcs8};

/// A private signing key, parsed and checked once and then used for many tokens.
///
/// It signs with the parsed key pair itself rather than through jsonwebtoken, whose
/// `encode` parses the key bytes again for every signature: for ES256 that parse (which
/// checks the public point against the private scalar) cost a third of each signature.
pub struct Signer {
    kid: String,
    key: KeyPair,
}

enum KeyPair {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// The protected header of every token Keyhaven signs (RFC 7515 §4.1).
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'a str,
}

impl Signer {
    /// Takes an unencrypted PKCS#8 key of `alg` (what keyhaven-admin generates and seals).
    pub fn from_pkcs8(
        kid: &str,
        alg: SigningAlgorithm,
        pkcs8_der: &[u8],
    ) -> Result<Signer, JoseError> {
        // Names the algorithm a key of another kind was made for, which aws-lc does not.
        pkcs8::private_key(alg, pkcs8_der)?;
        let rejected =
            |e: aws_lc_rs::error::KeyRejected| JoseError::InvalidPrivateKey(alg, e.to_string());
        let key = match alg {
            SigningAlgorithm::Rs256 => {
                KeyPair::Rs256(RsaKeyPair::from_pkcs8(pkcs8_der).map_err(rejected)?)
            }
            SigningAlgorithm::Es256 => KeyPair::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
                    .map_err(rejected)?,
            ),
            SigningAlgorithm::EdDsa => {
                KeyPair::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(rejected)?)
            }
        };
        Ok(Signer {
            kid: kid.to_owned(),
            key,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        match self.key {
            KeyPair::Rs256(_) => SigningAlgorithm::Rs256,
            KeyPair::Es256(_) => SigningAlgorithm::Es256,
            KeyPair::EdDsa(_) => SigningAlgorithm::EdDsa,
        }
    }

    /// The JWS compact serialization of `claims` with the protected header
    /// `{"alg", "kid", "typ"}` (RFC 7515 §7.1); `typ` is `at+jwt` for access tokens
    /// (RFC 9068 §2.1) and `JWT` for ID tokens.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, JoseError> {
        let header = serde_json::to_vec(&Header {
            alg: self.algorithm().as_str(),
            kid: &self.kid,
            typ,
        })
        .map_err(|e| JoseError::Signing(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| JoseError::Signing(e.to_string()))?;
        // Base64url makes 4 characters of every 3 bytes; an RSA-2048 signature is 256 bytes.
        let mut token = String::with_capacity((header.len() + claims.len() + 256) * 4 / 3 + 8);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let failed = |_| JoseError::Signing(format!("{} signature failed", self.algorithm()));
        let signing_input = token.as_bytes();
        let signature = match &self.key {
            KeyPair::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    signing_input,
                    &mut signature,
                )
                .map_err(failed)?;
                signature
            }
            KeyPair::Es256(pair) => pair
                .sign(&SystemRandom::new(), signing_input)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            KeyPair::EdDsa(pair) => pair.sign(signing_input).as_ref().to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
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
