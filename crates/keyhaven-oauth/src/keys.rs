//! Each tenant's keys, parsed once and kept for a short while: signing is the hot path
//! of every token endpoint, and parsing a key per request would cost more than signing.
//!
//! Entries live at most [`TTL`], which bounds how long a replica keeps signing with a
//! key another replica has rotated out (it stays published, so tokens stay valid).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyhaven_core::jose::{Signer, SigningAlgorithm, Verifier};
use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{KeyState, Tenant};
use keyhaven_core::{TenantId, Timestamp};
use keyhaven_store::{Store, signing_keys};

use crate::error::OAuthError;

pub const TTL: Duration = Duration::from_secs(30);

/// Bounded so that a scan of many tenants cannot grow memory without limit.
const MAX_TENANTS: usize = 10_000;

pub struct TenantKeys {
    loaded_at: Timestamp,
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
    entries: RwLock<HashMap<TenantId, Arc<TenantKeys>>>,
}

impl KeyCache {
    pub fn new(kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            kek,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub async fn for_tenant(
        &self,
        store: &Store,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<Arc<TenantKeys>, OAuthError> {
        let fresh =
            |keys: &TenantKeys| keys.loaded_at > now.saturating_sub(TTL) && keys.loaded_at <= now;
        if let Ok(entries) = self.entries.read()
            && let Some(keys) = entries.get(&tenant.id).filter(|k| fresh(k))
        {
            return Ok(keys.clone());
        }
        let keys = Arc::new(self.load(store, tenant, now).await?);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_TENANTS {
                entries.retain(|_, k| fresh(k));
                if entries.len() >= MAX_TENANTS {
                    entries.clear();
                }
            }
            entries.insert(tenant.id.clone(), keys.clone());
        }
        Ok(keys)
    }

    async fn load(
        &self,
        store: &Store,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<TenantKeys, OAuthError> {
        let published = signing_keys::published(store, &tenant.id, now).await?;
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
        Ok(TenantKeys {
            loaded_at: now,
            signers,
            verifiers,
            jwks: serde_json::json!({ "keys": jwks }),
        })
    }
}
