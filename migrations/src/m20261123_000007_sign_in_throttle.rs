//! Failed sign-in counters per tenant and key (a username typed or a client address, as a
//! SHA-256 digest), shared by every replica: design.md §6 "failed logins are throttled per
//! user and per address".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SignInThrottles {
    Table,
    TenantId,
    KeyDigest,
    Kind,
    Failures,
    LastFailureAt,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |col: SignInThrottles| ColumnDef::new(col).string().not_null().to_owned();
        let number = |col: SignInThrottles| ColumnDef::new(col).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(SignInThrottles::Table)
                    .col(text(SignInThrottles::TenantId))
                    // SHA-256 hex of the kind and the normalised username or address.
                    .col(text(SignInThrottles::KeyDigest))
                    // `username` or `address`.
                    .col(text(SignInThrottles::Kind))
                    .col(number(SignInThrottles::Failures))
                    .col(number(SignInThrottles::LastFailureAt))
                    .col(
                        ColumnDef::new(SignInThrottles::LockedUntil)
                            .big_integer()
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SignInThrottles::TenantId)
                            .col(SignInThrottles::KeyDigest),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(SignInThrottles::Table)
                            .from_col(SignInThrottles::TenantId)
                            .to_tbl(Tenants::Table)
                            .to_col(Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Counters quiet for longer than the policy remembers can be swept by age.
        manager
            .create_index(
                Index::create()
                    .name("sign_in_throttles_by_last_failure")
                    .table(SignInThrottles::Table)
                    .col(SignInThrottles::LastFailureAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignInThrottles::Table).to_owned())
            .await
    }
}
