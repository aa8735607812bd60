//! Resource names of the control plane (AIP-122), parsed at the door.

use keyhaven_core::{ClientId, Slug};

use crate::error::AdminError;

/// `organizations/{org}`
pub fn organization(field: &str, raw: &str) -> Result<Slug, AdminError> {
    single(field, raw, "organizations", "organizations/{organization}")
}

/// `tenants/{tenant}`
pub fn tenant(field: &str, raw: &str) -> Result<Slug, AdminError> {
    single(field, raw, "tenants", "tenants/{tenant}")
}

fn single(field: &str, raw: &str, collection: &str, shape: &str) -> Result<Slug, AdminError> {
    let invalid = || {
        AdminError::invalid(
            field,
            format!("must be a resource name of the form {shape} (got {raw:?})"),
        )
    };
    match raw.split('/').collect::<Vec<_>>().as_slice() {
        [c, slug] if *c == collection => Slug::parse(slug).map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// `tenants/{tenant}/applications/{client_id}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationName {
    pub tenant: Slug,
    pub client_id: ClientId,
}

impl ApplicationName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        let invalid = || {
            AdminError::invalid(
                field,
                format!(
                    "must be a resource name of the form tenants/{{tenant}}/applications/{{client_id}} (got {raw:?})"
                ),
            )
        };
        match raw.split('/').collect::<Vec<_>>().as_slice() {
            ["tenants", tenant, "applications", client_id] => Ok(Self {
                tenant: Slug::parse(tenant).map_err(|_| invalid())?,
                client_id: ClientId::parse(client_id).map_err(|_| invalid())?,
            }),
            _ => Err(invalid()),
        }
    }
}

/// `tenants/{tenant}/applications/{client_id}/redirectUris/{id}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUriName {
    pub application: ApplicationName,
    pub id: String,
}

impl RedirectUriName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        let invalid = || {
            AdminError::invalid(
                field,
                format!(
                    "must be a resource name of the form tenants/{{tenant}}/applications/{{client_id}}/redirectUris/{{id}} (got {raw:?})"
                ),
            )
        };
        let (app, id) = raw.rsplit_once("/redirectUris/").ok_or_else(invalid)?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        Ok(Self {
            application: ApplicationName::parse(field, app).map_err(|_| invalid())?,
            id: id.to_owned(),
        })
    }
}

/// `tenants/{tenant}/users/{id}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName {
    pub tenant: Slug,
    pub id: String,
}

impl UserName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        let invalid = || {
            AdminError::invalid(
                field,
                format!(
                    "must be a resource name of the form tenants/{{tenant}}/users/{{id}} (got {raw:?})"
                ),
            )
        };
        match raw.split('/').collect::<Vec<_>>().as_slice() {
            ["tenants", tenant, "users", id]
                if !id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Ok(Self {
                    tenant: Slug::parse(tenant).map_err(|_| invalid())?,
                    id: (*id).to_owned(),
                })
            }
            _ => Err(invalid()),
        }
    }
}

/// `tenants/{tenant}/sessions/{sid}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionName {
    pub tenant: Slug,
    pub id: String,
}

impl SessionName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        let invalid = || {
            AdminError::invalid(
                field,
                format!(
                    "must be a resource name of the form tenants/{{tenant}}/sessions/{{sid}} (got {raw:?})"
                ),
            )
        };
        match raw.split('/').collect::<Vec<_>>().as_slice() {
            ["tenants", tenant, "sessions", id] => Ok(Self {
                tenant: Slug::parse(tenant).map_err(|_| invalid())?,
                id: session_id(id).ok_or_else(invalid)?,
            }),
            _ => Err(invalid()),
        }
    }
}

/// A `sid` as Keyhaven issues them: up to 128 URL-safe characters. Anything else cannot
/// name a session, so it is refused before a lookup.
pub fn session_id(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| raw.to_owned())
}

/// The owner of management tokens: an organization or one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenParent {
    Organization(Slug),
    Tenant(Slug),
}

impl TokenParent {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        if raw.starts_with("organizations/") {
            organization(field, raw).map(Self::Organization)
        } else {
            tenant(field, raw).map(Self::Tenant).map_err(|_| {
                AdminError::invalid(
                    field,
                    format!(
                        "must be organizations/{{organization}} or tenants/{{tenant}} (got {raw:?})"
                    ),
                )
            })
        }
    }
}

/// `organizations/{org}/managementTokens/{id}` or `tenants/{tenant}/managementTokens/{id}`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName {
    pub parent: TokenParent,
    pub id: String,
}

impl TokenName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AdminError> {
        let invalid = || {
            AdminError::invalid(
                field,
                format!(
                    "must be organizations/{{organization}}/managementTokens/{{id}} or tenants/{{tenant}}/managementTokens/{{id}} (got {raw:?})"
                ),
            )
        };
        let (parent, id) = raw.rsplit_once("/managementTokens/").ok_or_else(invalid)?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        Ok(Self {
            parent: TokenParent::parse(field, parent).map_err(|_| invalid())?,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_parse_only_in_their_own_shape() {
        assert_eq!(
            tenant("name", "tenants/acme").map(|s| s.to_string()).ok(),
            Some("acme".into())
        );
        for bad in [
            "acme",
            "tenants/",
            "tenants/Acme",
            "tenants/acme/x",
            "organizations/acme",
            "",
        ] {
            assert!(tenant("name", bad).is_err(), "{bad:?}");
        }
        let app =
            ApplicationName::parse("name", "tenants/acme/applications/abc123").expect("valid");
        assert_eq!(
            (app.tenant.as_str(), app.client_id.as_str()),
            ("acme", "abc123")
        );
        assert!(ApplicationName::parse("name", "tenants/acme/applications/").is_err());
        assert!(ApplicationName::parse("name", "tenants/acme/apps/abc").is_err());
        let uri = RedirectUriName::parse("name", "tenants/acme/applications/abc/redirectUris/0f9a")
            .expect("valid");
        assert_eq!(uri.id, "0f9a");
        assert!(
            RedirectUriName::parse("name", "tenants/acme/applications/abc/redirectUris/../x")
                .is_err()
        );
        let token =
            TokenName::parse("name", "organizations/default/managementTokens/01ab").expect("valid");
        assert_eq!(
            token.parent,
            TokenParent::Organization(Slug::parse("default").expect("slug"))
        );
        assert!(TokenName::parse("name", "tenants/acme/managementTokens/").is_err());
    }

    #[test]
    fn session_names_carry_a_sid_as_keyhaven_issues_them() {
        let name = SessionName::parse("name", "tenants/acme/sessions/q3-Z_x9").expect("valid");
        assert_eq!(
            (name.tenant.as_str(), name.id.as_str()),
            ("acme", "q3-Z_x9")
        );
        for bad in [
            "tenants/acme/sessions/",
            "tenants/acme/sessions/a b",
            "tenants/acme/sessions/a/b",
            "tenants/acme/users/u1",
        ] {
            assert!(SessionName::parse("name", bad).is_err(), "{bad:?}");
        }
        assert_eq!(session_id(&"x".repeat(129)), None);
    }
}
