use std::fmt;

/// The JWS algorithms Keyhaven signs with (RFC 7518 §3.1, RFC 8037 §3.1). RS256 signs ID
/// tokens by default because OpenID Connect requires every provider to support it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    pub const ALL: [SigningAlgorithm; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The `alg` value of JWS headers and JWKs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Exact, case-sensitive match of an `alg` value (RFC 7515 §4.1.1).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// The JWK `kty` of this algorithm's keys (RFC 7518 §6.1, RFC 8037 §2).
    pub fn key_type(self) -> &'static str {
        match self {
            Self::Rs256 => "RSA",
            Self::Es256 => "EC",
            Self::EdDsa => "OKP",
        }
    }

    /// The JWK `crv` of this algorithm's keys, if its key type has curves.
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Self::Rs256 => None,
            Self::Es256 => Some("P-256"),
            Self::EdDsa => Some("Ed25519"),
        }
    }

    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_only_by_their_exact_jws_name() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()), Some(alg));
        }
        for bad in [
            "", "rs256", "EDDSA", "HS256", "none", "PS256", "ES384", " RS256",
        ] {
            assert_eq!(SigningAlgorithm::parse(bad), None, "{bad:?}");
        }
    }
}
