//! Secrets Keyhaven generates: management tokens, client secrets (and later codes and
//! refresh tokens). Each carries 256 random bits, so a SHA-256 digest is all the store
//! needs to keep: nothing a slow hash would add protects a secret nobody can guess.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ENCODED_LEN: usize = 43; // 32 bytes, base64url without padding

/// The prefix tells a leaked secret's kind at a glance (and to secret scanners).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ManagementToken,
    ClientSecret,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::ManagementToken => "khm_",
            Self::ClientSecret => "khs_",
        }
    }
}

/// A freshly generated secret in clear: shown to its owner once, then dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn from_entropy(kind: SecretKind, bytes: [u8; 32]) -> Self {
        Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedSecret {
    #[error(
        "is not a well-formed client secret (expected 'khs_' followed by {ENCODED_LEN} base64url characters)"
    )]
    ClientSecret,
    #[error(
        "is not a well-formed management token (expected {MIN_SUPPLIED_LEN} to {MAX_SUPPLIED_LEN} visible ASCII characters, like the 'khm_...' tokens Keyhaven issues)"
    )]
    ManagementToken,
}

/// Management tokens may also be supplied by an operator (`KEYHAVEN_BOOTSTRAP_TOKEN`), so
/// any long enough string of visible ASCII is accepted; what Keyhaven generates fits.
pub const MIN_SUPPLIED_LEN: usize = 32;
pub const MAX_SUPPLIED_LEN: usize = 256;

impl SecretKind {
    fn accepts(self, presented: &str) -> bool {
        match self {
            Self::ClientSecret => presented.strip_prefix(self.prefix()).is_some_and(|body| {
                body.len() == ENCODED_LEN
                    && body
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }),
            Self::ManagementToken => {
                (MIN_SUPPLIED_LEN..=MAX_SUPPLIED_LEN).contains(&presented.len())
                    && presented.bytes().all(|b| b.is_ascii_graphic())
            }
        }
    }
}

/// The SHA-256 digest a secret is stored and looked up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// The digest of a secret presented by a caller (or an operator), once its shape is
    /// right: malformed input is refused before it reaches the store.
    pub fn of_presented(kind: SecretKind, presented: &str) -> Result<Self, MalformedSecret> {
        if kind.accepts(presented) {
            Ok(Self::of(presented))
        } else {
            Err(match kind {
                SecretKind::ManagementToken => MalformedSecret::ManagementToken,
                SecretKind::ClientSecret => MalformedSecret::ClientSecret,
            })
        }
    }

    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// Compares without an early exit, so timing says nothing about how much matched.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_found_again_by_its_digest() {
        let token = SecretToken::from_entropy(SecretKind::ManagementToken, [7; 32]);
        assert!(token.expose().starts_with("khm_"));
        assert_eq!(token.expose().len(), 4 + ENCODED_LEN);
        let presented = SecretDigest::of_presented(SecretKind::ManagementToken, token.expose());
        assert_eq!(presented, Ok(token.digest()));
        assert!(token.digest().matches(&presented.expect("well formed")));
        let hex = token.digest().to_hex();
        assert_eq!(SecretDigest::from_hex(&hex), Some(token.digest()));
        assert!(!format!("{token:?}").contains(&token.expose()[4..]));
    }

    #[test]
    fn malformed_client_secrets_are_refused_before_lookup() {
        let kind = SecretKind::ClientSecret;
        let good = SecretToken::from_entropy(kind, [1; 32]);
        assert!(SecretDigest::of_presented(kind, good.expose()).is_ok());
        for bad in [
            "",
            "khm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &good.expose()[..good.expose().len() - 1],
            &format!("{}x", good.expose()),
            &good.expose().replacen("khs_", "khs/", 1),
            "khs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(SecretDigest::of_presented(kind, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn management_tokens_may_be_operator_supplied_but_not_garbage() {
        let kind = SecretKind::ManagementToken;
        let generated = SecretToken::from_entropy(kind, [2; 32]);
        assert!(SecretDigest::of_presented(kind, generated.expose()).is_ok());
        assert!(SecretDigest::of_presented(kind, &"s3cr3t-from-vault".repeat(2)).is_ok());
        for bad in [
            "",
            "short",
            &"x".repeat(MAX_SUPPLIED_LEN + 1),
            "has a space in it and is long enough to pass",
            "ünïcode-ünïcode-ünïcode-ünïcode-ünïcode",
            "tab\tcontrol\u{7}characters-are-not-tokens-at-all",
        ] {
            assert!(SecretDigest::of_presented(kind, bad).is_err(), "{bad:?}");
        }
    }
}
