//! Indexes the background sweep looks rows up by: the tables it had to scan whole to
//! find what has expired, and the reference checks it makes before deleting a session.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum DeviceSecrets {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    TenantId,
    SessionId,
}

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    CreatedAt,
}

const INDEXES: [&str; 4] = [
    "sessions_by_expiry",
    "device_secrets_by_expiry",
    "authorization_codes_by_session",
    "request_ids_by_creation",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            (
                Sessions::Table.into_iden(),
                vec![Sessions::ExpiresAt.into_iden()],
            ),
            (
                DeviceSecrets::Table.into_iden(),
                vec![DeviceSecrets::ExpiresAt.into_iden()],
            ),
            (
                AuthorizationCodes::Table.into_iden(),
                vec![
                    AuthorizationCodes::TenantId.into_iden(),
                    AuthorizationCodes::SessionId.into_iden(),
                ],
            ),
            (
                RequestIds::Table.into_iden(),
                vec![RequestIds::CreatedAt.into_iden()],
            ),
        ];
        for (name, (table, columns)) in INDEXES.into_iter().zip(tables) {
            let mut index = Index::create();
            index.name(name).table(table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Sessions::Table.into_iden(),
            DeviceSecrets::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            RequestIds::Table.into_iden(),
        ];
        for (name, table) in INDEXES.into_iter().zip(tables) {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
