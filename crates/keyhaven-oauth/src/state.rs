//! What every endpoint shares.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use keyhaven_core::model::Tenant;
use keyhaven_core::{Clock, Entropy, Timestamp};
use keyhaven_store::{PasswordHasher, Store};

use crate::cache::{ClientCache, TenantCache};

/// A handle on what the endpoints share. Every request clones it (axum's `State`; the CORS
/// layer too, for a request with an Origin), so it is one reference count rather than one
/// for each field: the per-field clone and drop were 4 % of a client_credentials
/// request's CPU.
#[derive(Clone)]
pub struct OAuthState(Arc<Shared>);

impl OAuthState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for OAuthState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// Externally visible base of issuers, without a trailing slash.
    pub public_url: Arc<str>,
    /// Tenants with their keys.
    pub tenants: Arc<TenantCache>,
    pub clients: Arc<ClientCache>,
    /// Verifies sign-in passwords on the bounded blocking pool (shared with the admin
    /// services, so the bound holds for the whole process).
    pub hasher: PasswordHasher,
    /// How long after a rotation a retried refresh gets the same answer
    /// (`keyhaven_core::refresh`).
    pub refresh_retry_window: Duration,
    /// Counts what the endpoints do (tokens, revocations, sign-ins, deliveries).
    pub metrics: Arc<keyhaven_metrics::Metrics>,
}

impl Shared {
    /// Empty caches that drop what each control-plane change makes stale, whether it is
    /// made in this process or (on PostgreSQL) announced by another replica.
    pub fn caches_following(
        store: &Store,
        kek: Arc<keyhaven_core::kek::KeyEncryptionKey>,
    ) -> (Arc<TenantCache>, Arc<ClientCache>) {
        let tenants = Arc::new(TenantCache::new(kek));
        let clients = Arc::new(ClientCache::default());
        crate::cache::follow_changes(store, tenants.clone(), clients.clone());
        (tenants, clients)
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The tenant's issuer (OIDC Discovery §4.3 requires it to match exactly).
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/t/{}", self.public_url, tenant.slug)
    }

    pub fn random_id(&self) -> String {
        use base64::Engine;
        let mut bytes = [0u8; 16];
        self.entropy.fill(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
