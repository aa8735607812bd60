use crate::ids::{ApplicationId, TenantId};
use crate::opaque::OpaqueDigest;
use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;
use crate::time::Timestamp;

/// An issued authorization code (RFC 6749 §4.1.2), known only by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub digest: OpaqueDigest,
    pub tenant_id: TenantId,
    pub application_id: ApplicationId,
    pub user_id: String,
    pub session_id: String,
    /// Exactly as sent to the authorization endpoint; the token request must repeat it.
    pub redirect_uri: String,
    pub scope: ScopeSet,
    pub nonce: Option<String>,
    /// `None` only for a confidential client allowed codes without PKCE.
    pub code_challenge: Option<CodeChallenge>,
    pub auth_time: Timestamp,
    pub expires_at: Timestamp,
    /// Set by the one redemption that wins.
    pub consumed_at: Option<Timestamp>,
    /// The `jti` of the access token issued for it: what a replay revokes.
    pub issued_jti: Option<String>,
    pub created_at: Timestamp,
}
