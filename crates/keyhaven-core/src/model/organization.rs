use crate::ids::OrganizationId;
use crate::slug::Slug;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub slug: Slug,
    pub display_name: String,
    pub created_at: Timestamp,
}
