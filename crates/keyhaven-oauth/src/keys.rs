//! Each tenant's keys, parsed once and kept: signing is the hot path of every token
//! endpoint, and parsing a key per request would cost more than signing.
//!
//! Kept in the tenant's entry of the tenant cache ([`KeySlot`]), not in a map of their
//! own: a request has already found its tenant, and a second lookup by tenant id was
//! memory that a random tenant of thousands finds outside the CPU's caches.
//!
//! Parsed on first use, not on load: an RSA private key costs milliseconds to open and
//! check, and a `client_credentials` request needs only the ES256 key, so a tenant whose
//! entry expires costs a database read, not an RSA parse, on that path.
//!
//! A rotation drops the tenant's entry on every replica (see `cache`), so all sign with
//! the new active key and publish the same JWKS; a retired key leaves the JWKS when its
//! `publish_until` passes, not when the entry expires.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use axum::body::Bytes;
use keyhaven_core::jose::{PublicJwk, Signer, SigningAlgorithm, Verifier};
use keyhaven_core::kek::KeyEncryptionKey;
use keyhaven_core::model::{KeyState, Tenant};
use keyhaven_core::{TenantId, Timestamp};
use keyhaven_store::{Store, signing_keys};

use crate::error::OAuthError;

pub struct TenantKeys {
    tenant: TenantId,
    kek: Arc<KeyEncryptionKey>,
    /// The active key of each algorithm, by [`slot`].
    signers: [Option<SealedSigner>; SigningAlgorithm::ALL.len()],
    verifiers: HashMap<String, PublishedVerifier>,
    /// The JWK Set document, serialised once: each request shares it, and one buffer is
    /// one allocation where a JSON tree was a hundred small ones per tenant, strewn among
    /// the entries that every request reads.
    pub jwks: Bytes,
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
        let sealed = self.signers[slot(algorithm)]
            .as_ref()
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

/// Where an algorithm's active key sits in [`TenantKeys`]: a table of three slots is one
/// read, where a map was a hash and a probe of memory of its own.
fn slot(algorithm: SigningAlgorithm) -> usize {
    match algorithm {
        SigningAlgorithm::Rs256 => 0,
        SigningAlgorithm::Es256 => 1,
        SigningAlgorithm::EdDsa => 2,
    }
}

/// A tenant's keys in its cache entry: loaded by the first request that needs them, and
/// loaded again once a retired key's `publish_until` has passed.
///
/// Nothing here is ever invalidated: a change of the tenant's keys drops the whole entry
/// from the tenant cache, and a load still running in a dropped entry fills only that
/// entry, which no new request finds.
pub(crate) struct KeySlot {
    kek: Arc<KeyEncryptionKey>,
    loaded: RwLock<Option<Loaded>>,
}

struct Loaded {
    keys: Arc<TenantKeys>,
    loaded_at: Timestamp,
    /// When the first retired key stops being published.
    until: Option<Timestamp>,
}

impl KeySlot {
    pub(crate) fn new(kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            kek,
            loaded: RwLock::new(None),
        }
    }

    pub(crate) async fn get(
        &self,
        store: &Store,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<Arc<TenantKeys>, OAuthError> {
        {
            let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
            // A clock that went back past the load also makes the keys stale.
            let fresh = |l: &&Loaded| l.loaded_at <= now && l.until.is_none_or(|u| now < u);
            if let Some(loaded) = loaded.as_ref().filter(fresh) {
                return Ok(loaded.keys.clone());
            }
        }
        let (keys, until) = load(store, &self.kek, tenant, now).await?;
        let keys = Arc::new(keys);
        // Two requests may load at once; both read the same rows, the last one stays.
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Some(Loaded {
            keys: keys.clone(),
            loaded_at: now,
            until,
        });
        Ok(keys)
    }
}

/// The keys, and when the first retired one stops being published.
async fn load(
    store: &Store,
    kek: &Arc<KeyEncryptionKey>,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<(TenantKeys, Option<Timestamp>), OAuthError> {
    let published = signing_keys::published(store, &tenant.id, now).await?;
    let until = published.iter().filter_map(|k| k.publish_until).min();
    let mut signers: [Option<SealedSigner>; SigningAlgorithm::ALL.len()] = Default::default();
    let mut verifiers = HashMap::new();
    let mut jwks = Vec::new();
    for key in published {
        jwks.push(key.public_jwk.to_json());
        if key.state == KeyState::Active {
            signers[slot(key.algorithm)] = Some(SealedSigner {
                kid: key.kid.clone(),
                sealed: key.sealed_private_key,
                parsed: OnceLock::new(),
            });
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
        kek: kek.clone(),
        signers,
        verifiers,
        jwks: serde_json::to_vec(&serde_json::json!({ "keys": jwks }))
            .map_err(OAuthError::server)?
            .into(),
    };
    Ok((keys, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_a_slot_of_its_own() {
        let mut slots: Vec<_> = SigningAlgorithm::ALL.into_iter().map(slot).collect();
        slots.sort_unstable();
        let all: Vec<_> = (0..SigningAlgorithm::ALL.len()).collect();
        assert_eq!(slots, all);
    }
}
