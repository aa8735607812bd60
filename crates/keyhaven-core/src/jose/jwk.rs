use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{JoseError, SigningAlgorithm};

/// The public half of a signing key as JWKS publishes it (RFC 7517 §4, RFC 7518 §6,
/// RFC 8037 §2). Members are base64url strings without padding: `n` and `e` for RSA,
/// `crv`, `x` and `y` for EC, `crv` and `x` for OKP. It never holds private members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    pub alg: SigningAlgorithm,
    /// Always `alg.key_type()`.
    pub kty: String,
    pub crv: Option<String>,
    pub x: Option<String>,
    pub y: Option<String>,
    pub n: Option<String>,
    pub e: Option<String>,
}

/// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// RSA moduli below 2048 bits are refused (RFC 7518 §3.3).
const MIN_RSA_MODULUS_BYTES: usize = 256;
const MAX_RSA_MODULUS_BYTES: usize = 1024;

impl PublicJwk {
    /// An RS256 key from its modulus and public exponent (big-endian, unsigned).
    pub fn rsa(kid: &str, modulus: &[u8], exponent: &[u8]) -> Self {
        Self {
            n: Some(URL_SAFE_NO_PAD.encode(strip_leading_zeros(modulus))),
            e: Some(URL_SAFE_NO_PAD.encode(strip_leading_zeros(exponent))),
            ..Self::empty(kid, SigningAlgorithm::Rs256)
        }
    }

    /// An ES256 key from its uncompressed point `0x04 || x || y` (SEC 1 §2.3.3).
    pub fn p256(kid: &str, uncompressed_point: &[u8]) -> Result<Self, JoseError> {
        match uncompressed_point {
            [0x04, coordinates @ ..] if coordinates.len() == 64 => {
                let (x, y) = coordinates.split_at(32);
                Ok(Self {
                    x: Some(URL_SAFE_NO_PAD.encode(x)),
                    y: Some(URL_SAFE_NO_PAD.encode(y)),
                    ..Self::empty(kid, SigningAlgorithm::Es256)
                })
            }
            _ => Err(JoseError::InvalidJwk(
                "a P-256 public key is a 65-byte uncompressed point".into(),
            )),
        }
    }

    /// An EdDSA key from its 32-byte Ed25519 public key.
    pub fn ed25519(kid: &str, public_key: &[u8]) -> Result<Self, JoseError> {
        if public_key.len() != 32 {
            return Err(JoseError::InvalidJwk(
                "an Ed25519 public key is 32 bytes".into(),
            ));
        }
        Ok(Self {
            x: Some(URL_SAFE_NO_PAD.encode(public_key)),
            ..Self::empty(kid, SigningAlgorithm::EdDsa)
        })
    }

    fn empty(kid: &str, alg: SigningAlgorithm) -> Self {
        Self {
            kid: kid.to_owned(),
            alg,
            kty: alg.key_type().to_owned(),
            crv: alg.curve().map(str::to_owned),
            x: None,
            y: None,
            n: None,
            e: None,
        }
    }

    /// The JWK as JWKS publishes it, with `"use": "sig"`, `alg` and `kid`.
    pub fn to_json(&self) -> Value {
        let mut jwk = json!({
            "kty": self.kty,
            "use": "sig",
            "alg": self.alg.as_str(),
            "kid": self.kid,
        });
        if let Value::Object(members) = &mut jwk {
            for (name, value) in [
                ("crv", &self.crv),
                ("x", &self.x),
                ("y", &self.y),
                ("n", &self.n),
                ("e", &self.e),
            ] {
                if let Some(value) = value {
                    members.insert(name.to_owned(), Value::String(value.clone()));
                }
            }
        }
        jwk
    }

