//! OpenID Connect Native SSO for Mobile Apps 1.0: which native applications may take
//! part, and the device secrets that let one of them sign in where another already has
//! (stored by digest, bound to the session they were issued in).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    NativeSso,
}

#[derive(DeriveIden)]
enum DeviceSecrets {
    Table,
    Digest,
    TenantId,
    SessionId,
    UserId,
    ExpiresAt,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

fn cascade(
    column: impl IntoIden,
    to: impl IntoIden,
    to_column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(DeviceSecrets::Table)
        .from_col(column)
        .to_tbl(to)
        .to_col(to_column)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(
                        ColumnDef::new(Applications::NativeSso)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;

        let text = |col: DeviceSecrets| ColumnDef::new(col).string().not_null().to_owned();
        let millis = |col: DeviceSecrets| ColumnDef::new(col).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(DeviceSecrets::Table)
                    // SHA-256 hex of the secret.
                    .col(text(DeviceSecrets::Digest).primary_key())
                    .col(text(DeviceSecrets::TenantId))
                    .col(text(DeviceSecrets::SessionId))
                    .col(text(DeviceSecrets::UserId))
                    .col(millis(DeviceSecrets::ExpiresAt))
                    .col(
                        ColumnDef::new(DeviceSecrets::RevokedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(millis(DeviceSecrets::CreatedAt))
                    .foreign_key(&mut cascade(
                        DeviceSecrets::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        DeviceSecrets::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("device_secrets_by_session")
                    .table(DeviceSecrets::Table)
                    .col(DeviceSecrets::TenantId)
                    .col(DeviceSecrets::SessionId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceSecrets::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::NativeSso)
                    .to_owned(),
            )
            .await
    }
}
