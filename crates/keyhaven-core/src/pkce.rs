//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` would hand the verifier
//! to anyone who sees the authorization request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `code_challenge` as sent to the authorization endpoint with `code_challenge_method=S256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256; plain is not supported")]
    UnsupportedMethod,
    #[error("code_challenge must be the 43-character base64url SHA-256 of the code_verifier")]
    MalformedChallenge,
    #[error(
        "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 §4.1)"
    )]
    MalformedVerifier,
}

impl CodeChallenge {
    /// Parses the pair of authorization-request parameters. A missing method means
    /// `plain` (RFC 7636 §4.3), which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        let decoded = URL_SAFE_NO_PAD
            .decode(challenge)
            .map_err(|_| PkceError::MalformedChallenge)?;
        if decoded.len() != 32 || challenge.len() != 43 {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &str) -> Result<bool, PkceError> {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !well_formed {
            return Err(PkceError::MalformedVerifier);
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Ok(computed.as_bytes().ct_eq(self.0.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_example_verifies() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).expect("valid");
        assert_eq!(challenge.verify(VERIFIER), Ok(true));
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
        assert_eq!(challenge.verify(other), Ok(false));
    }

    #[test]
    fn plain_missing_and_malformed_challenges_are_refused() {
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, Some("plain")),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse(CHALLENGE, None),
            Err(PkceError::UnsupportedMethod)
        );
        assert_eq!(
            CodeChallenge::parse("short", Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            CodeChallenge::parse(&format!("{CHALLENGE}="), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
        assert_eq!(
            CodeChallenge::parse(&CHALLENGE.replace('-', "+"), Some("S256")),
            Err(PkceError::MalformedChallenge)
        );
    }

    #[test]
    fn malformed_verifiers_are_refused_not_compared() {
        let challenge = CodeChallenge::parse(CHALLENGE, Some("S256")).expect("valid");
        for bad in [
            "",
            "too-short",
            &"a".repeat(129),
            &format!("{}!", &VERIFIER[..43]),
        ] {
            assert_eq!(
                challenge.verify(bad),
                Err(PkceError::MalformedVerifier),
                "{bad:?}"
            );
        }
    }
}
