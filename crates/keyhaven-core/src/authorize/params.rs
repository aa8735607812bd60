//! The raw parameters of an authorization request, from the query string (GET) or the
//! form body (POST, OIDC Core §3.1.2.1): read once, with repeats remembered rather than
//! silently resolved, because RFC 6749 §3.1 says parameters "MUST NOT be included more
//! than once" and which copy a check reads must never be a matter of luck.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string without `?`).
    pub fn parse(encoded: &str) -> Self {
        let mut params = Self::default();
        for (key, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
            match params.values.entry(key.into_owned()) {
                Entry::Vacant(slot) => {
                    slot.insert(value.into_owned());
                }
                Entry::Occupied(taken) => {
                    if !params.repeated.contains(taken.key()) {
                        params.repeated.push(taken.key().clone());
                    }
                }
            }
        }
        params
    }

    /// A parameter sent once, with an empty value read as absent (RFC 6749 §3.1).
    /// A repeated parameter has no value here: see [`Params::repeated`].
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.is_repeated(name) {
            return None;
        }
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }

    /// The names sent more than once, in the order first repeated.
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_and_empty_or_repeated_ones_are_absent() {
        let params = Params::parse("a=1&b=&c=x%20y+z&state=s1&state=s2&d=%2B%26%3D");
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y z"));
        assert_eq!(params.get("d"), Some("+&="));
        assert_eq!(params.get("state"), None);
        assert!(params.is_repeated("state"));
        assert_eq!(params.repeated(), ["state".to_owned()]);
        assert_eq!(params.get("missing"), None);
        assert_eq!(Params::parse(""), Params::default());
    }
}
