//! The browser flow: sessions (the `sid`), authorization codes, and authorization
//! requests waiting for the user on the sign-in and consent pages.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TenantId,
    UserId,
    SecretDigest,
    AuthTime,
    Amr,
    ExpiresAt,
    EndedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    Digest,
    TenantId,
    ApplicationId,
    UserId,
    SessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    AuthTime,
    ExpiresAt,
    ConsumedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationRequests {
    Table,
    Id,
    TenantId,
    ApplicationId,
    ClientId,
    BrowserDigest,
    RedirectUri,
    Scope,
    State,
    Nonce,
    CodeChallenge,
    Prompt,
    MaxAge,
    LoginHint,
    SessionId,
    ExpiresAt,
    CreatedAt,
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
                    .table(Sessions::Table)
                    .col(text(Sessions::Id.into_iden()).primary_key())
                    .col(text(Sessions::TenantId.into_iden()))
                    .col(text(Sessions::UserId.into_iden()))
                    // SHA-256 hex of the session cookie: the sid alone must not be enough.
                    .col(text(Sessions::SecretDigest.into_iden()).unique_key())
                    .col(millis(Sessions::AuthTime.into_iden()))
                    .col(text(Sessions::Amr.into_iden()))
                    .col(millis(Sessions::ExpiresAt.into_iden()))
                    .col(optional_millis(Sessions::EndedAt.into_iden()))
                    .col(millis(Sessions::CreatedAt.into_iden()))
                    .foreign_key(&mut cascade(
                        Sessions::Table,
                        Sessions::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        Sessions::Table,
                        Sessions::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_by_tenant_user")
                    .table(Sessions::Table)
                    .col(Sessions::TenantId)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    // SHA-256 hex of the code.
                    .col(text(AuthorizationCodes::Digest.into_iden()).primary_key())
                    .col(text(AuthorizationCodes::TenantId.into_iden()))
                    .col(text(AuthorizationCodes::ApplicationId.into_iden()))
                    .col(text(AuthorizationCodes::UserId.into_iden()))
                    .col(text(AuthorizationCodes::SessionId.into_iden()))
                    .col(long_text(AuthorizationCodes::RedirectUri.into_iden()))
                    .col(long_text(AuthorizationCodes::Scope.into_iden()))
                    .col(optional(AuthorizationCodes::Nonce.into_iden()))
                    .col(optional(AuthorizationCodes::CodeChallenge.into_iden()))
                    .col(millis(AuthorizationCodes::AuthTime.into_iden()))
                    .col(millis(AuthorizationCodes::ExpiresAt.into_iden()))
                    .col(optional_millis(AuthorizationCodes::ConsumedAt.into_iden()))
                    .col(millis(AuthorizationCodes::CreatedAt.into_iden()))
                    .foreign_key(&mut cascade(
                        AuthorizationCodes::Table,
                        AuthorizationCodes::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        AuthorizationCodes::Table,
                        AuthorizationCodes::ApplicationId,
                        Applications::Table,
                        Applications::Id,
                    ))
                    .foreign_key(&mut cascade(
                        AuthorizationCodes::Table,
                        AuthorizationCodes::UserId,
                        Users::Table,
                        Users::Id,
                    ))
                    .foreign_key(&mut cascade(
                        AuthorizationCodes::Table,
                        AuthorizationCodes::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationRequests::Table)
                    .col(text(AuthorizationRequests::Id.into_iden()).primary_key())
                    .col(text(AuthorizationRequests::TenantId.into_iden()))
                    .col(text(AuthorizationRequests::ApplicationId.into_iden()))
                    .col(text(AuthorizationRequests::ClientId.into_iden()))
                    // SHA-256 hex of the browser binding cookie of the browser that asked.
                    .col(text(AuthorizationRequests::BrowserDigest.into_iden()))
                    .col(long_text(AuthorizationRequests::RedirectUri.into_iden()))
                    .col(long_text(AuthorizationRequests::Scope.into_iden()))
                    .col(optional(AuthorizationRequests::State.into_iden()))
                    .col(optional(AuthorizationRequests::Nonce.into_iden()))
                    .col(optional(AuthorizationRequests::CodeChallenge.into_iden()))
                    .col(text(AuthorizationRequests::Prompt.into_iden()))
                    .col(optional_millis(AuthorizationRequests::MaxAge.into_iden()))
                    .col(optional(AuthorizationRequests::LoginHint.into_iden()))
                    .col(
                        ColumnDef::new(AuthorizationRequests::SessionId)
                            .string()
                            .null(),
                    )
                    .col(millis(AuthorizationRequests::ExpiresAt.into_iden()))
                    .col(millis(AuthorizationRequests::CreatedAt.into_iden()))
                    .foreign_key(&mut cascade(
                        AuthorizationRequests::Table,
                        AuthorizationRequests::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                    ))
                    .foreign_key(&mut cascade(
                        AuthorizationRequests::Table,
                        AuthorizationRequests::ApplicationId,
                        Applications::Table,
                        Applications::Id,
                    ))
                    .foreign_key(&mut cascade(
                        AuthorizationRequests::Table,
                        AuthorizationRequests::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        // Expired codes and requests are swept by expiry.
        for (name, table, column) in [
            (
                "authorization_codes_by_expiry",
                AuthorizationCodes::Table.into_iden(),
                AuthorizationCodes::ExpiresAt.into_iden(),
            ),
            (
                "authorization_requests_by_expiry",
                AuthorizationRequests::Table.into_iden(),
                AuthorizationRequests::ExpiresAt.into_iden(),
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuthorizationRequests::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
