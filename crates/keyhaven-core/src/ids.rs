//! Internal row identifiers. They never appear in URLs or resource names (slugs and
//! client ids do), so a leaked id reveals nothing and renaming never breaks a link.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An organization's row id.
    OrganizationId
);
id_type!(
    /// A tenant's row id; every tenant-owned row carries it.
    TenantId
);
id_type!(
    /// An application's row id (its public identifier is the client id).
    ApplicationId
);
