//! Organizations, tenants, applications with their secrets and redirect URIs,
//! management tokens, audit events and create-request ids.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Slug,
    DisplayName,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    OrganizationId,
    Slug,
    DisplayName,
    DisabledEnvironments,
    AccessTokenTtlSeconds,
    IdTokenTtlSeconds,
    RefreshTokenTtlSeconds,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    Id,
    TenantId,
    ClientId,
    DisplayName,
    AppType,
    GrantTypes,
    Scopes,
    FirstParty,
    AllowedOrigins,
    AllowCodeWithoutPkce,
    DisabledEnvironments,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClientSecrets {
    Table,
    Id,
    TenantId,
    ApplicationId,
    Digest,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RedirectUris {
    Table,
    Id,
    TenantId,
    ApplicationId,
    Uri,
    Purpose,
    Environment,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ManagementTokens {
    Table,
    Id,
    OrganizationId,
    TenantId,
    DisplayName,
    Digest,
    Permissions,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OrganizationId,
    TenantId,
    TenantSlug,
    Actor,
    Action,
    Target,
    Outcome,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    OrganizationId,
    Method,
    RequestId,
    ResourceName,
    CreatedAt,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string().not_null().to_owned()
}

fn text_key(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string()
        .not_null()
        .primary_key()
        .to_owned()
}

fn millis(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

fn millis_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn flag(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

fn cascade(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(from.0)
        .from_col(from.1)
        .to_tbl(to.0)
        .to_col(to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(text_key(Organizations::Id))
                    .col(text(Organizations::Slug).unique_key())
                    .col(text(Organizations::DisplayName))
                    .col(millis(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(text_key(Tenants::Id))
                    .col(text(Tenants::OrganizationId))
                    .col(text(Tenants::Slug).unique_key())
                    .col(text(Tenants::DisplayName))
                    .col(text(Tenants::DisabledEnvironments).default(""))
                    .col(millis(Tenants::AccessTokenTtlSeconds))
                    .col(millis(Tenants::IdTokenTtlSeconds))
                    .col(millis(Tenants::RefreshTokenTtlSeconds))
                    .col(millis(Tenants::Version))
                    .col(millis(Tenants::CreatedAt))
                    .col(millis(Tenants::UpdatedAt))
                    .foreign_key(&mut cascade(
                        (Tenants::Table, Tenants::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenants_by_organization")
                    .table(Tenants::Table)
                    .col(Tenants::OrganizationId)
                    .col(Tenants::Slug)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(text_key(Applications::Id))
                    .col(text(Applications::TenantId))
                    .col(text(Applications::ClientId).unique_key())
                    .col(text(Applications::DisplayName))
                    .col(text(Applications::AppType))
                    .col(text(Applications::GrantTypes))
                    .col(text(Applications::Scopes))
                    .col(flag(Applications::FirstParty))
                    .col(text(Applications::AllowedOrigins))
                    .col(flag(Applications::AllowCodeWithoutPkce))
                    .col(text(Applications::DisabledEnvironments).default(""))
                    .col(millis(Applications::Version))
                    .col(millis(Applications::CreatedAt))
                    .col(millis(Applications::UpdatedAt))
                    .foreign_key(&mut cascade(
                        (Applications::Table, Applications::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("applications_by_tenant")
                    .table(Applications::Table)
                    .col(Applications::TenantId)
                    .col(Applications::ClientId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ClientSecrets::Table)
                    .col(text_key(ClientSecrets::Id))
                    .col(text(ClientSecrets::TenantId))
                    .col(text(ClientSecrets::ApplicationId))
                    .col(text(ClientSecrets::Digest).unique_key())
                    .col(millis(ClientSecrets::CreatedAt))
                    .col(millis_null(ClientSecrets::ExpiresAt))
                    .foreign_key(&mut cascade(
                        (ClientSecrets::Table, ClientSecrets::ApplicationId),
                        (Applications::Table, Applications::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("client_secrets_by_application")
                    .table(ClientSecrets::Table)
                    .col(ClientSecrets::ApplicationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RedirectUris::Table)
                    .col(text_key(RedirectUris::Id))
                    .col(text(RedirectUris::TenantId))
                    .col(text(RedirectUris::ApplicationId))
                    .col(text(RedirectUris::Uri))
                    .col(text(RedirectUris::Purpose))
                    .col(text(RedirectUris::Environment))
                    .col(millis(RedirectUris::CreatedAt))
                    .foreign_key(&mut cascade(
                        (RedirectUris::Table, RedirectUris::ApplicationId),
                        (Applications::Table, Applications::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("redirect_uris_unique_per_application")
                    .table(RedirectUris::Table)
                    .col(RedirectUris::ApplicationId)
                    .col(RedirectUris::Purpose)
                    .col(RedirectUris::Uri)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ManagementTokens::Table)
                    .col(text_key(ManagementTokens::Id))
                    .col(text(ManagementTokens::OrganizationId))
                    .col(ColumnDef::new(ManagementTokens::TenantId).string().null())
                    .col(text(ManagementTokens::DisplayName))
                    .col(text(ManagementTokens::Digest).unique_key())
                    .col(text(ManagementTokens::Permissions))
                    .col(millis_null(ManagementTokens::ExpiresAt))
                    .col(millis_null(ManagementTokens::RevokedAt))
                    .col(millis_null(ManagementTokens::LastUsedAt))
                    .col(millis(ManagementTokens::CreatedAt))
                    .foreign_key(&mut cascade(
                        (ManagementTokens::Table, ManagementTokens::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .foreign_key(&mut cascade(
                        (ManagementTokens::Table, ManagementTokens::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("management_tokens_by_owner")
                    .table(ManagementTokens::Table)
                    .col(ManagementTokens::OrganizationId)
                    .col(ManagementTokens::TenantId)
                    .to_owned(),
            )
            .await?;

        // Audit events outlive what they describe, so they hold no foreign keys.
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text(AuditEvents::OrganizationId))
                    .col(ColumnDef::new(AuditEvents::TenantId).string().null())
                    .col(ColumnDef::new(AuditEvents::TenantSlug).string().null())
                    .col(text(AuditEvents::Actor))
                    .col(text(AuditEvents::Action))
                    .col(text(AuditEvents::Target))
                    .col(text(AuditEvents::Outcome))
                    .col(millis(AuditEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("audit_events_by_organization", AuditEvents::OrganizationId),
            ("audit_events_by_tenant", AuditEvents::TenantId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(RequestIds::Table)
                    .col(text(RequestIds::OrganizationId))
                    .col(text(RequestIds::Method))
                    .col(text(RequestIds::RequestId))
                    .col(text(RequestIds::ResourceName))
                    .col(millis(RequestIds::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(RequestIds::OrganizationId)
                            .col(RequestIds::Method)
                            .col(RequestIds::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RequestIds::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            ManagementTokens::Table.into_iden(),
            RedirectUris::Table.into_iden(),
            ClientSecrets::Table.into_iden(),
            Applications::Table.into_iden(),
            Tenants::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
