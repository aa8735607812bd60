//! A log of the changes that make cached tenants, applications and keys stale, for the
//! processes that share one SQLite file (the server and the `keyhaven` CLI) and so have
//! no LISTEN/NOTIFY between them: each server reads what was appended since it last
//! looked. PostgreSQL replicas hear the same changes as notifications and leave it empty.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheChanges {
    Table,
    Id,
    Payload,
    Origin,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CacheChanges::Table)
                    .col(
                        ColumnDef::new(CacheChanges::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CacheChanges::Payload).string().not_null())
                    // Which process wrote it: a reader skips its own.
                    .col(ColumnDef::new(CacheChanges::Origin).string().not_null())
                    .col(
                        ColumnDef::new(CacheChanges::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The sweep drops entries by age.
        manager
            .create_index(
                Index::create()
                    .name("cache_changes_by_creation")
                    .table(CacheChanges::Table)
                    .col(CacheChanges::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CacheChanges::Table).to_owned())
            .await
    }
}
