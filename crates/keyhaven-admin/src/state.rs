//! What every service shares: the store, the clock, entropy, the key-encryption key and
//! the public URL.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_core::kek::{KeyEncryptionKey, NONCE_LEN};
use keyhaven_core::{ClientId, Clock, Entropy, SecretKind, SecretToken, Timestamp};
use keyhaven_store::{PasswordHasher, Store};

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
    /// Seals the private halves of signing keys.
    pub kek: Arc<KeyEncryptionKey>,
    /// Counts what the services do (revocations).
    pub metrics: Arc<keyhaven_metrics::Metrics>,
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

    /// A key id: 128 random bits, base64url.
    pub fn new_kid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.entropy.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A nonce for one [`KeyEncryptionKey::seal`]: 96 random bits, as AES-GCM wants.
    pub fn new_nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        self.entropy.fill(&mut nonce);
        nonce
    }

    pub fn issuer(&self, tenant: &keyhaven_core::Slug) -> String {
        format!("{}/t/{tenant}", self.public_url)
    }
}
