//! Applications of a tenant and their client secrets.

use keyhaven_core::jose::SigningAlgorithm;
use keyhaven_core::model::{Application, AuditOutcome, Tenant};
use keyhaven_core::{
    AllowedOrigin, ApplicationId, ApplicationType, BackchannelLogoutUri, ClientId, DisplayName,
    EnvironmentSet, GrantTypes, ScopeSet, SecretDigest, TenantId, Timestamp,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::audit::{self, Audit};
use crate::changes::{self, Change};
use crate::entities::{application, client_secret};
use crate::tenants::Created;
use crate::{Page, PageRequest, Store, StoreError, request_ids};

#[derive(Debug, Clone)]
pub struct NewApplication {
    pub client_id: ClientId,
    pub display_name: DisplayName,
    pub app_type: ApplicationType,
    pub grant_types: GrantTypes,
    pub scopes: ScopeSet,
    pub first_party: bool,
    pub allowed_origins: Vec<AllowedOrigin>,
    pub allow_code_without_pkce: bool,
    pub environments: EnvironmentSet,
    pub id_token_signed_response_alg: SigningAlgorithm,
    pub backchannel_logout_uri: Option<BackchannelLogoutUri>,
    pub native_sso: bool,
}

/// Creates the application and, for confidential types, its first secret.
pub async fn create(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    new: NewApplication,
    secret: Option<SecretDigest>,
    request_id: Option<&str>,
) -> Result<Created<Application>, StoreError> {
    let txn = store.write.begin().await?;
    if let Some(id) = request_ids::replayed(&txn, audit, tenant.id.as_str(), request_id).await? {
        let app = application::Entity::find_by_id(id)
            .filter(application::Column::TenantId.eq(tenant.id.as_str()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        return Ok(Created::Replayed(into_record(app)?));
    }
    let app = Application {
        id: ApplicationId::new(uuid::Uuid::now_v7().to_string()),
        tenant_id: tenant.id.clone(),
        client_id: new.client_id,
        display_name: new.display_name,
        app_type: new.app_type,
        grant_types: new.grant_types,
        scopes: new.scopes,
        first_party: new.first_party,
        allowed_origins: new.allowed_origins,
        allow_code_without_pkce: new.allow_code_without_pkce,
        environments: new.environments,
        id_token_signed_response_alg: new.id_token_signed_response_alg,
        backchannel_logout_uri: new.backchannel_logout_uri,
        native_sso: new.native_sso,
        version: 1,
        created_at: audit.now,
        updated_at: audit.now,
    };
    to_row(&app)
        .insert(&txn)
        .await
        .map_err(StoreError::on_write("an application with this client id"))?;
    if let Some(digest) = secret {
        insert_secret(&txn, &app, digest, audit.now).await?;
    }
    if let Some(request_id) = request_id {
        request_ids::remember(&txn, audit, tenant.id.as_str(), request_id, app.id.as_str()).await?;
    }
    let target = resource_name(tenant, &app.client_id);
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    // A replica may remember this client id as unknown.
    let change = changed(tenant, &app.client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(Created::New(app))
}

pub async fn get(
    store: &Store,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Application>, StoreError> {
    find(&store.read, tenant, client_id).await
}

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Application>, StoreError> {
    application::Entity::find()
        .filter(application::Column::TenantId.eq(tenant.as_str()))
        .filter(application::Column::ClientId.eq(client_id.as_str()))
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

/// The origins registered on the tenant's `spa` applications: the browser origins its
/// CORS endpoints answer (design.md §6). An origin registered on two applications is
/// listed twice.
pub async fn spa_origins(
    store: &Store,
    tenant: &TenantId,
) -> Result<Vec<AllowedOrigin>, StoreError> {
    let rows: Vec<(String, String)> = application::Entity::find()
        .select_only()
        .column(application::Column::Id)
        .column(application::Column::AllowedOrigins)
        .filter(application::Column::TenantId.eq(tenant.as_str()))
        .filter(application::Column::AppType.eq(ApplicationType::Spa.as_str()))
        .filter(application::Column::AllowedOrigins.ne(""))
        .into_tuple()
        .all(&store.read)
        .await?;
    let mut origins = Vec::new();
    for (id, stored) in rows {
        for raw in stored.split(' ').filter(|s| !s.is_empty()) {
            let origin = AllowedOrigin::parse(raw, ApplicationType::Spa).map_err(|e| {
                StoreError::corrupt(&format!("application {id} allowed origins"), e)
            })?;
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// Reads the row for update: concurrent writers of one application queue on the row
/// lock (PostgreSQL; SQLite has one writer anyway), each reading what the last one wrote.
async fn find_locked(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    client_id: &ClientId,
) -> Result<Option<Application>, StoreError> {
    application::Entity::find()
        .filter(application::Column::TenantId.eq(tenant.as_str()))
        .filter(application::Column::ClientId.eq(client_id.as_str()))
        .lock_exclusive()
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

pub async fn list(
    store: &Store,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Page<Application>, StoreError> {
    let mut query =
        application::Entity::find().filter(application::Column::TenantId.eq(tenant.as_str()));
    if let Some(after) = &page.after {
        query = query.filter(application::Column::ClientId.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(application::Column::ClientId)
        .limit(Page::<Application>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let apps = rows
        .into_iter()
        .map(into_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(apps, page, |a| a.client_id.to_string()))
}

/// Applies `change` to the current application (see `tenants::update` for the
/// concurrency rules). `change` may refuse the result, for rules that depend on the
/// application's other fields.
pub async fn update<E>(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    client_id: &ClientId,
    expected_version: Option<i64>,
    change: impl FnOnce(&mut Application) -> Result<(), E>,
) -> Result<Result<Application, E>, StoreError> {
    let txn = store.write.begin().await?;
    let current = find_locked(&txn, &tenant.id, client_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(StoreError::Conflict);
    }
    let mut next = current.clone();
    if let Err(refused) = change(&mut next) {
        return Ok(Err(refused));
    }
    next.version = current.version + 1;
    next.updated_at = audit.now;
    let written = application::Entity::update_many()
        .set(to_row(&next))
        .filter(application::Column::Id.eq(current.id.as_str()))
        .filter(application::Column::Version.eq(current.version))
        .exec(&txn)
        .await?;
    if written.rows_affected == 0 {
        // Unreachable while the row lock is held; kept as a guard, not a retry.
        return Err(StoreError::Conflict);
    }
    let target = resource_name(tenant, client_id);
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    let change = changed(tenant, client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(Ok(next))
}

/// Deletes the application with its secrets and redirect URIs (cascading keys).
pub async fn delete(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    client_id: &ClientId,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    let current = find(&txn, &tenant.id, client_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(StoreError::Conflict);
    }
    let deleted = application::Entity::delete_many()
        .filter(application::Column::TenantId.eq(tenant.id.as_str()))
        .filter(application::Column::Id.eq(current.id.as_str()))
        .filter(application::Column::Version.eq(current.version))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::Conflict);
    }
    let target = resource_name(tenant, client_id);
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    let change = changed(tenant, client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(())
}

/// Replaces the live secret: secrets still live now stop at `previous_until` (or at
/// their own earlier expiry), and `digest` becomes the current one. Secrets already in
/// a grace period end now, so at most two are live at once.
pub async fn rotate_secret(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    client_id: &ClientId,
    digest: SecretDigest,
    previous_until: Timestamp,
) -> Result<Timestamp, StoreError> {
    let txn = store.write.begin().await?;
    let app = find(&txn, &tenant.id, client_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let now = audit.now.unix_millis();
    let live = Condition::any()
        .add(client_secret::Column::ExpiresAt.is_null())
        .add(client_secret::Column::ExpiresAt.gt(now));
    let scope = |q: sea_orm::UpdateMany<client_secret::Entity>| {
        q.filter(client_secret::Column::TenantId.eq(tenant.id.as_str()))
            .filter(client_secret::Column::ApplicationId.eq(app.id.as_str()))
            .filter(live.clone())
    };
    // Secrets already winding down stop now.
    scope(client_secret::Entity::update_many())
        .filter(client_secret::Column::ExpiresAt.is_not_null())
        .col_expr(client_secret::Column::ExpiresAt, Expr::value(now))
        .exec(&txn)
        .await?;
    // The current secret winds down.
    scope(client_secret::Entity::update_many())
        .filter(client_secret::Column::ExpiresAt.is_null())
        .col_expr(
            client_secret::Column::ExpiresAt,
            Expr::value(previous_until.unix_millis()),
        )
        .exec(&txn)
        .await?;
    insert_secret(&txn, &app, digest, audit.now).await?;
    let target = resource_name(tenant, client_id);
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    let change = changed(tenant, client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(previous_until)
}

pub(crate) fn changed(tenant: &Tenant, client_id: &ClientId) -> Change {
    Change::Application {
        tenant: tenant.id.clone(),
        client_id: client_id.clone(),
    }
}

/// Digests of the secrets that authenticate the application at `now`.
pub async fn live_secrets(
    store: &Store,
    tenant: &TenantId,
    application: &ApplicationId,
    now: Timestamp,
) -> Result<Vec<SecretDigest>, StoreError> {
    let rows = client_secret::Entity::find()
        .filter(client_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(client_secret::Column::ApplicationId.eq(application.as_str()))
        .filter(
            Condition::any()
                .add(client_secret::Column::ExpiresAt.is_null())
                .add(client_secret::Column::ExpiresAt.gt(now.unix_millis())),
        )
        .all(&store.read)
        .await?;
    rows.into_iter()
        .map(|row| {
            SecretDigest::from_hex(&row.digest)
                .ok_or_else(|| StoreError::corrupt("client secret digest", &row.id))
        })
        .collect()
}

/// The secrets that authenticate the application at `now`, each with the end of its
/// grace period, if it winds down: a cache of them must not outlive the first end.
pub async fn live_secrets_until(
    store: &Store,
    tenant: &TenantId,
    application: &ApplicationId,
    now: Timestamp,
) -> Result<Vec<(SecretDigest, Option<Timestamp>)>, StoreError> {
    let rows = client_secret::Entity::find()
        .filter(client_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(client_secret::Column::ApplicationId.eq(application.as_str()))
        .filter(
            Condition::any()
                .add(client_secret::Column::ExpiresAt.is_null())
                .add(client_secret::Column::ExpiresAt.gt(now.unix_millis())),
        )
        .all(&store.read)
        .await?;
    rows.into_iter()
        .map(|row| {
            let digest = SecretDigest::from_hex(&row.digest)
                .ok_or_else(|| StoreError::corrupt("client secret digest", &row.id))?;
            Ok((digest, row.expires_at.map(Timestamp::from_unix_millis)))
        })
        .collect()
}

async fn insert_secret(
    db: &impl ConnectionTrait,
    app: &Application,
    digest: SecretDigest,
    now: Timestamp,
) -> Result<(), StoreError> {
    client_secret::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        tenant_id: Set(app.tenant_id.to_string()),
        application_id: Set(app.id.to_string()),
        digest: Set(digest.to_hex()),
        created_at: Set(now.unix_millis()),
        expires_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(StoreError::on_write("client secret"))?;
    Ok(())
}

pub(crate) fn resource_name(tenant: &Tenant, client_id: &ClientId) -> String {
    format!("tenants/{}/applications/{client_id}", tenant.slug)
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

fn to_row(a: &Application) -> application::ActiveModel {
    application::ActiveModel {
        id: Set(a.id.to_string()),
        tenant_id: Set(a.tenant_id.to_string()),
        client_id: Set(a.client_id.to_string()),
        display_name: Set(a.display_name.to_string()),
        app_type: Set(a.app_type.as_str().to_owned()),
        grant_types: Set(a.grant_types.to_delimited()),
        scopes: Set(a.scopes.to_delimited()),
        first_party: Set(a.first_party),
        allowed_origins: Set(join(a.allowed_origins.iter().map(AllowedOrigin::as_str))),
        allow_code_without_pkce: Set(a.allow_code_without_pkce),
        disabled_environments: Set(a.environments.disabled_list()),
        id_token_signed_response_alg: Set(a.id_token_signed_response_alg.as_str().to_owned()),
        backchannel_logout_uri: Set(a
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned())),
        native_sso: Set(a.native_sso),
        version: Set(a.version),
        created_at: Set(a.created_at.unix_millis()),
        updated_at: Set(a.updated_at.unix_millis()),
    }
}

pub(crate) fn into_record(row: application::Model) -> Result<Application, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::corrupt(&format!("application {} {what}", row.id), e)
    };
    let app_type =
        ApplicationType::parse(&row.app_type).ok_or_else(|| corrupt("type", &row.app_type))?;
    let origins: Vec<&str> = row
        .allowed_origins
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    Ok(Application {
        client_id: ClientId::parse(&row.client_id).map_err(|e| corrupt("client id", &e))?,
        display_name: DisplayName::parse(&row.display_name)
            .map_err(|e| corrupt("display name", &e))?,
        grant_types: GrantTypes::from_stored(&row.grant_types),
        scopes: ScopeSet::parse_delimited(&row.scopes).map_err(|e| corrupt("scopes", &e))?,
        allowed_origins: AllowedOrigin::parse_list(&origins, app_type)
            .map_err(|e| corrupt("allowed origins", &e))?,
        app_type,
        first_party: row.first_party,
        allow_code_without_pkce: row.allow_code_without_pkce,
        environments: EnvironmentSet::from_disabled_list(&row.disabled_environments),
        id_token_signed_response_alg: SigningAlgorithm::parse(&row.id_token_signed_response_alg)
            .ok_or_else(|| corrupt("ID token algorithm", &row.id_token_signed_response_alg))?,
        backchannel_logout_uri: row
            .backchannel_logout_uri
            .map(BackchannelLogoutUri::from_stored),
        native_sso: row.native_sso,
        id: ApplicationId::new(row.id),
        tenant_id: TenantId::new(row.tenant_id),
        version: row.version,
        created_at: Timestamp::from_unix_millis(row.created_at),
        updated_at: Timestamp::from_unix_millis(row.updated_at),
    })
}
