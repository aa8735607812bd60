//! Form-encoded request bodies, read strictly: RFC 6749 section 3.1 forbids repeating a
//! parameter, and a parameter sent twice is a classic way to smuggle a second value
//! past one check and into another.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};

use crate::error::OAuthError;

/// A request's headers and body. Taking the headers as axum's `HeaderMap` extractor would
/// copy them (it sees the request only by reference); this takes them.
pub struct Posted {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Posted {
    type Rejection = <Bytes as FromRequest<S>>::Rejection;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = std::mem::take(request.headers_mut());
        // The body under the same limit as axum's `Bytes` extractor applies.
        let body = Bytes::from_request(request, state).await?;
        Ok(Self { headers, body })
    }
}

/// The parameters of an `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut params = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if params.insert(key.to_string(), value.to_string()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} is repeated (RFC 6749 section 3.1)"
                )));
            }
        }
        Ok(Self(params))
    }

    /// A parameter, with an empty value read as absent (RFC 6749 section 3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=UTF-8"
                .parse()
                .expect("header"),
        );
        headers
    }

    #[test]
    fn repeated_parameters_and_other_content_types_are_invalid_requests() {
        let params =
            Params::parse(&form(), b"grant_type=client_credentials&scope=&x=a%20b").expect("valid");
        assert_eq!(params.get("grant_type"), Some("client_credentials"));
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("x"), Some("a b"));
        assert!(Params::parse(&form(), b"scope=a&scope=b").is_err());
        let mut json = HeaderMap::new();
        json.insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        assert!(Params::parse(&json, b"{}").is_err());
        assert!(Params::parse(&HeaderMap::new(), b"a=b").is_err());
    }
}
