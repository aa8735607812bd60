//! Each tenant's keys, parsed once and kept: signing is the hot path of every token
//! endpoint, and parsing a key per request would cost more than signing.
//!
//! A rotation drops the tenant's entry on every replica (see `cache`), so all sign with
//! the new active key and publish the same JWKS; [`TTL`] bounds a lost notification, and a
//! retired key leaves the JWKS when its `publish_until` passes, not up to a TTL later.

use std::collections::HashMap;
use std::sync::Arc;

use keyhaven_core::jose::{Signer, SigningAlgorithm, Verifier};
use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{KeyState, Tenant};
use keyhaven_core::{TenantId, Timestamp};
use keyhaven_store::{Store, signing_keys};

use crate::cache::{Bounded, MAX_TENANTS};
use crate::error::OAuthError;

pub use crate::cache::TTL;

pub struct TenantKeys {
    signers: HashMap<SigningAlgorithm, Signer>,
    verifiers: HashMap<String, Verifier>,
    /// The JWK Set document, ready to serve.
    pub jwks: serde_json::Value,
}

impl TenantKeys {
    pub fn signer(&self, algorithm: SigningAlgorithm) -> Result<&Signer, OAuthError> {
        self.signers
            .get(&algorithm)
            .ok_or_else(|| OAuthError::server(format!("no active {} key", algorithm.as_str())))
    }

    pub fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.get(kid)
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
        self.entries.remove_where(|t| t == tenant);
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
            let verifier = Verifier::from_jwk(&key.public_jwk).map_err(OAuthError::server)?;
            verifiers.insert(key.kid.clone(), verifier);
            jwks.push(key.public_jwk.to_json());
            if key.state == KeyState::Active {
                let pkcs8 = self
                    .kek
                    .open(
                        &key.sealed_private_key,
                        &signing_keys::associated_data(&tenant.id, &key.kid),
                    )
                    .map_err(OAuthError::server)?;
                let signer = Signer::from_pkcs8(&key.kid, key.algorithm, &pkcs8)
                    .map_err(OAuthError::server)?;
                signers.insert(key.algorithm, signer);
            }
        }
        let keys = TenantKeys {
            signers,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }),
        };
        Ok((keys, until))
    }
}
