use crate::ids::TenantId;
use crate::password::PasswordHash;
use crate::time::Timestamp;
use crate::username::{Email, Username};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub tenant_id: TenantId,
    pub username: Username,
    pub email: Option<Email>,
    pub given_name: String,
    pub family_name: String,
    pub password_hash: PasswordHash,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
