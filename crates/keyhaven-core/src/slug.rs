//! Slugs name organizations and tenants in resource names and in issuer URLs
//! (`/t/{tenant}`), so they are restricted to what is safe and unambiguous in a URL path.

use std::fmt;

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must not be empty")]
    Empty,
    #[error("must be between {MIN_LEN} and {MAX_LEN} characters long (got {0})")]
    Length(usize),
    #[error(
        "may contain only lowercase letters a-z, digits and '-' (found {0:?}); slugs appear in URLs"
    )]
    Character(char),
    #[error("must start with a lowercase letter")]
    Start,
    #[error("must not end with '-'")]
    End,
    #[error("must not contain '--'")]
    DoubleHyphen,
}

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        if raw.is_empty() {
            return Err(SlugError::Empty);
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(SlugError::Character(c));
        }
        // Only ASCII remains, so the byte length is the character count.
        if !(MIN_LEN..=MAX_LEN).contains(&raw.len()) {
            return Err(SlugError::Length(raw.len()));
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(SlugError::Start);
        }
        if raw.ends_with('-') {
            return Err(SlugError::End);
        }
        if raw.contains("--") {
            return Err(SlugError::DoubleHyphen);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_url_safe_rules() {
        let cases: &[(&str, Result<(), SlugError>)] = &[
            ("acme", Ok(())),
            ("acme-prod-2", Ok(())),
            ("a1b", Ok(())),
            ("", Err(SlugError::Empty)),
            ("ab", Err(SlugError::Length(2))),
            (&"a".repeat(64), Err(SlugError::Length(64))),
            ("Acme", Err(SlugError::Character('A'))),
            ("acme corp", Err(SlugError::Character(' '))),
            ("acme/../x", Err(SlugError::Character('/'))),
            ("acmé", Err(SlugError::Character('é'))),
            ("1acme", Err(SlugError::Start)),
            ("-acme", Err(SlugError::Start)),
            ("acme-", Err(SlugError::End)),
            ("ac--me", Err(SlugError::DoubleHyphen)),
        ];
        for (raw, expected) in cases {
            assert_eq!(Slug::parse(raw).map(|_| ()), *expected, "slug {raw:?}");
        }
    }
}
