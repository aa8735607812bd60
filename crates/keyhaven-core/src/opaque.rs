//! Opaque browser-flow handles: authorization codes, session cookies and the browser
//! binding cookie. Each carries 256 random bits (RFC 6749 §10.10 asks for at least 128
//! for codes) and is stored only as its SHA-256 digest, like every secret Keyhaven
//! generates (design.md §3): a slow hash adds nothing to a value nobody can guess.
//!
//! The randomness is handed in; this module only encodes, digests and compares.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 bytes in base64url without padding.
pub const ENCODED_LEN: usize = 43;

/// A freshly generated handle, shown to its holder exactly once.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken(String);

impl OpaqueToken {
    pub fn from_entropy(bytes: [u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> OpaqueDigest {
        OpaqueDigest::of(&self.0)
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

/// The SHA-256 of a handle, in lowercase hex: what the database holds and is searched by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OpaqueDigest(String);

impl OpaqueDigest {
    fn of(token: &str) -> Self {
        Self(hex(&Sha256::digest(token.as_bytes())))
    }

    /// The digest of a presented handle; `None` for anything that is not shaped like one,
    /// so that garbage is refused without a lookup.
    pub fn of_presented(presented: &str) -> Option<Self> {
        let shaped = presented.len() == ENCODED_LEN
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self::of(presented))
    }

    /// A digest read back from the store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, other: &OpaqueDigest) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for OpaqueDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueDigest(..)")
    }
}

/// A token that proves a form was rendered for the browser holding `binding` (the value
/// of its binding cookie) and for this `purpose` and `context` (say, `login` and the
/// pending request id): the CSRF token of the sign-in and consent forms. Another site
/// cannot compute it, because it cannot read the cookie; another browser cannot reuse it,
/// because its cookie differs.
pub fn form_token(binding: &str, purpose: &str, context: &str) -> String {
    // Fixed framing with the secret last: no field can be shifted into another.
    let mut hasher = Sha256::new();
    for part in ["keyhaven-form-token", purpose, context] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(binding.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// Whether `presented` is the form token for the presented binding cookie value.
pub fn form_token_matches(binding: &str, purpose: &str, context: &str, presented: &str) -> bool {
    let expected = form_token(binding, purpose, context);
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_found_again_by_the_digest_of_what_is_presented() {
        let token = OpaqueToken::from_entropy([9; 32]);
        assert_eq!(token.expose().len(), ENCODED_LEN);
        let presented = OpaqueDigest::of_presented(token.expose()).expect("well formed");
        assert!(presented.matches(&token.digest()));
        assert_eq!(presented.as_str().len(), 64);
        assert!(!format!("{token:?}").contains(token.expose()));
        assert_ne!(OpaqueToken::from_entropy([8; 32]).digest(), token.digest());
    }

    #[test]
    fn malformed_handles_have_no_digest() {
        let good = OpaqueToken::from_entropy([1; 32]);
        for bad in [
            "",
            "short",
            &format!("{}=", &good.expose()[..42]),
            &format!("{}+", &good.expose()[..42]),
            &format!("{}a", good.expose()),
        ] {
            assert_eq!(OpaqueDigest::of_presented(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn form_tokens_are_bound_to_the_browser_the_purpose_and_the_context() {
        let browser = OpaqueToken::from_entropy([3; 32]);
        let other = OpaqueToken::from_entropy([4; 32]);
        let token = form_token(browser.expose(), "login", "req-1");
        assert!(form_token_matches(
            browser.expose(),
            "login",
            "req-1",
            &token
        ));
        assert!(!form_token_matches(
            other.expose(),
            "login",
            "req-1",
            &token
        ));
        assert!(!form_token_matches(
            browser.expose(),
            "consent",
            "req-1",
            &token
        ));
        assert!(!form_token_matches(
            browser.expose(),
            "login",
            "req-2",
            &token
        ));
        assert!(!form_token_matches(browser.expose(), "login", "req-1", ""));
        // Shifting characters between fields gives a different token.
        assert_ne!(
            form_token(browser.expose(), "login", "x"),
            form_token(browser.expose(), "loginx", "")
        );
    }
}
