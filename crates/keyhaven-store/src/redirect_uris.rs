//! Redirect URIs registered on an application.

use keyhaven_core::model::{Application, AuditOutcome, RegisteredRedirectUri, Tenant};
use keyhaven_core::{
    ApplicationId, Environment, RedirectPurpose, RedirectUri, TenantId, Timestamp,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::applications::{self, resource_name};
use crate::audit::{self, Audit};
use crate::changes;
use crate::entities::redirect_uri;
use crate::{Page, PageRequest, Store, StoreError};

pub async fn create(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    app: &Application,
    uri: RedirectUri,
    purpose: RedirectPurpose,
) -> Result<RegisteredRedirectUri, StoreError> {
    let txn = store.write.begin().await?;
    let registered = RegisteredRedirectUri {
        id: uuid::Uuid::now_v7().simple().to_string(),
        application_id: app.id.clone(),
        uri,
        purpose,
        created_at: audit.now,
    };
    redirect_uri::ActiveModel {
        id: Set(registered.id.clone()),
        tenant_id: Set(tenant.id.to_string()),
        application_id: Set(app.id.to_string()),
        uri: Set(registered.uri.to_string()),
        purpose: Set(purpose.as_str().to_owned()),
        environment: Set(registered.uri.environment().as_str().to_owned()),
        created_at: Set(audit.now.unix_millis()),
    }
    .insert(&txn)
    .await
    .map_err(StoreError::on_write("this redirect URI with this purpose"))?;
    let target = format!(
        "{}/redirectUris/{}",
        resource_name(tenant, &app.client_id),
        registered.id
    );
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    // The public runtime caches an application's redirect URIs with it.
    let change = applications::changed(tenant, &app.client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(registered)
}

pub async fn list(
    store: &Store,
    tenant: &TenantId,
    app: &ApplicationId,
    page: &PageRequest,
) -> Result<Page<RegisteredRedirectUri>, StoreError> {
    let mut query = redirect_uri::Entity::find()
        .filter(redirect_uri::Column::TenantId.eq(tenant.as_str()))
        .filter(redirect_uri::Column::ApplicationId.eq(app.as_str()));
    if let Some(after) = &page.after {
        query = query.filter(redirect_uri::Column::Id.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(redirect_uri::Column::Id)
        .limit(Page::<RegisteredRedirectUri>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let uris = rows
        .into_iter()
        .map(into_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(uris, page, |u| u.id.clone()))
}

/// Every registered redirect URI of the application, of every purpose, all pages of them.
pub async fn all(
    store: &Store,
    tenant: &TenantId,
    app: &ApplicationId,
) -> Result<Vec<RegisteredRedirectUri>, StoreError> {
    let mut uris = Vec::new();
    let mut request = PageRequest {
        size: 200,
        after: None,
    };
    loop {
        let page = list(store, tenant, app, &request).await?;
        uris.extend(page.items);
        match page.next_after {
            Some(after) => request.after = Some(after),
            None => return Ok(uris),
        }
    }
}

pub async fn delete(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    app: &Application,
    id: &str,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    let deleted = redirect_uri::Entity::delete_many()
        .filter(redirect_uri::Column::TenantId.eq(tenant.id.as_str()))
        .filter(redirect_uri::Column::ApplicationId.eq(app.id.as_str()))
        .filter(redirect_uri::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    let target = format!(
        "{}/redirectUris/{id}",
        resource_name(tenant, &app.client_id)
    );
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    // The public runtime caches an application's redirect URIs with it.
    let change = applications::changed(tenant, &app.client_id);
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(())
}

fn into_record(row: redirect_uri::Model) -> Result<RegisteredRedirectUri, StoreError> {
    let environment = Environment::parse(&row.environment)
        .ok_or_else(|| StoreError::corrupt("redirect URI environment", &row.environment))?;
    let purpose = RedirectPurpose::parse(&row.purpose)
        .ok_or_else(|| StoreError::corrupt("redirect URI purpose", &row.purpose))?;
    Ok(RegisteredRedirectUri {
        id: row.id,
        application_id: ApplicationId::new(row.application_id),
        uri: RedirectUri::from_stored(row.uri, environment),
        purpose,
        created_at: Timestamp::from_unix_millis(row.created_at),
    })
}
