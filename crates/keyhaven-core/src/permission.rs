//! What a management token may do: `<resource kind>.<access>` pairs such as
//! `applications.write`. The admin crate's RPC table says which one each call needs.

use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    OrganizationsRead,
    TenantsRead,
    TenantsWrite,
    ApplicationsRead,
    ApplicationsWrite,
    ManagementTokensRead,
    ManagementTokensWrite,
    AuditRead,
    UsersRead,
    UsersWrite,
    SigningKeysRead,
    SigningKeysWrite,
    SessionsRead,
    SessionsWrite,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Self::OrganizationsRead,
        Self::TenantsRead,
        Self::TenantsWrite,
        Self::ApplicationsRead,
        Self::ApplicationsWrite,
        Self::ManagementTokensRead,
        Self::ManagementTokensWrite,
        Self::AuditRead,
        Self::UsersRead,
        Self::UsersWrite,
        Self::SigningKeysRead,
        Self::SigningKeysWrite,
        Self::SessionsRead,
        Self::SessionsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationsRead => "organizations.read",
            Self::TenantsRead => "tenants.read",
            Self::TenantsWrite => "tenants.write",
            Self::ApplicationsRead => "applications.read",
            Self::ApplicationsWrite => "applications.write",
            Self::ManagementTokensRead => "management_tokens.read",
            Self::ManagementTokensWrite => "management_tokens.write",
            Self::AuditRead => "audit.read",
            Self::UsersRead => "users.read",
            Self::UsersWrite => "users.write",
            Self::SigningKeysRead => "signing_keys.read",
            Self::SigningKeysWrite => "signing_keys.write",
            Self::SessionsRead => "sessions.read",
            Self::SessionsWrite => "sessions.write",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const WILDCARD: &str = "*";

/// The permissions a token holds. `*` holds every permission, including ones added by
/// later versions: it is what the bootstrap token gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionSet {
    all: bool,
    some: BTreeSet<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("at least one permission is required")]
    Empty,
    #[error("unknown permission {0:?}; expected '*' or one of: {list}", list = known_list())]
    Unknown(String),
    #[error("permission {0} is listed twice")]
    Duplicate(String),
}

fn known_list() -> String {
    Permission::ALL.map(Permission::as_str).join(", ")
}

impl PermissionSet {
    pub fn all() -> Self {
        Self {
            all: true,
            some: BTreeSet::new(),
        }
    }

    pub fn parse_list<S: AsRef<str>>(raw: &[S]) -> Result<Self, PermissionError> {
        if raw.is_empty() {
            return Err(PermissionError::Empty);
        }
        let mut set = Self::default();
        for item in raw {
            let item = item.as_ref();
            let fresh = if item == WILDCARD {
                !std::mem::replace(&mut set.all, true)
            } else {
                let permission =
                    Permission::parse(item).ok_or_else(|| PermissionError::Unknown(item.into()))?;
                set.some.insert(permission)
            };
            if !fresh {
                return Err(PermissionError::Duplicate(item.to_owned()));
            }
        }
        if set.all {
            set.some.clear();
        }
        Ok(set)
    }

    /// Reads what the store wrote; names unknown to this version are dropped.
    pub fn from_stored(raw: &str) -> Self {
        let mut set = Self::default();
        for item in raw.split(' ') {
            if item == WILDCARD {
                set.all = true;
            } else if let Some(p) = Permission::parse(item) {
                set.some.insert(p);
            }
        }
        set
    }

    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<String> {
        if self.all {
            vec![WILDCARD.to_owned()]
        } else {
            self.some.iter().map(|p| p.as_str().to_owned()).collect()
        }
    }

    pub fn allows(&self, permission: Permission) -> bool {
        self.all || self.some.contains(&permission)
    }

    /// Whether every permission of `other` is also held here: a token may only hand
    /// out what it holds itself.
    pub fn covers(&self, other: &PermissionSet) -> bool {
        self.all || (!other.all && other.some.is_subset(&self.some))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_lists_parse_and_check() {
        let set = PermissionSet::parse_list(&["tenants.read", "applications.write"]).expect("ok");
        assert!(set.allows(Permission::TenantsRead));
        assert!(!set.allows(Permission::TenantsWrite));
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
        assert_eq!(
            PermissionSet::parse_list(&["tenants.admin"]),
            Err(PermissionError::Unknown("tenants.admin".into()))
        );
        assert_eq!(
            PermissionSet::parse_list(&["tenants.read", "tenants.read"]),
            Err(PermissionError::Duplicate("tenants.read".into()))
        );
        assert_eq!(
            PermissionSet::parse_list::<&str>(&[]),
            Err(PermissionError::Empty)
        );
        let all = PermissionSet::parse_list(&["*"]).expect("ok");
        assert!(Permission::ALL.iter().all(|p| all.allows(*p)));
        assert_eq!(all.names(), vec!["*"]);
    }

    #[test]
    fn a_token_only_grants_what_it_holds() {
        let all = PermissionSet::all();
        let some = PermissionSet::parse_list(&["tenants.read", "applications.read"]).expect("ok");
        let one = PermissionSet::parse_list(&["tenants.read"]).expect("ok");
        let other = PermissionSet::parse_list(&["audit.read"]).expect("ok");
        assert!(all.covers(&some) && all.covers(&all));
        assert!(some.covers(&one) && some.covers(&some));
        assert!(!one.covers(&some));
        assert!(!some.covers(&other));
        assert!(!some.covers(&all));
    }
}
