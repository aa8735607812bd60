//! The key-encryption key: AES-256-GCM under which signing keys are stored. Nonces are
//! handed in (this crate has no randomness of its own); the associated data binds a
//! sealed key to where it belongs, so a row copied elsewhere does not open.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Clone)]
pub struct KeyEncryptionKey([u8; KEY_LEN]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KekError {
    #[error(
        "must be {KEY_LEN} random bytes in base64url without padding (43 characters of A-Z, a-z, 0-9, '-' and '_'), such as the output of `head -c 32 /dev/urandom | basenc --base64url | tr -d =`"
    )]
    Malformed,
    #[error("the sealed key is too short to hold a nonce and a tag")]
    Truncated,
    #[error(
        "the sealed key does not open: it was sealed under another key-encryption key, for another tenant or key id, or it was altered"
    )]
    DoesNotOpen,
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses the configured form. Surrounding whitespace (a file's final newline) is
    /// ignored; padding is not accepted, so each key has exactly one spelling.
    pub fn parse_base64url(raw: &str) -> Result<Self, KekError> {
        let decoded = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| KekError::Malformed)?;
        let bytes: [u8; KEY_LEN] = decoded.try_into().map_err(|_| KekError::Malformed)?;
        Ok(Self(bytes))
    }

    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Encrypts and authenticates `plaintext` and `associated_data`; returns
    /// `nonce || ciphertext || tag`. A nonce must never be used twice under one key:
    /// hand in 12 fresh random bytes.
    pub fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Vec<u8> {
        let payload = Payload {
            msg: plaintext,
            aad: associated_data,
        };
        // Encryption fails only for inputs over 64 GiB; a signing key is a few kilobytes.
        #[allow(clippy::expect_used)]
        let ciphertext = self
            .cipher()
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM input within its 64 GiB limit");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Reverses [`KeyEncryptionKey::seal`] given the same associated data.
    pub fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, KekError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(KekError::Truncated);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| KekError::Truncated)?;
        let payload = Payload {
            msg: ciphertext,
            aad: associated_data,
        };
        self.cipher()
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| KekError::DoesNotOpen)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.0))
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: [u8; 32] = [0x42; 32];
    const NONCE: [u8; 12] = [7; 12];
    const AD: &[u8] = b"tenant-1\nkid-1";
    const SECRET: &[u8] = b"-- a PKCS#8 private key --";

    #[test]
    fn a_sealed_key_opens_with_the_same_kek_and_associated_data() {
        let kek = KeyEncryptionKey::from_bytes(KEK);
        let sealed = kek.seal(NONCE, SECRET, AD);
        assert_eq!(sealed.len(), NONCE_LEN + SECRET.len() + TAG_LEN);
        assert_eq!(&sealed[..NONCE_LEN], &NONCE);
        assert!(
            !sealed.windows(SECRET.len()).any(|w| w == SECRET),
            "the plaintext does not appear in the sealed bytes"
        );
        assert_eq!(kek.open(&sealed, AD), Ok(SECRET.to_vec()));
        assert_eq!(
            kek.open(&kek.seal([8; 12], b"", b""), b""),
            Ok(Vec::new()),
            "an empty plaintext round-trips too"
        );
        assert_ne!(kek.seal([8; 12], SECRET, AD), sealed, "the nonce matters");
    }

    #[test]
    fn a_sealed_key_does_not_open_under_anything_else() {
        let kek = KeyEncryptionKey::from_bytes(KEK);
        let sealed = kek.seal(NONCE, SECRET, AD);
        let flip = |i: usize| {
            let mut bytes = sealed.clone();
            bytes[i] ^= 1;
            bytes
        };
        let other_kek = KeyEncryptionKey::from_bytes([0x43; 32]);
        // (case, the KEK that tries, the sealed bytes, the associated data, the failure)
        type Case<'a> = (&'a str, &'a KeyEncryptionKey, Vec<u8>, &'a [u8], KekError);
        let cases: Vec<Case> = vec![
            (
                "another KEK",
                &other_kek,
                sealed.clone(),
                AD,
                KekError::DoesNotOpen,
            ),
            (
                "another tenant",
                &kek,
                sealed.clone(),
                b"tenant-2\nkid-1",
                KekError::DoesNotOpen,
            ),
            (
                "another kid",
                &kek,
                sealed.clone(),
                b"tenant-1\nkid-2",
                KekError::DoesNotOpen,
            ),
            (
                "no associated data",
                &kek,
                sealed.clone(),
                b"",
                KekError::DoesNotOpen,
            ),
            ("altered nonce", &kek, flip(0), AD, KekError::DoesNotOpen),
            (
                "altered ciphertext",
                &kek,
                flip(NONCE_LEN + 1),
                AD,
                KekError::DoesNotOpen,
            ),
            (
                "altered tag",
                &kek,
                flip(sealed.len() - 1),
                AD,
                KekError::DoesNotOpen,
            ),
            (
                "truncated tag",
                &kek,
                sealed[..sealed.len() - 1].to_vec(),
                AD,
                KekError::DoesNotOpen,
            ),
            (
                "only a nonce and part of a tag",
                &kek,
                sealed[..NONCE_LEN + 15].to_vec(),
                AD,
                KekError::Truncated,
            ),
            ("empty", &kek, Vec::new(), AD, KekError::Truncated),
        ];
        for (case, kek, sealed, ad, expected) in cases {
            assert_eq!(kek.open(&sealed, ad), Err(expected), "{case}");
        }
    }

    #[test]
    fn the_configured_form_is_43_base64url_characters_and_never_printed() {
        let kek = KeyEncryptionKey::from_bytes(KEK);
        let encoded = kek.to_base64url();
        assert_eq!(encoded.len(), 43);
        let parsed = KeyEncryptionKey::parse_base64url(&format!("{encoded}\n")).expect("parses");
        assert_eq!(parsed.to_base64url(), encoded);
        let sealed = kek.seal(NONCE, SECRET, AD);
        assert_eq!(parsed.open(&sealed, AD), Ok(SECRET.to_vec()));
        assert_eq!(format!("{kek:?}"), "KeyEncryptionKey(<redacted>)");
        for bad in [
            "",
            "short",
            &encoded[..42],
            &format!("{encoded}A"),
            &format!("{encoded}="),
            &encoded.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1),
            &"A".repeat(44),
            "a key with spaces in it that is long enough",
        ] {
            let err = KeyEncryptionKey::parse_base64url(bad).expect_err(bad);
            assert_eq!(err, KekError::Malformed, "{bad:?}");
            assert!(err.to_string().contains("32 random bytes in base64url"));
        }
    }
}
