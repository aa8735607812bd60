//! Each tenant's signing keys: the private half sealed under the key-encryption key, the
//! public half as a JWK, and where the key is in its life (next, active, retired).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    Kid,
    Algorithm,
    State,
    SealedPrivateKey,
    PublicJwk,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
    PublishUntil,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |col: SigningKeys| ColumnDef::new(col).string().not_null().to_owned();
        let millis = |col: SigningKeys| ColumnDef::new(col).big_integer().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(text(SigningKeys::Id).primary_key())
                    .col(text(SigningKeys::TenantId))
                    .col(text(SigningKeys::Kid))
                    .col(text(SigningKeys::Algorithm))
                    .col(text(SigningKeys::State))
                    // base64url of nonce || ciphertext || tag: the same text on both backends.
                    .col(
                        ColumnDef::new(SigningKeys::SealedPrivateKey)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SigningKeys::PublicJwk).text().not_null())
                    .col(
                        ColumnDef::new(SigningKeys::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(millis(SigningKeys::ActivatedAt))
                    .col(millis(SigningKeys::RetiredAt))
                    .col(millis(SigningKeys::PublishUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(SigningKeys::Table)
                            .from_col(SigningKeys::TenantId)
                            .to_tbl(Tenants::Table)
                            .to_col(Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_unique_kid")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::Kid)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_by_tenant")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::TenantId)
                    .col(SigningKeys::State)
                    .to_owned(),
            )
            .await?;
        // At most one next and one active key per tenant and algorithm, whatever a buggy
        // or concurrent writer tries. Partial indexes read the same on both backends.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX signing_keys_one_live_per_state \
                 ON signing_keys (tenant_id, algorithm, state) \
                 WHERE state IN ('next', 'active')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}
