//! Just enough DER (X.690) to read a PKCS#8 `PrivateKeyInfo` (RFC 5208, RFC 5958 §2): which
//! algorithm a key is for, so that a key of another kind is refused with a reason.

use super::{JoseError, SigningAlgorithm};

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OBJECT_IDENTIFIER: u8 = 0x06;

/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// 1.2.840.10045.3.1.7
const PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// 1.3.101.112
const ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// Checks that `der` is a PKCS#8 key of `alg` and returns the `privateKey` octets.
pub(super) fn private_key(alg: SigningAlgorithm, der: &[u8]) -> Result<&[u8], JoseError> {
    let invalid = |why: &str| JoseError::InvalidPrivateKey(alg, why.to_owned());
    let (info, rest) = element(der, SEQUENCE).ok_or_else(|| invalid("not a DER SEQUENCE"))?;
    if !rest.is_empty() {
        return Err(invalid("trailing bytes after the key"));
    }
    let (version, info) = element(info, INTEGER).ok_or_else(|| invalid("no version"))?;
    if version != [0] && version != [1] {
        return Err(invalid("unknown PKCS#8 version"));
    }
    let (algorithm, info) =
        element(info, SEQUENCE).ok_or_else(|| invalid("no algorithm identifier"))?;
    let (oid, parameters) =
        element(algorithm, OBJECT_IDENTIFIER).ok_or_else(|| invalid("no algorithm OID"))?;
    let (key, _attributes_and_public_key) =
        element(info, OCTET_STRING).ok_or_else(|| invalid("no private key octets"))?;
    let fits = match alg {
        SigningAlgorithm::Rs256 => oid == RSA_ENCRYPTION,
        SigningAlgorithm::Es256 => {
            oid == EC_PUBLIC_KEY
                && element(parameters, OBJECT_IDENTIFIER)
                    .is_some_and(|(curve, _)| curve == PRIME256V1)
        }
        SigningAlgorithm::EdDsa => oid == ED25519,
    };
    if fits {
        Ok(key)
    } else {
        Err(invalid("it is a key of another algorithm"))
    }
}

/// Reads one definite-length element with `tag`: its contents and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, input) = input.split_first()?;
    let (len, input) = match first {
        0..=0x7F => (usize::from(first), input),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            if input.len() < count {
                return None;
            }
            let (bytes, input) = input.split_at(count);
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, input)
        }
        _ => return None,
    };
    (input.len() >= len).then(|| input.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            len @ 0..=0x7F => out.push(len as u8),
            len @ 0x80..=0xFF => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    fn pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
        let mut info = tlv(INTEGER, &[0]);
        info.extend(tlv(SEQUENCE, algorithm));
        info.extend(tlv(OCTET_STRING, key));
        tlv(SEQUENCE, &info)
    }

    fn rsa_algorithm() -> Vec<u8> {
        let mut alg = tlv(OBJECT_IDENTIFIER, RSA_ENCRYPTION);
        alg.extend([0x05, 0x00]);
        alg
    }

    fn ec_algorithm(curve: &[u8]) -> Vec<u8> {
        let mut alg = tlv(OBJECT_IDENTIFIER, EC_PUBLIC_KEY);
        alg.extend(tlv(OBJECT_IDENTIFIER, curve));
        alg
    }

    #[test]
    fn the_private_key_of_the_expected_algorithm_is_found() {
        let long_key = vec![0xAB; 300];
        let rsa = pkcs8(&rsa_algorithm(), &long_key);
        assert_eq!(
            private_key(SigningAlgorithm::Rs256, &rsa),
            Ok(long_key.as_slice())
        );
        let ec = pkcs8(&ec_algorithm(PRIME256V1), &[1, 2, 3]);
        assert_eq!(
            private_key(SigningAlgorithm::Es256, &ec),
            Ok(&[1u8, 2, 3][..])
        );
        let ed = pkcs8(&tlv(OBJECT_IDENTIFIER, ED25519), &[4; 34]);
        assert_eq!(
            private_key(SigningAlgorithm::EdDsa, &ed),
            Ok(&[4u8; 34][..])
        );
    }

    #[test]
    fn keys_of_other_algorithms_and_malformed_der_are_refused() {
        let rsa = pkcs8(&rsa_algorithm(), &[1; 10]);
        let p384 = pkcs8(&ec_algorithm(&[0x2B, 0x81, 0x04, 0x00, 0x22]), &[1; 10]);
        let ed = pkcs8(&tlv(OBJECT_IDENTIFIER, ED25519), &[4; 34]);
        let mut trailing = ed.clone();
        trailing.push(0);
        let cases: Vec<(SigningAlgorithm, &[u8])> = vec![
            (SigningAlgorithm::Es256, &rsa),
            (SigningAlgorithm::EdDsa, &rsa),
            (SigningAlgorithm::Rs256, &ed),
            (SigningAlgorithm::Es256, &p384),
            (SigningAlgorithm::EdDsa, &trailing),
            (SigningAlgorithm::EdDsa, &ed[..ed.len() - 1]),
            (SigningAlgorithm::Rs256, &rsa[..3]),
            (SigningAlgorithm::Rs256, &[]),
            (SigningAlgorithm::Rs256, &[0x30, 0x80, 0x00, 0x00]),
            (SigningAlgorithm::Rs256, b"-----BEGIN PRIVATE KEY-----"),
        ];
        for (alg, der) in cases {
            assert!(private_key(alg, der).is_err(), "{alg} {der:02x?}");
        }
    }
}
