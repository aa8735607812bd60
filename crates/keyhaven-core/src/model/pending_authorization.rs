use crate::authorize::AuthorizationRequest;
use crate::ids::{ApplicationId, TenantId};
use crate::opaque::OpaqueDigest;
use crate::time::Timestamp;

/// A checked authorization request waiting for the user: kept server-side while the
/// browser goes through the sign-in and consent pages, and bound to the browser that
/// started it (the digest of its binding cookie), so that its id alone is worth nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// Opaque; travels in the sign-in and consent page URLs.
    pub id: String,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub browser: OpaqueDigest,
    pub request: AuthorizationRequest,
    /// The session the user signed in with for this request, once they have.
    pub session_id: Option<String>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}
