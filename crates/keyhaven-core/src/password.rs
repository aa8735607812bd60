//! Human-chosen passwords: a length policy, and argon2id with the OWASP parameters
//! (19 MiB, t=2, p=1). Hashing is CPU work; callers run it on a bounded blocking pool.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

pub const MIN_CHARS: usize = 8;
/// Bounds the work one hash costs, whatever a client sends.
pub const MAX_BYTES: usize = 256;

const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// A password that meets the policy. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("must be at most {MAX_BYTES} bytes long")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        if raw.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().count() < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if raw.chars().any(char::is_control) {
            return Err(PasswordError::Control);
        }
        Ok(Self(raw.to_owned()))
    }

    /// Hashes with argon2id and a fresh 16-byte salt handed in by the caller.
    pub fn hash(&self, salt: [u8; 16]) -> PasswordHash {
        let hash = hasher()
            .hash_password_with_salt(self.0.as_bytes(), &salt)
            .map(|h| h.to_string());
        // Fixed parameters and a 16-byte salt are always accepted.
        #[allow(clippy::expect_used)]
        PasswordHash(hash.expect("argon2id accepts the fixed parameters"))
    }

    /// Whether this password matches `hash`. A malformed stored hash matches nothing.
    pub fn matches(&self, hash: &PasswordHash) -> bool {
        hasher()
            .verify_password(self.0.as_bytes(), hash.0.as_str())
            .is_ok()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn hasher() -> Argon2<'static> {
    // The constants are within argon2's bounds (a unit test proves it).
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC-format argon2id hash (`$argon2id$v=19$m=19456,t=2,p=1$...`), as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_owasp_argon2id_and_verify() {
        assert!(Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).is_ok());
        let password = Password::parse("correct horse battery staple").expect("valid");
        let hash = password.hash([7; 16]);
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(password.matches(&hash));
        assert!(
            !Password::parse("correct horse battery stapler")
                .expect("valid")
                .matches(&hash)
        );
        assert!(!password.matches(&PasswordHash::from_stored("not a hash".into())));
        assert_ne!(
            password.hash([8; 16]),
            hash,
            "a fresh salt gives a fresh hash"
        );
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn the_policy_bounds_length_both_ways() {
        assert_eq!(
            Password::parse("short").map(|_| ()),
            Err(PasswordError::TooShort)
        );
        assert_eq!(Password::parse("ünïcødé!").map(|_| ()), Ok(()));
        assert_eq!(
            Password::parse(&"x".repeat(MAX_BYTES + 1)).map(|_| ()),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            Password::parse("tab\there ok?").map(|_| ()),
            Err(PasswordError::Control)
        );
    }
}
