//! Human-readable names shown in consoles and on the sign-in page.

use std::fmt;

pub const MAX_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("must not be empty or only whitespace")]
    Empty,
    #[error("must be at most {MAX_CHARS} characters long (got {0})")]
    TooLong(usize),
    #[error("must not contain control characters such as newlines or tabs")]
    Control,
    #[error("must not start or end with whitespace")]
    Padded,
}

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, DisplayNameError> {
        if raw.trim().is_empty() {
            return Err(DisplayNameError::Empty);
        }
        if raw.trim() != raw {
            return Err(DisplayNameError::Padded);
        }
        let chars = raw.chars().count();
        if chars > MAX_CHARS {
            return Err(DisplayNameError::TooLong(chars));
        }
        if raw.chars().any(char::is_control) {
            return Err(DisplayNameError::Control);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_bounded_printable_text() {
        let cases: &[(&str, Result<(), DisplayNameError>)] = &[
            ("Acme Corp", Ok(())),
            ("Ünïcødé 株式会社", Ok(())),
            (&"x".repeat(100), Ok(())),
            (&"é".repeat(100), Ok(())),
            ("", Err(DisplayNameError::Empty)),
            ("   ", Err(DisplayNameError::Empty)),
            (" Acme", Err(DisplayNameError::Padded)),
            (&"x".repeat(101), Err(DisplayNameError::TooLong(101))),
            ("Acme\nCorp", Err(DisplayNameError::Control)),
            ("Acme\u{0}", Err(DisplayNameError::Control)),
        ];
        for (raw, expected) in cases {
            assert_eq!(DisplayName::parse(raw).map(|_| ()), *expected, "{raw:?}");
        }
    }
}
