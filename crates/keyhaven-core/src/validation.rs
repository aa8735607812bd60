//! The shape of a validation failure: which field broke which rule.
//!
//! Every parser in this crate reports its failure as a [`FieldViolation`] so that each
//! surface (gRPC `BadRequest`, OAuth `error_description`) can render it in its own form.

use std::fmt;

/// One broken rule on one field. `field` is a path such as `application.redirect_uris[2]`;
/// `description` names the rule in words a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A request that broke one or more rules; all of them are reported at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invalid {
    pub violations: Vec<FieldViolation>,
}

impl Invalid {
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            violations: vec![FieldViolation::new(field, description)],
        }
    }

    pub fn push(&mut self, field: impl Into<String>, description: impl ToString) {
        self.violations
            .push(FieldViolation::new(field, description.to_string()));
    }

    /// Keeps the parsed value, or records why it failed under `field`.
    pub fn check<T, E: ToString>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok(())` when nothing was recorded, so a parser can end with `invalid.finish()?`.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for v in &self.violations {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}
