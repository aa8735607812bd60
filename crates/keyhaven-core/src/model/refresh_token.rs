use crate::ids::{ApplicationId, TenantId};
use crate::opaque::OpaqueDigest;
use crate::scope::ScopeSet;
use crate::time::Timestamp;

/// An issued refresh token, known only by its digest. Tokens that descend from one
/// authorization share a `family_id`; rotation links each to its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub digest: OpaqueDigest,
    pub tenant_id: TenantId,
    pub family_id: String,
    pub application_id: ApplicationId,
    pub user_id: String,
    pub session_id: String,
    pub scope: ScopeSet,
    /// When the user authenticated: a refreshed ID token keeps the original `auth_time`.
    pub auth_time: Timestamp,
    /// The access token issued alongside, so that revoking the family revokes it too.
    pub access_jti: String,
    pub access_expires_at: Timestamp,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    /// Set by the rotation that replaced this token.
    pub used_at: Option<Timestamp>,
    /// The rotation's answer, sealed under a key only the presented token yields (see
    /// `keyhaven_core::refresh`), kept for the retry window.
    pub retry_response: Option<Vec<u8>>,
    pub revoked_at: Option<Timestamp>,
    /// The device the client named at the token request (`x-device-id`).
    pub device_id: Option<String>,
}
