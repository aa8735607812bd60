use sea_orm::entity::prelude::*;

/// A logout token still to send, or sent: one per application and ended session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "logout_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub application_id: String,
    pub session_id: String,
    /// The user id: the `sub` of the logout token.
    pub subject: String,
    pub uri: String,
    pub attempts: i32,
    /// When the next attempt is due; while one is under way, when its lease runs out.
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub abandoned_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
