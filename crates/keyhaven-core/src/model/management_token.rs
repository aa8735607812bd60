use crate::ids::{OrganizationId, TenantId};
use crate::permission::PermissionSet;
use crate::slug::Slug;
use crate::time::Timestamp;

/// A bearer token of the control plane. Without a tenant it is an organization token
/// and reaches every tenant of its organization; with one it is a service token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementToken {
    pub id: String,
    pub organization_id: OrganizationId,
    pub organization_slug: Slug,
    /// The tenant of a service token, with its slug for resource names.
    pub tenant: Option<(TenantId, Slug)>,
    pub display_name: String,
    pub permissions: PermissionSet,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl ManagementToken {
    /// Whether the token may still be used at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// `organizations/{org}/managementTokens/{id}` or `tenants/{t}/managementTokens/{id}`.
    pub fn resource_name(&self) -> String {
        match &self.tenant {
            Some((_, slug)) => format!("tenants/{slug}/managementTokens/{}", self.id),
            None => format!(
                "organizations/{}/managementTokens/{}",
                self.organization_slug, self.id
            ),
        }
    }
}
