use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_secrets")]
pub struct Model {
    /// SHA-256 hex of the secret.
    #[sea_orm(primary_key, auto_increment = false)]
    pub digest: String,
    pub tenant_id: String,
    pub session_id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