    /// Parses a public signing JWK of one of our algorithms. Refuses private members,
    /// keys for another use, and members of the wrong size for the key type.
    pub fn from_json(value: &Value) -> Result<Self, JoseError> {
        let invalid = |why: String| JoseError::InvalidJwk(why);
        let members = value
            .as_object()
            .ok_or_else(|| invalid("must be a JSON object".into()))?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| members.contains_key(**m)) {
            return Err(invalid(format!(
                "holds the private member {private:?}; only public keys are accepted"
            )));
        }
        let text = |name: &str| -> Result<Option<String>, JoseError> {
            match members.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{name} must be a string"))),
            }
        };
        let required =
            |name: &str| text(name)?.ok_or_else(|| invalid(format!("{name} is required")));
        let alg_name = required("alg")?;
        let alg = SigningAlgorithm::parse(&alg_name)
            .ok_or_else(|| invalid(format!("alg {alg_name:?} is not RS256, ES256 or EdDSA")))?;
        let kid = required("kid")?;
        if kid.is_empty() {
            return Err(invalid("kid must not be empty".into()));
        }
        if let Some(usage) = text("use")?
            && usage != "sig"
        {
            return Err(invalid(format!("use is {usage:?}, not \"sig\"")));
        }
        let kty = required("kty")?;
        if kty != alg.key_type() {
            return Err(invalid(format!(
                "kty {kty:?} does not fit alg {alg} (expected {:?})",
                alg.key_type()
            )));
        }
        let crv = text("crv")?;
        if crv.as_deref() != alg.curve() {
            return Err(invalid(format!(
                "crv {crv:?} does not fit alg {alg} (expected {:?})",
                alg.curve()
            )));
        }
        let jwk = Self {
            kid,
            alg,
            kty,
            crv,
            x: text("x")?,
            y: text("y")?,
            n: text("n")?,
            e: text("e")?,
        };
        jwk.check_key_members(members)?;
        Ok(jwk)
    }

    fn check_key_members(&self, members: &Map<String, Value>) -> Result<(), JoseError> {
        let decoded = |name: &str, value: &Option<String>| -> Result<Vec<u8>, JoseError> {
            let raw = value
                .as_deref()
                .ok_or_else(|| JoseError::InvalidJwk(format!("{name} is required")))?;
            URL_SAFE_NO_PAD.decode(raw).map_err(|_| {
                JoseError::InvalidJwk(format!("{name} must be base64url without padding"))
            })
        };
        let absent = |names: &[&str]| match names.iter().find(|n| members.contains_key(**n)) {
            Some(extra) => Err(JoseError::InvalidJwk(format!(
                "{extra} is not a member of a {} key",
                self.kty
            ))),
            None => Ok(()),
        };
        let sized = |name: &str, bytes: &[u8], len: usize| {
            if bytes.len() == len {
                Ok(())
            } else {
                Err(JoseError::InvalidJwk(format!(
                    "{name} must encode {len} bytes (got {})",
                    bytes.len()
                )))
            }
        };
        match self.alg {
            SigningAlgorithm::Rs256 => {
                absent(&["x", "y"])?;
                let n = decoded("n", &self.n)?;
                let e = decoded("e", &self.e)?;
                if !(MIN_RSA_MODULUS_BYTES..=MAX_RSA_MODULUS_BYTES).contains(&n.len())
                    || n.first() == Some(&0)
                {
                    return Err(JoseError::InvalidJwk(
                        "n must be a 2048- to 8192-bit modulus without leading zero bytes".into(),
                    ));
                }
                if e.is_empty() || e.len() > 8 || e.first() == Some(&0) {
                    return Err(JoseError::InvalidJwk(
                        "e must be a small public exponent without leading zero bytes".into(),
                    ));
                }
            }
            SigningAlgorithm::Es256 => {
                absent(&["n", "e"])?;
                sized("x", &decoded("x", &self.x)?, 32)?;
                sized("y", &decoded("y", &self.y)?, 32)?;
            }
            SigningAlgorithm::EdDsa => {
                absent(&["n", "e", "y"])?;
                sized("x", &decoded("x", &self.x)?, 32)?;
            }
        }
        Ok(())
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa() -> PublicJwk {
        let mut modulus = vec![0u8];
        modulus.extend(std::iter::repeat_n(0xC5, 256));
        PublicJwk::rsa("k1", &modulus, &[0x01, 0x00, 0x01])
    }

    fn p256() -> PublicJwk {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        PublicJwk::p256("k2", &point).expect("valid point")
    }

    fn ed25519() -> PublicJwk {
        PublicJwk::ed25519("k3", &[9u8; 32]).expect("valid key")
    }

    #[test]
    fn public_jwks_round_trip_through_their_json_form() {
        for jwk in [rsa(), p256(), ed25519()] {
            let json = jwk.to_json();
            assert_eq!(json["use"], "sig");
            assert_eq!(json["alg"], jwk.alg.as_str());
            assert_eq!(json["kid"], jwk.kid.as_str());
            assert_eq!(json["kty"], jwk.alg.key_type());
            assert_eq!(PublicJwk::from_json(&json), Ok(jwk));
        }
        let rsa = rsa();
        assert_eq!(
            rsa.e.as_deref(),
            Some("AQAB"),
            "the exponent is minimal base64url"
        );
        assert_eq!(
            rsa.n
                .as_deref()
                .map(|n| URL_SAFE_NO_PAD.decode(n).expect("b64").len()),
            Some(256),
            "a leading zero byte of the modulus is dropped"
        );
        assert!(p256().to_json().get("n").is_none());
        assert_eq!(ed25519().to_json()["crv"], "Ed25519");
    }

    #[test]
    fn malformed_private_and_mismatched_jwks_are_refused() {
        let with = |jwk: PublicJwk, change: &dyn Fn(&mut Map<String, Value>)| {
            let mut json = jwk.to_json();
            if let Value::Object(members) = &mut json {
                change(members);
            }
            json
        };
        let set = |name: &'static str, value: Value| {
            move |m: &mut Map<String, Value>| {
                m.insert(name.to_owned(), value.clone());
            }
        };
        let remove = |name: &'static str| {
            move |m: &mut Map<String, Value>| {
                m.remove(name);
            }
        };
        let cases: Vec<(&str, Value, &str)> = vec![
            ("not an object", json!(["RSA"]), "JSON object"),
            (
                "private RSA member",
                with(rsa(), &set("d", json!("AAAA"))),
                "private member \"d\"",
            ),
            (
                "private prime",
                with(rsa(), &set("p", json!("AAAA"))),
                "private member \"p\"",
            ),
            (
                "private EC scalar",
                with(p256(), &set("d", json!("AAAA"))),
                "private member",
            ),
            (
                "symmetric key",
                with(ed25519(), &set("k", json!("AAAA"))),
                "private member",
            ),
            (
                "unknown alg",
                with(rsa(), &set("alg", json!("RS512"))),
                "not RS256",
            ),
            (
                "alg none",
                with(rsa(), &set("alg", json!("none"))),
                "not RS256",
            ),
            (
                "missing alg",
                with(rsa(), &remove("alg")),
                "alg is required",
            ),
            (
                "missing kid",
                with(rsa(), &remove("kid")),
                "kid is required",
            ),
            (
                "empty kid",
                with(rsa(), &set("kid", json!(""))),
                "kid must not be empty",
            ),
            (
                "encryption key",
                with(rsa(), &set("use", json!("enc"))),
                "not \"sig\"",
            ),
            (
                "kty of another alg",
                with(rsa(), &set("kty", json!("EC"))),
                "does not fit",
            ),
            (
                "wrong curve",
                with(p256(), &set("crv", json!("P-384"))),
                "does not fit",
            ),
            (
                "curve on RSA",
                with(rsa(), &set("crv", json!("P-256"))),
                "does not fit",
            ),
            (
                "short modulus",
                with(rsa(), &set("n", json!("AQAB"))),
                "2048- to 8192-bit",
            ),
            (
                "padded base64",
                with(rsa(), &set("e", json!("AQAB="))),
                "base64url",
            ),
            (
                "standard base64",
                with(p256(), &set("x", json!("+/+/"))),
                "base64url",
            ),
            (
                "short coordinate",
                with(p256(), &set("y", json!("AAAA"))),
                "32 bytes",
            ),
            (
                "missing coordinate",
                with(p256(), &remove("y")),
                "y is required",
            ),
            (
                "y on Ed25519",
                with(ed25519(), &set("y", json!("AAAA"))),
                "not a member",
            ),
            (
                "short Ed25519 key",
                with(ed25519(), &set("x", json!("AAAA"))),
                "32 bytes",
            ),
            (
                "number member",
                with(ed25519(), &set("x", json!(7))),
                "must be a string",
            ),
        ];
        for (case, json, expected) in cases {
            let err = PublicJwk::from_json(&json).expect_err(case).to_string();
            assert!(err.contains(expected), "{case}: {err}");
        }
        assert!(PublicJwk::p256("k", &[0x04; 64]).is_err());
        assert!(PublicJwk::ed25519("k", &[1; 31]).is_err());
    }
}
