use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// SHA-256 hex of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: String,
    pub tenant_id: String,
    pub family_id: String,
    pub application_id: String,
    pub user_id: String,
    pub session_id: String,
    pub scope: String,
    pub auth_time: i64,
    pub access_jti: String,
    pub access_expires_at: i64,
    pub expires_at: i64,
    pub created_at: i64,
    pub used_at: Option<i64>,
    pub replaced_by: Option<String>,
    /// base64url of the sealed answer to the rotation.
    pub retry_response: Option<String>,
    pub revoked_at: Option<i64>,
    /// The device the client named at the token request (`x-device-id`), if any.
    pub device_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
