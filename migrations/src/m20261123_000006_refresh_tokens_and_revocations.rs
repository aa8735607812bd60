//! Refresh tokens (rotated, in families) and revocations: what makes a still-unexpired
//! access token JWT invalid. Authorization codes learn the `jti` of the access token
//! issued for them, so that a replayed code can revoke it (RFC 6749 §4.1.2).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Digest,
    TenantId,
    FamilyId,
    ApplicationId,
    UserId,
    SessionId,
    Scope,
    AuthTime,
    AccessJti,
    AccessExpiresAt,
    ExpiresAt,
    CreatedAt,
    UsedAt,
    ReplacedBy,
    RetryResponse,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Revocations {
    Table,
    TenantId,
    Kind,
    Value,
    Reason,
    RevokedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    IssuedJti,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
}

fn cascade(
    from: impl IntoIden,
    column: impl IntoIden,
    to: impl IntoIden,
    to_column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(from)
        .from_col(column)
        .to_tbl(to)
        .to_col(to_column)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let text = |col: DynIden| ColumnDef::new(col).string().not_null().to_owned();
        let long_text = |col: DynIden| ColumnDef::new(col).text().not_null().to_owned();
        let optional = |col: DynIden| ColumnDef::new(col).text().null().to_owned();
        let millis = |col: DynIden| ColumnDef::new(col).big_integer().not_null().to_owned();
        let optional_millis = |col: DynIden| ColumnDef::new(col).big_integer().null().to_owned();

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    // SHA-256 hex of the token.
                    .col(text(RefreshTokens::Digest.into_iden()).primary_key())
                    .col(text(RefreshTokens::TenantId.into_iden()))
                    .col(text(RefreshTokens::FamilyId.into_iden()))
                    .col(text(RefreshTokens::ApplicationId.into_iden()))
                    .col(text(RefreshTokens::UserId.into_iden()))
                    .col(text(RefreshTokens::SessionId.into_iden()))
                    .col(long_text(RefreshTokens::Scope.into_iden()))
                    .col(millis(RefreshTokens::AuthTime.into_iden()))
                    .col(text(RefreshTokens::AccessJti.into_iden()))
                    .col(millis(RefreshTokens::AccessExpiresAt.into_iden()))
                    .col(millis(RefreshTokens::ExpiresAt.into_iden()))
                    .col(millis(RefreshTokens::CreatedAt.into_iden()))
                    .col(optional_millis(RefreshTokens::UsedAt.into_iden()))
                    .col(optional(RefreshTokens::ReplacedBy.into_iden()))
                    // The rotation's answer sealed under a key derived from this token
                    // (base64url), kept for the retry window.
                    .col(optional(RefreshTokens::RetryResponse.into_iden()))
                    .col(optional_millis(RefreshTokens::RevokedAt.into_iden()))
                    .foreign_key(&mut cascade(
                        RefreshTokens::Table,
                        RefreshTokens::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        RefreshTokens::Table,
                        RefreshTokens::ApplicationId,
                        Applications::Table,
                        Applications::Id,
                    ))
                    .foreign_key(&mut cascade(
                        RefreshTokens::Table,
                        RefreshTokens::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut cascade(
                        RefreshTokens::Table,
                        RefreshTokens::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "refresh_tokens_by_family",
                vec![
                    RefreshTokens::TenantId.into_iden(),
                    RefreshTokens::FamilyId.into_iden(),
                ],
            ),
            (
                "refresh_tokens_by_session",
                vec![
                    RefreshTokens::TenantId.into_iden(),
                    RefreshTokens::SessionId.into_iden(),
                ],
            ),
            (
                "refresh_tokens_by_expiry",
                vec![RefreshTokens::ExpiresAt.into_iden()],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(RefreshTokens::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Revocations::Table)
                    .col(text(Revocations::TenantId.into_iden()))
                    // `jti` (one access token) or `session` (every token of a sid).
                    .col(text(Revocations::Kind.into_iden()))
                    .col(text(Revocations::Value.into_iden()))
                    .col(text(Revocations::Reason.into_iden()))
                    .col(millis(Revocations::RevokedAt.into_iden()))
                    // When the last token it covers expires: the record can go then.
                    .col(millis(Revocations::ExpiresAt.into_iden()))
                    .primary_key(
                        Index::create()
                            .col(Revocations::TenantId)
                            .col(Revocations::Kind)
                            .col(Revocations::Value),
                    )
                    .foreign_key(&mut cascade(
                        Revocations::Table,
                        Revocations::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("revocations_by_expiry")
                    .table(Revocations::Table)
                    .col(Revocations::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .add_column(
                        ColumnDef::new(AuthorizationCodes::IssuedJti)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuthorizationCodes::Table)
                    .drop_column(AuthorizationCodes::IssuedJti)
                    .to_owned(),
            )
            .await?;
        for table in [
            Revocations::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
