//! The end users of each tenant.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Username,
    Email,
    GivenName,
    FamilyName,
    PasswordHash,
    Disabled,
    FailedLogins,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |col: Users| ColumnDef::new(col).string().not_null().to_owned();
        let number = |col: Users| ColumnDef::new(col).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(text(Users::Id).primary_key())
                    .col(text(Users::TenantId))
                    .col(text(Users::Username))
                    .col(text(Users::Email).default(""))
                    .col(text(Users::GivenName).default(""))
                    .col(text(Users::FamilyName).default(""))
                    .col(text(Users::PasswordHash))
                    .col(
                        ColumnDef::new(Users::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(number(Users::FailedLogins).default(0))
                    .col(number(Users::Version))
                    .col(number(Users::CreatedAt))
                    .col(number(Users::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Users::Table)
                            .from_col(Users::TenantId)
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
                    .name("users_unique_username_per_tenant")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Username)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
