use std::fmt;

use crate::ids::TenantId;
use crate::jose::{JoseError, PublicJwk, Signer, SigningAlgorithm, Verifier};
use crate::kek::{KekError, KeyEncryptionKey};
use crate::time::Timestamp;

/// Where a key is in its life: `next` is published but does not sign yet, `active` signs,
/// `retired` stays published until `publish_until`, when what it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Next, Self::Active, Self::Retired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant's signing key as stored: the private half only sealed under the
/// key-encryption key, the public half as its JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub id: String,
    pub tenant_id: TenantId,
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub state: KeyState,
    /// `nonce || AES-256-GCM ciphertext || tag` of the PKCS#8 private key, sealed with
    /// [`SigningKey::associated_data`].
    pub sealed_private_key: Vec<u8>,
    pub public_jwk: PublicJwk,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    /// For a retired key: JWKS lists it while `now < publish_until`.
    pub publish_until: Option<Timestamp>,
}

/// Why a stored key could not become a [`Signer`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    #[error("signing key {kid}: {source}")]
    Kek { kid: String, source: KekError },
    #[error("signing key {kid}: {source}")]
    Key { kid: String, source: JoseError },
}

impl SigningKey {
    /// What a key's private half is sealed with: its tenant and kid, so that a row copied
    /// to another tenant (or given another kid) does not open.
    pub fn associated_data(tenant: &TenantId, kid: &str) -> Vec<u8> {
        // Length-prefixed, so no pair of ids can spell another pair's bytes.
        let tenant = tenant.as_str();
        format!(
            "keyhaven signing key v1\ntenant {}:{tenant}\nkid {}:{kid}",
            tenant.len(),
            kid.len()
        )
        .into_bytes()
    }

    /// Whether JWKS lists this key at `now`.
    pub fn is_published_at(&self, now: Timestamp) -> bool {
        match self.state {
            KeyState::Next | KeyState::Active => true,
            KeyState::Retired => self.publish_until.is_some_and(|until| now < until),
        }
    }

    /// Opens the private half and parses it, once; sign with the result many times.
    pub fn signer(&self, kek: &KeyEncryptionKey) -> Result<Signer, UnsealError> {
        let pkcs8 = kek
            .open(
                &self.sealed_private_key,
                &Self::associated_data(&self.tenant_id, &self.kid),
            )
            .map_err(|source| UnsealError::Kek {
                kid: self.kid.clone(),
                source,
            })?;
        Signer::from_pkcs8(&self.kid, self.algorithm, &pkcs8).map_err(|source| UnsealError::Key {
            kid: self.kid.clone(),
            source,
        })
    }

    pub fn verifier(&self) -> Result<Verifier, JoseError> {
        Verifier::from_jwk(&self.public_jwk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_retired_keys_are_published_until_their_deadline() {
        for state in [KeyState::Next, KeyState::Active, KeyState::Retired] {
            assert_eq!(KeyState::parse(state.as_str()), Some(state));
        }
        assert_eq!(KeyState::parse("Active"), None);
        let at = Timestamp::from_unix_millis;
        let key = |state, publish_until| SigningKey {
            id: "1".into(),
            tenant_id: TenantId::new("t"),
            kid: "k".into(),
            algorithm: SigningAlgorithm::EdDsa,
            state,
            sealed_private_key: Vec::new(),
            public_jwk: PublicJwk::ed25519("k", &[1; 32]).expect("jwk"),
            created_at: at(0),
            activated_at: None,
            retired_at: None,
            publish_until,
        };
        let cases = [
            (KeyState::Next, None, 5, true),
            (KeyState::Active, None, 5, true),
            (KeyState::Retired, Some(at(10)), 9, true),
            (KeyState::Retired, Some(at(10)), 10, false),
            (KeyState::Retired, None, 0, false),
        ];
        for (state, until, now, published) in cases {
            assert_eq!(
                key(state, until).is_published_at(at(now)),
                published,
                "{state} until {until:?} at {now}"
            );
        }
    }

    #[test]
    fn associated_data_differs_per_tenant_and_kid() {
        let a = SigningKey::associated_data(&TenantId::new("t1"), "k1");
        assert_ne!(a, SigningKey::associated_data(&TenantId::new("t2"), "k1"));
        assert_ne!(a, SigningKey::associated_data(&TenantId::new("t1"), "k2"));
        assert_ne!(
            SigningKey::associated_data(&TenantId::new("t1\nkid k"), "2"),
            SigningKey::associated_data(&TenantId::new("t1"), "k\nkid 2"),
            "separators cannot be forged by ids"
        );
    }
}
