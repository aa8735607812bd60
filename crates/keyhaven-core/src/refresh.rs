//! Refresh token rotation with reuse detection (RFC 9700 §4.14.2, design.md §4.4).
//!
//! Every use of a refresh token replaces it. Presenting a replaced token again means two
//! parties hold it, so the whole family is revoked; except that a client which lost the
//! answer to its refresh (mobile networks do this) and retries within a short window gets
//! the very same answer again instead of being signed out.
//!
//! To give the same answer without storing tokens in clear, the answer is sealed under a
//! key derived from the presented refresh token, which the database never holds (it
//! stores a SHA-256 digest under another label): only a holder of the old token can open
//! it.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::ids::ApplicationId;
use crate::kek::{KeyEncryptionKey, NONCE_LEN};
use crate::model::RefreshToken;
use crate::time::Timestamp;

/// How long after a rotation a retry of the same refresh gets the same answer.
pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_secs(30);
/// The longest window a configuration may set: beyond it a stolen token is replayable
/// for too long.
pub const MAX_RETRY_WINDOW: Duration = Duration::from_secs(300);

const KEY_LABEL: &[u8] = b"keyhaven refresh retry v1\0";
const ASSOCIATED_DATA: &[u8] = b"refresh-token-response";

/// What a presentation of a stored refresh token amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Unused, unexpired, not revoked, presented by its client: rotate it.
    Rotate,
    /// Replaced moments ago and its successor untouched: answer as before.
    Retry,
    /// Replaced, and presented again outside the retry window or after its successor was
    /// used: revoke the family.
    Reuse,
    Expired,
    Revoked,
    /// Another client's token. Refused without revoking anything: a client must not be
    /// able to sign another client's users out.
    OtherClient,
}

/// Classifies a presentation of `token` by `client` at `now`. `successor` is the token
/// that replaced it, when there is one.
pub fn classify(
    token: &RefreshToken,
    successor: Option<&RefreshToken>,
    client: &ApplicationId,
    now: Timestamp,
    retry_window: Duration,
) -> Verdict {
    if token.revoked_at.is_some() {
        return Verdict::Revoked;
    }
    if &token.application_id != client {
        return Verdict::OtherClient;
    }
    if let Some(used_at) = token.used_at {
        let successor_untouched =
            successor.is_some_and(|s| s.used_at.is_none() && s.revoked_at.is_none());
        let within_window = now < used_at.saturating_add(retry_window);
        return if within_window && successor_untouched && token.retry_response.is_some() {
            Verdict::Retry
        } else {
            Verdict::Reuse
        };
    }
    if now >= token.expires_at {
        return Verdict::Expired;
    }
    Verdict::Rotate
}

/// Seals the answer to a rotation under the key `presented` yields. `nonce`: 12 fresh
/// random bytes.
pub fn seal_response(presented: &str, nonce: [u8; NONCE_LEN], response: &[u8]) -> Vec<u8> {
    retry_key(presented).seal(nonce, response, ASSOCIATED_DATA)
}

/// Opens what [`seal_response`] sealed; `None` if `presented` is not the token it was
/// sealed for, or the bytes were altered.
pub fn open_response(presented: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    retry_key(presented).open(sealed, ASSOCIATED_DATA).ok()
}

fn retry_key(presented: &str) -> KeyEncryptionKey {
    let mut hasher = Sha256::new();
    hasher.update(KEY_LABEL);
    hasher.update(presented.as_bytes());
    KeyEncryptionKey::from_bytes(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::opaque::OpaqueToken;
    use crate::scope::ScopeSet;

    const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);
    const WINDOW: Duration = DEFAULT_RETRY_WINDOW;

    fn at(seconds: u64) -> Timestamp {
        T0.saturating_add(Duration::from_secs(seconds))
    }

    fn token(app: &str) -> RefreshToken {
        RefreshToken {
            digest: OpaqueToken::from_entropy([1; 32]).digest(),
            tenant_id: TenantId::new("t"),
            family_id: "f".into(),
            application_id: ApplicationId::new(app),
            user_id: "u".into(),
            session_id: "s".into(),
            scope: ScopeSet::default(),
            auth_time: T0,
            access_jti: "j".into(),
            access_expires_at: at(600),
            expires_at: at(3600),
            created_at: T0,
            used_at: None,
            retry_response: None,
            revoked_at: None,
            device_id: None,
        }
    }

    fn rotated(used: u64) -> (RefreshToken, RefreshToken) {
        let old = RefreshToken {
            used_at: Some(at(used)),
            retry_response: Some(vec![1, 2, 3]),
            ..token("web")
        };
        (old, token("web"))
    }

    #[test]
    fn a_fresh_token_rotates_and_an_expired_or_revoked_one_does_not() {
        let web = ApplicationId::new("web");
        assert_eq!(
            classify(&token("web"), None, &web, at(10), WINDOW),
            Verdict::Rotate
        );
        assert_eq!(
            classify(&token("web"), None, &web, at(3600), WINDOW),
            Verdict::Expired
        );
        let revoked = RefreshToken {
            revoked_at: Some(at(5)),
            ..token("web")
        };
        assert_eq!(
            classify(&revoked, None, &web, at(10), WINDOW),
            Verdict::Revoked
        );
        assert_eq!(
            classify(&token("other"), None, &web, at(10), WINDOW),
            Verdict::OtherClient
        );
    }

    #[test]
    fn a_replaced_token_is_a_retry_only_inside_the_window_while_its_successor_is_untouched() {
        let web = ApplicationId::new("web");
        let (old, next) = rotated(100);
        assert_eq!(
            classify(&old, Some(&next), &web, at(100), WINDOW),
            Verdict::Retry
        );
        assert_eq!(
            classify(&old, Some(&next), &web, at(129), WINDOW),
            Verdict::Retry
        );
        assert_eq!(
            classify(&old, Some(&next), &web, at(130), WINDOW),
            Verdict::Reuse,
            "the window is half-open"
        );
        let used_next = RefreshToken {
            used_at: Some(at(101)),
            ..next.clone()
        };
        assert_eq!(
            classify(&old, Some(&used_next), &web, at(102), WINDOW),
            Verdict::Reuse,
            "the successor was used: the old token is in two hands"
        );
        let revoked_next = RefreshToken {
            revoked_at: Some(at(101)),
            ..next.clone()
        };
        assert_eq!(
            classify(&old, Some(&revoked_next), &web, at(102), WINDOW),
            Verdict::Reuse
        );
        assert_eq!(classify(&old, None, &web, at(102), WINDOW), Verdict::Reuse);
        assert_eq!(
            classify(&old, Some(&next), &web, at(102), Duration::ZERO),
            Verdict::Reuse,
            "a zero window turns retries off"
        );
        let other = ApplicationId::new("other");
        assert_eq!(
            classify(&old, Some(&next), &other, at(102), WINDOW),
            Verdict::OtherClient
        );
    }

    #[test]
    fn only_the_presented_token_opens_the_sealed_response() {
        let presented = OpaqueToken::from_entropy([3; 32]);
        let other = OpaqueToken::from_entropy([4; 32]);
        let sealed = seal_response(presented.expose(), [9; NONCE_LEN], b"{\"a\":1}");
        assert_eq!(
            open_response(presented.expose(), &sealed).as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(open_response(other.expose(), &sealed), None);
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(open_response(presented.expose(), &altered), None);
    }
}
