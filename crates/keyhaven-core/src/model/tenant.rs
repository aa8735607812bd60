use crate::display_name::DisplayName;
use crate::environment::EnvironmentSet;
use crate::ids::{OrganizationId, TenantId};
use crate::model::TokenLifetimes;
use crate::slug::Slug;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub organization_id: OrganizationId,
    pub slug: Slug,
    pub display_name: DisplayName,
    /// Environments switched on for every application of the tenant.
    pub environments: EnvironmentSet,
    pub lifetimes: TokenLifetimes,
    /// Bumped by every update; the API shows it as the etag.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
