//! OAuth scopes (RFC 6749 §3.3).

use std::fmt;

pub const MAX_LEN: usize = 128;
pub const MAX_COUNT: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("a scope must not be empty")]
    Empty,
    #[error("a scope must be at most {MAX_LEN} characters long (got {0})")]
    TooLong(usize),
    #[error(
        "scope {0:?} contains a character outside RFC 6749 §3.3 (printable ASCII except space, '\"' and '\\')"
    )]
    Character(String),
    #[error("scope {0:?} is listed twice")]
    Duplicate(String),
    #[error("at most {MAX_COUNT} scopes may be listed (got {0})")]
    TooMany(usize),
}

impl Scope {
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.is_empty() {
            return Err(ScopeError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(ScopeError::TooLong(raw.chars().count()));
        }
        let allowed = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
        if !raw.bytes().all(allowed) {
            return Err(ScopeError::Character(raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Scopes in the order they were given, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Parses a list as an admin gives it: a duplicate is a mistake worth reporting.
    pub fn parse_list<S: AsRef<str>>(raw: &[S]) -> Result<Self, ScopeError> {
        if raw.len() > MAX_COUNT {
            return Err(ScopeError::TooMany(raw.len()));
        }
        let mut scopes: Vec<Scope> = Vec::with_capacity(raw.len());
        for item in raw {
            let scope = Scope::parse(item.as_ref())?;
            if scopes.contains(&scope) {
                return Err(ScopeError::Duplicate(scope.0));
            }
            scopes.push(scope);
        }
        Ok(Self(scopes))
    }

    /// Parses the space-delimited form of the OAuth `scope` parameter.
    pub fn parse_delimited(raw: &str) -> Result<Self, ScopeError> {
        let items: Vec<&str> = raw.split(' ').filter(|s| !s.is_empty()).collect();
        Self::parse_list(&items)
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// RFC 6749 §3.3 and §6: the scopes of a `scope` parameter, each within `self`
    /// (what the client may have, or what the original grant had); without a parameter,
    /// all of `self`.
    pub fn narrowed(&self, requested: Option<&str>) -> Result<ScopeSet, NarrowError> {
        let Some(requested) = requested else {
            return Ok(self.clone());
        };
        let requested = ScopeSet::parse_delimited(requested).map_err(NarrowError::Malformed)?;
        if let Some(extra) = requested.iter().find(|s| !self.contains(s.as_str())) {
            return Err(NarrowError::NotAllowed(extra.clone()));
        }
        Ok(requested)
    }

    /// The set without `scope`.
    pub fn without(mut self, scope: &str) -> Self {
        self.0.retain(|s| s.as_str() != scope);
        self
    }

    pub fn to_delimited(&self) -> String {
        self.0
            .iter()
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarrowError {
    #[error(transparent)]
    Malformed(ScopeError),
    #[error("scope {0} is not allowed here")]
    NotAllowed(Scope),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_scope_narrows_within_what_is_allowed() {
        let allowed = ScopeSet::parse_list(&["openid", "profile"]).expect("valid");
        assert_eq!(allowed.narrowed(None), Ok(allowed.clone()));
        assert_eq!(
            allowed.narrowed(Some("openid")).map(|s| s.to_delimited()),
            Ok("openid".to_owned())
        );
        assert!(matches!(
            allowed.narrowed(Some("openid email")),
            Err(NarrowError::NotAllowed(s)) if s.as_str() == "email"
        ));
        assert!(matches!(
            allowed.narrowed(Some("a\"b")),
            Err(NarrowError::Malformed(_))
        ));
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        let cases: &[(&str, Result<(), ScopeError>)] = &[
            ("openid", Ok(())),
            ("api:read", Ok(())),
            ("https://api.example.com/orders.read", Ok(())),
            ("", Err(ScopeError::Empty)),
            ("has space", Err(ScopeError::Character("has space".into()))),
            ("quote\"", Err(ScopeError::Character("quote\"".into()))),
            (
                "back\\slash",
                Err(ScopeError::Character("back\\slash".into())),
            ),
            ("ünïcode", Err(ScopeError::Character("ünïcode".into()))),
        ];
        for (raw, expected) in cases {
            assert_eq!(Scope::parse(raw).map(|_| ()), *expected, "{raw:?}");
        }
        assert_eq!(
            Scope::parse(&"s".repeat(129)).map(|_| ()),
            Err(ScopeError::TooLong(129))
        );
    }

    #[test]
    fn scope_lists_reject_duplicates_and_excess() {
        assert_eq!(
            ScopeSet::parse_list(&["openid", "email", "openid"]),
            Err(ScopeError::Duplicate("openid".into()))
        );
        let many: Vec<String> = (0..=MAX_COUNT).map(|i| format!("s{i}")).collect();
        assert_eq!(
            ScopeSet::parse_list(&many),
            Err(ScopeError::TooMany(MAX_COUNT + 1))
        );
        let set = ScopeSet::parse_delimited("openid  profile email").expect("valid");
        assert_eq!(set.to_delimited(), "openid profile email");
        assert!(set.contains("profile"));
    }
}
