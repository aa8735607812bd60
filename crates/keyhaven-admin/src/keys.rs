//! Signing keys are generated here, the one crate with the operating system's random
//! generator at hand (aws-lc-rs draws from it itself), and sealed under the
//! key-encryption key before the store sees them.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use keyhaven_core::TenantId;
use keyhaven_core::jose::{JoseError, PublicJwk, SigningAlgorithm};
use keyhaven_core::model::{KeyState, SigningKey};
use keyhaven_store::signing_keys::NewSigningKey;

use crate::error::AdminError;
use crate::state::AdminState;

/// A fresh key pair: the private half as unencrypted PKCS#8 (to be sealed at once), the
/// public half as the JWK that will be published under `kid`.
pub struct GeneratedKey {
    pub pkcs8_der: Vec<u8>,
    pub public: PublicJwk,
}

#[derive(Debug, thiserror::Error)]
#[error("could not generate a {algorithm} key: {detail}")]
pub struct GenerationFailed {
    pub algorithm: SigningAlgorithm,
    detail: String,
}

/// Generates a key pair of `alg`. RSA takes tens of milliseconds or more: call it on a
/// blocking thread ([`generate_sealed`] does).
pub fn generate(alg: SigningAlgorithm, kid: &str) -> Result<GeneratedKey, GenerationFailed> {
    let failed = |detail: &dyn std::fmt::Display| GenerationFailed {
        algorithm: alg,
        detail: detail.to_string(),
    };
    let jwk_failed = |e: JoseError| failed(&e);
    match alg {
        SigningAlgorithm::Rs256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| failed(&e))?;
            let pkcs8 = pair.as_der().map_err(|e| failed(&e))?;
            let public = pair.public_key();
            Ok(GeneratedKey {
                pkcs8_der: pkcs8.as_ref().to_vec(),
                public: PublicJwk::rsa(
                    kid,
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                ),
            })
        }
        SigningAlgorithm::Es256 => {
            let pair =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| failed(&e))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|e| failed(&e))?;
            Ok(GeneratedKey {
                pkcs8_der: pkcs8.as_ref().to_vec(),
                public: PublicJwk::p256(kid, pair.public_key().as_ref()).map_err(jwk_failed)?,
            })
        }
        SigningAlgorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|e| failed(&e))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|e| failed(&e))?;
            Ok(GeneratedKey {
                pkcs8_der: pkcs8.as_ref().to_vec(),
                public: PublicJwk::ed25519(kid, pair.public_key().as_ref()).map_err(jwk_failed)?,
            })
        }
    }
}

/// Generates a key of `alg` for `tenant` and seals its private half to the tenant and
/// its kid. RSA generation runs on the blocking pool so it cannot stall other calls.
pub async fn generate_sealed(
    state: &AdminState,
    tenant: &TenantId,
    alg: SigningAlgorithm,
    key_state: KeyState,
) -> Result<NewSigningKey, AdminError> {
    let kid = state.new_kid();
    let generated = match alg {
        SigningAlgorithm::Rs256 => {
            let kid = kid.clone();
            tokio::task::spawn_blocking(move || generate(alg, &kid))
                .await
                .map_err(|e| AdminError::Internal(format!("key generation task failed: {e}")))?
        }
        SigningAlgorithm::Es256 | SigningAlgorithm::EdDsa => generate(alg, &kid),
    }
    .map_err(|e| AdminError::Internal(e.to_string()))?;
    let sealed_private_key = state.kek.seal(
        state.new_nonce(),
        &generated.pkcs8_der,
        &SigningKey::associated_data(tenant, &kid),
    );
    Ok(NewSigningKey {
        kid,
        algorithm: alg,
        state: key_state,
        sealed_private_key,
        public_jwk: generated.public,
    })
}

/// What a new tenant starts with: an active and a next key of every algorithm, the RSA
/// pairs generated side by side.
pub async fn for_new_tenant(
    state: &AdminState,
    tenant: &TenantId,
) -> Result<Vec<NewSigningKey>, AdminError> {
    let pending: Vec<_> = SigningAlgorithm::ALL
        .into_iter()
        .flat_map(|alg| [(alg, KeyState::Active), (alg, KeyState::Next)])
        .map(|(alg, key_state)| {
            let state = state.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move { generate_sealed(&state, &tenant, alg, key_state).await })
        })
        .collect();
    let mut keys = Vec::with_capacity(pending.len());
    for task in pending {
        keys.push(
            task.await
                .map_err(|e| AdminError::Internal(format!("key generation task failed: {e}")))??,
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use keyhaven_core::jose::{Signer, Verifier};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_generated_key_signs_tokens_its_published_jwk_verifies() {
        for alg in SigningAlgorithm::ALL {
            let key = generate(alg, "kid-1").expect("generated");
            assert_eq!((key.public.kid.as_str(), key.public.alg), ("kid-1", alg));
            let published = key.public.to_json();
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(published.get(private).is_none(), "{alg}: {private}");
            }
            let signer = Signer::from_pkcs8("kid-1", alg, &key.pkcs8_der).expect("signer");
            let token = signer
                .sign("JWT", &json!({"sub": "alice"}))
                .expect("signed");
            let verifier = Verifier::from_jwk(
                &PublicJwk::from_json(&published).expect("published JWK parses"),
            )
            .expect("verifier");
            let claims: serde_json::Value = verifier.verify(&token).expect("verifies");
            assert_eq!(claims, json!({"sub": "alice"}), "{alg}");

            let other = generate(alg, "kid-2").expect("generated");
            assert_ne!(other.pkcs8_der, key.pkcs8_der);
            let other_verifier = Verifier::from_jwk(&other.public).expect("verifier");
            assert!(
                other_verifier.verify::<serde_json::Value>(&token).is_err(),
                "{alg}"
            );
        }
    }
}
