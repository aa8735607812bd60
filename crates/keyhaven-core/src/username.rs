//! Usernames and e-mail addresses of a tenant's users.

use std::fmt;

pub const MAX_USERNAME: usize = 64;
pub const MAX_EMAIL: usize = 254;

/// A username, lowercased: `Alice` and `alice` are one user, as people expect when they
/// type it on a sign-in page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_USERNAME} characters long")]
    TooLong,
    #[error("may contain only letters a-z, digits and . _ - @ + (found {0:?})")]
    Character(char),
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        if raw.is_empty() {
            return Err(UsernameError::Empty);
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
        {
            return Err(UsernameError::Character(c));
        }
        if raw.len() > MAX_USERNAME {
            return Err(UsernameError::TooLong);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked for shape only: delivery is the only real test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("must be at most {MAX_EMAIL} characters long")]
    TooLong,
    #[error("must look like name@domain.example, without spaces")]
    Shape,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        if raw.len() > MAX_EMAIL {
            return Err(EmailError::TooLong);
        }
        let shaped = raw.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
        if !shaped || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Shape);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(
            Username::parse("Alice.Smith").map(|u| u.to_string()),
            Ok("alice.smith".into())
        );
        assert_eq!(
            Username::parse("bob+test@example.com").map(|u| u.to_string()),
            Ok("bob+test@example.com".into())
        );
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse("al ice"),
            Err(UsernameError::Character(' '))
        );
        assert_eq!(Username::parse("ålice"), Err(UsernameError::Character('å')));
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn emails_are_checked_for_shape() {
        for ok in ["alice@example.com", "a.b+c@sub.example.co.uk"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "a@b@example.com",
            "alice@.example.com",
        ] {
            assert_eq!(
                Email::parse(bad).map(|_| ()),
                Err(EmailError::Shape),
                "{bad:?}"
            );
        }
    }
}
