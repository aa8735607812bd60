//! Request headers that more than one endpoint reads, read one way everywhere.

use axum::http::{HeaderMap, header};
use keyhaven_core::device_id::{DeviceId, DeviceIdError};

/// Names the client's device (design.md §4.5).
pub const DEVICE_ID: &str = "x-device-id";

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
/// case-insensitive). Another scheme, an empty token or a header that is not text is no
/// Bearer token at all: the caller challenges for one (RFC 6750 §3).
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Some(token.trim().to_owned()).filter(|t| !t.is_empty())
        }
        _ => None,
    }
}

/// The `x-device-id` header, if sent.
pub fn device_id(headers: &HeaderMap) -> Result<Option<DeviceId>, DeviceIdError> {
    headers
        .get(DEVICE_ID)
        .map(|value| {
            let text = value.to_str().map_err(|_| DeviceIdError::Character)?;
            DeviceId::parse(text)
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_case_of_its_scheme() {
        assert_eq!(
            bearer_token(&with("authorization", "Bearer abc")),
            Some("abc".into())
        );
        assert_eq!(
            bearer_token(&with("authorization", "bEaReR abc ")),
            Some("abc".into())
        );
        assert_eq!(bearer_token(&with("authorization", "Bearer ")), None);
        assert_eq!(bearer_token(&with("authorization", "Basic abc")), None);
        assert_eq!(bearer_token(&with("authorization", "Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_device_id_header_is_optional_and_parsed() {
        assert_eq!(device_id(&HeaderMap::new()), Ok(None));
        assert_eq!(
            device_id(&with(DEVICE_ID, "phone-1")).map(|d| d.map(DeviceId::into_string)),
            Ok(Some("phone-1".into()))
        );
        assert_eq!(
            device_id(&with(DEVICE_ID, &"d".repeat(73))),
            Err(DeviceIdError::TooLong)
        );
        let mut opaque = HeaderMap::new();
        opaque.insert(DEVICE_ID, HeaderValue::from_bytes(b"\xff").expect("bytes"));
        assert_eq!(device_id(&opaque), Err(DeviceIdError::Character));
    }
}
