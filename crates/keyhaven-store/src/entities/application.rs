use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub display_name: String,
    pub app_type: String,
    /// Space-separated OAuth grant type names.
    pub grant_types: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub first_party: bool,
    /// Space-separated origins.
    pub allowed_origins: String,
    pub allow_code_without_pkce: bool,
    pub disabled_environments: String,
    /// The JWS `alg` of its ID tokens: RS256, ES256 or EdDSA.
    pub id_token_signed_response_alg: String,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2; none: it is not told.
    pub backchannel_logout_uri: Option<String>,
    /// May take part in OpenID Connect Native SSO (native applications only).
    pub native_sso: bool,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
