//! OpenID Connect Back-Channel Logout 1.0: where an application wants to hear that a
//! session ended, and the queue of logout tokens still to deliver. The queue lives in the
//! database so that retries survive a restart and any replica can send them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    BackchannelLogoutUri,
}

#[derive(DeriveIden)]
enum LogoutDeliveries {
    Table,
    Id,
    TenantId,
    ApplicationId,
    SessionId,
    Subject,
    Uri,
    Attempts,
    NextAttemptAt,
    DeliveredAt,
    AbandonedAt,
    LastError,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

fn cascade(
    column: impl IntoIden,
    to: impl IntoIden,
    to_column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(LogoutDeliveries::Table)
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
                        ColumnDef::new(Applications::BackchannelLogoutUri)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;

        let text = |col: LogoutDeliveries| ColumnDef::new(col).string().not_null().to_owned();
        let millis =
            |col: LogoutDeliveries| ColumnDef::new(col).big_integer().not_null().to_owned();
        let nullable_millis =
            |col: LogoutDeliveries| ColumnDef::new(col).big_integer().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(LogoutDeliveries::Table)
                    .col(text(LogoutDeliveries::Id).primary_key())
                    .col(text(LogoutDeliveries::TenantId))
                    .col(text(LogoutDeliveries::ApplicationId))
                    // No foreign key: a deleted user takes its sessions along, and its
                    // applications must still hear of it.
                    .col(text(LogoutDeliveries::SessionId))
                    .col(text(LogoutDeliveries::Subject))
                    .col(text(LogoutDeliveries::Uri))
                    .col(
                        ColumnDef::new(LogoutDeliveries::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(millis(LogoutDeliveries::NextAttemptAt))
                    .col(nullable_millis(LogoutDeliveries::DeliveredAt))
                    .col(nullable_millis(LogoutDeliveries::AbandonedAt))
                    .col(ColumnDef::new(LogoutDeliveries::LastError).string().null())
                    .col(millis(LogoutDeliveries::CreatedAt))
                    .foreign_key(&mut cascade(
                        LogoutDeliveries::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        LogoutDeliveries::ApplicationId,
                        Applications::Table,
                        Applications::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("logout_deliveries_due")
                    .table(LogoutDeliveries::Table)
                    .col(LogoutDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LogoutDeliveries::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::BackchannelLogoutUri)
                    .to_owned(),
            )
            .await
    }
}
