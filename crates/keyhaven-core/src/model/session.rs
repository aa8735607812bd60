use crate::ids::TenantId;
use crate::time::Timestamp;

/// A browser session at a tenant: who signed in, when and how. Its id is the `sid` of
/// the tokens issued in it; the browser holds a separate secret (the session cookie),
/// because a `sid` travels in ID tokens and must not be enough to act as the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: Timestamp,
    /// Authentication methods (RFC 8176), such as `pwd`.
    pub amr: Vec<String>,
    pub expires_at: Timestamp,
    /// Set by sign-out; an ended session is never live again.
    pub ended_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Session {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}
