use crate::ids::{OrganizationId, TenantId};
use crate::slug::Slug;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub organization_id: OrganizationId,
    pub tenant: Option<(TenantId, Slug)>,
    /// Resource name of the management token that acted.
    pub actor: String,
    /// The RPC, such as `TenantService.CreateTenant`.
    pub action: String,
    pub target: String,
    /// `OK` or the name of the status the call failed with.
    pub outcome: String,
    pub created_at: Timestamp,
}

/// How a mutation ended, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditOutcome {
    Ok,
    Failed(&'static str),
}

impl AuditOutcome {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "OK",
            Self::Failed(code) => code,
        }
    }
}
