use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_throttles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// SHA-256 hex of the kind and the normalised username or address.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_digest: String,
    /// `username` or `address`.
    pub kind: String,
    pub failures: i64,
    pub last_failure_at: i64,
    pub locked_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
