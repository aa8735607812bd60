//! SSO sessions: idle and absolute lifetimes per tenant, the idle end of each session,
//! the device a session or refresh token was started on, and which applications got
//! tokens in a session (whom a logout concerns).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    SessionIdleSeconds,
    SessionAbsoluteSeconds,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    IdleExpiresAt,
    DeviceId,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    DeviceId,
}

#[derive(DeriveIden)]
enum SessionApplications {
    Table,
    TenantId,
    SessionId,
    ApplicationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
}

fn cascade(
    column: impl IntoIden,
    to: impl IntoIden,
    to_column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(SessionApplications::Table)
        .from_col(column)
        .to_tbl(to)
        .to_col(to_column)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One ALTER per column: SQLite adds one column per statement.
        for (column, default) in [
            (Tenants::SessionIdleSeconds, 8 * 3600),
            (Tenants::SessionAbsoluteSeconds, 24 * 3600),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(
                            ColumnDef::new(column)
                                .big_integer()
                                .not_null()
                                .default(default),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::IdleExpiresAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::DeviceId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RefreshTokens::Table)
                    .add_column(ColumnDef::new(RefreshTokens::DeviceId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionApplications::Table)
                    .col(
                        ColumnDef::new(SessionApplications::TenantId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionApplications::SessionId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionApplications::ApplicationId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionApplications::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SessionApplications::TenantId)
                            .col(SessionApplications::SessionId)
                            .col(SessionApplications::ApplicationId),
                    )
                    .foreign_key(&mut cascade(
                        SessionApplications::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        SessionApplications::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .foreign_key(&mut cascade(
                        SessionApplications::ApplicationId,
                        Applications::Table,
                        Applications::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("session_applications_by_application")
                    .table(SessionApplications::Table)
                    .col(SessionApplications::TenantId)
                    .col(SessionApplications::ApplicationId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SessionApplications::Table).to_owned())
            .await?;
        for (table, column) in [
            (
                RefreshTokens::Table.into_iden(),
                RefreshTokens::DeviceId.into_iden(),
            ),
            (Sessions::Table.into_iden(), Sessions::DeviceId.into_iden()),
            (
                Sessions::Table.into_iden(),
                Sessions::IdleExpiresAt.into_iden(),
            ),
            (
                Tenants::Table.into_iden(),
                Tenants::SessionAbsoluteSeconds.into_iden(),
            ),
            (
                Tenants::Table.into_iden(),
                Tenants::SessionIdleSeconds.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
