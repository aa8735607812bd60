//! Each application's ID token signing algorithm (`id_token_signed_response_alg`, OpenID
//! Connect Dynamic Client Registration 1.0 §2): RS256, ES256 or EdDSA. Existing
//! applications keep RS256, the default every relying party supports.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    IdTokenSignedResponseAlg,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(
                        ColumnDef::new(Applications::IdTokenSignedResponseAlg)
                            .string()
                            .not_null()
                            .default("RS256"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::IdTokenSignedResponseAlg)
                    .to_owned(),
            )
            .await
    }
}
