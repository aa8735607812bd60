//! Each tenant's keys, parsed once and kept: signing is the hot path of every token
//! endpoint, and parsing a key per request would cost more than signing.
//!
//! Parsed on first use, not on load: an RSA private key costs milliseconds to open and
//! check, and a `client_credentials` request needs only the ES256 key, so a tenant whose
//! entry expires (the TTL below) costs a database read, not an RSA parse, on that path.
//!
//! A rotation drops the tenant's entry on every replica (see `cache`), so all sign with
//! the new active key and publish the same JWKS; a retired key leaves the JWKS when its
//! `publish_until` passes, not up to a [`TTL`] later.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use keyhaven_core::jose::{PublicJwk, Signer, SigningAlgorithm, Verifier};
use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{KeyState, Tenant};
use keyhaven_core::{TenantId, Timestamp};
use keyhaven_store::{Store, signing_keys};

use crate::cache::{Bounded, MAX_TENANTS};
use crate::error::OAuthError;

pub use crate::cache::TTL;

pub struct TenantKeys {
    tenant: TenantId,
    kek: Arc<KeyEncryptionKey>,
    signers: HashMap<SigningAlgorithm, SealedSigner>,
    verifiers: HashMap<String, PublishedVerifier>,
    /// The JWK Set document, ready to serve.
    pub jwks: serde_json::Value,
}

/// An active key, sealed as stored until something signs with it.
struct SealedSigner {
    kid: String,
    sealed: Vec<u8>,
    parsed: OnceLock<Signer>,
}

/// A published key, parsed when a token names its `kid`.
struct PublishedVerifier {
    jwk: PublicJwk,
    parsed: OnceLock<Verifier>,
}

impl TenantKeys {
    pub fn signer(&self, algorithm: SigningAlgorithm) -> Result<&Signer, OAuthError> {
        let sealed = self
            .signers
            .get(&algorithm)
            .ok_or_else(|| OAuthError::server(format!("no active {} key", algorithm.as_str())))?;
        if let Some(signer) = sealed.parsed.get() {
            return Ok(signer);
        }
        let pkcs8 = self
            .kek
            .open(
                &sealed.sealed,
                &signing_keys::associated_data(&self.tenant, &sealed.kid),
            )
            .map_err(OAuthError::server)?;
        let signer =
            Signer::from_pkcs8(&sealed.kid, algorithm, &pkcs8).map_err(OAuthError::server)?;
        // Two requests may parse at once; the first to finish is kept, both are the same.
        Ok(sealed.parsed.get_or_init(|| signer))
    }

    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        let published = self.verifiers.get(kid)?;
        if let Some(verifier) = published.parsed.get() {
            return Some(verifier);
        }
        match Verifier::from_jwk(&published.jwk) {
            Ok(verifier) => Some(published.parsed.get_or_init(|| verifier)),
            Err(error) => {
                tracing::error!(kid, %error, "a published key does not parse");
                None
            }
        }
    }
}

pub struct KeyCache {
    kek: Arc<KeyEncryptionKey>,
    entries: Bounded<TenantId, Arc<TenantKeys>>,
}

impl KeyCache {
    pub fn new(kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            kek,
            entries: Bounded::new(MAX_TENANTS),
        }
    }

    pub async fn for_tenant(
        &self,
        store: &Store,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<Arc<TenantKeys>, OAuthError> {
        if let Some(keys) = self.entries.get(&tenant.id, now) {
            return Ok(keys);
        }
        let ticket = self.entries.ticket();
        let (keys, until) = self.load(store, tenant, now).await?;
        let keys = Arc::new(keys);
        self.entries
            .insert(ticket, tenant.id.clone(), keys.clone(), now, until);
        Ok(keys)
    }

    pub(crate) fn forget(&self, tenant: &TenantId) {
        self.entries.remove(tenant);
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    /// The keys, and when the first retired one stops being published.
    async fn load(
        &self,
        store: &Store,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<(TenantKeys, Option<Timestamp>), OAuthError> {
        let published = signing_keys::published(store, &tenant.id, now).await?;
        let until = published.iter().filter_map(|k| k.publish_until).min();
        let mut signers = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        for key in published {
            jwks.push(key.public_jwk.to_json());
            if key.state == KeyState::Active {
                signers.insert(
                    key.algorithm,
                    SealedSigner {
                        kid: key.kid.clone(),
                        sealed: key.sealed_private_key,
                        parsed: OnceLock::new(),
                    },
                );
            }
            verifiers.insert(
                key.kid,
                PublishedVerifier {
                    jwk: key.public_jwk,
                    parsed: OnceLock::new(),
                },
            );
        }
        let keys = TenantKeys {
            tenant: tenant.id.clone(),
            kek: self.kek.clone(),
            signers,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }),
        };
        Ok((keys, until))
    }
}
