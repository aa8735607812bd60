//! What every service shares: the store, the clock, entropy and the public URL.

use std::sync::Arc;

use keyhaven_core::{ClientId, Clock, SecretKind, SecretToken, Timestamp};
use keyhaven_store::{PasswordHasher, Store};

/// Where randomness comes from; tests may hand in their own.
pub trait Entropy: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator failing leaves nothing safe to do but stop.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system's random generator failed");
    }
}

#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// Externally visible base of issuers, without a trailing slash.
    pub public_url: String,
    pub hasher: PasswordHasher,
}

impl AdminState {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn new_secret(&self, kind: SecretKind) -> SecretToken {
        let mut bytes = [0u8; 32];
        self.entropy.fill(&mut bytes);
        SecretToken::from_entropy(kind, bytes)
    }

    pub fn new_salt(&self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.entropy.fill(&mut salt);
        salt
    }

    pub fn new_client_id(&self) -> ClientId {
        let mut bytes = [0u8; 16];
        self.entropy.fill(&mut bytes);
        ClientId::from_entropy(bytes)
    }

    pub fn issuer(&self, tenant: &keyhaven_core::Slug) -> String {
        format!("{}/t/{tenant}", self.public_url)
    }
}
