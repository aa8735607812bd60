//! Tenants: created under an organization, found by slug within it, updated with
//! optimistic concurrency, deleted with everything under them.

use std::time::Duration;

use keyhaven_core::model::{AuditOutcome, Tenant, TokenLifetimes};
use keyhaven_core::{DisplayName, EnvironmentSet, OrganizationId, Slug, TenantId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::audit::{self, Audit};
use crate::changes::{self, Change};
use crate::entities::tenant;
use crate::signing_keys::{self, NewSigningKey};
use crate::{Page, PageRequest, Store, StoreError, request_ids};

/// What a caller chooses for a new tenant; the store assigns the rest.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// From [`new_id`]: the caller needs it before the tenant exists, because the
    /// signing keys are sealed to it.
    pub id: TenantId,
    pub slug: Slug,
    pub display_name: DisplayName,
    pub environments: EnvironmentSet,
    pub lifetimes: TokenLifetimes,
    /// Inserted with the tenant, in its transaction: a tenant never exists without keys.
    pub signing_keys: Vec<NewSigningKey>,
}

/// A fresh tenant id, for [`NewTenant::id`].
pub fn new_id() -> TenantId {
    TenantId::new(uuid::Uuid::now_v7().to_string())
}

/// Whether a create made something new or replayed an earlier request with the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    New(T),
    Replayed(T),
}

impl<T> Created<T> {
    pub fn into_inner(self) -> T {
        match self {
            Created::New(t) | Created::Replayed(t) => t,
        }
    }
}

pub async fn create(
    store: &Store,
    audit: &Audit,
    new: NewTenant,
    request_id: Option<&str>,
) -> Result<Created<Tenant>, StoreError> {
    let txn = store.write.begin().await?;
    if let Some(id) = request_ids::replayed(&txn, audit, "", request_id).await? {
        let tenant = find_by_id(&txn, &audit.organization_id, &TenantId::new(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        return Ok(Created::Replayed(tenant));
    }
    let tenant = Tenant {
        id: new.id,
        organization_id: audit.organization_id.clone(),
        slug: new.slug,
        display_name: new.display_name,
        environments: new.environments,
        lifetimes: new.lifetimes,
        version: 1,
        created_at: audit.now,
        updated_at: audit.now,
    };
    to_row(&tenant)
        .insert(&txn)
        .await
        .map_err(StoreError::on_write("a tenant with this slug"))?;
    for key in &new.signing_keys {
        signing_keys::insert(&txn, &tenant.id, key, audit.now).await?;
    }
    if let Some(request_id) = request_id {
        request_ids::remember(&txn, audit, "", request_id, tenant.id.as_str()).await?;
    }
    let target = format!("tenants/{}", tenant.slug);
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    // A replica may remember this slug as unknown.
    let change = Change::Tenant {
        id: tenant.id.clone(),
        slug: tenant.slug.clone(),
    };
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(Created::New(tenant))
}

/// The tenant with this slug, if it belongs to the organization.
pub async fn get(
    store: &Store,
    organization: &OrganizationId,
    slug: &Slug,
) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(organization.as_str()))
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}

async fn find_by_id(
    db: &impl ConnectionTrait,
    organization: &OrganizationId,
    id: &TenantId,
) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find_by_id(id.to_string())
        .filter(tenant::Column::OrganizationId.eq(organization.as_str()))
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

/// Tenants of an organization by slug; `only` narrows the list to one tenant (what a
/// service token reaches).
pub async fn list(
    store: &Store,
    organization: &OrganizationId,
    only: Option<&TenantId>,
    page: &PageRequest,
) -> Result<Page<Tenant>, StoreError> {
    let mut query =
        tenant::Entity::find().filter(tenant::Column::OrganizationId.eq(organization.as_str()));
    if let Some(only) = only {
        query = query.filter(tenant::Column::Id.eq(only.as_str()));
    }
    if let Some(after) = &page.after {
        query = query.filter(tenant::Column::Slug.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(tenant::Column::Slug)
        .limit(Page::<Tenant>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let tenants = rows
        .into_iter()
        .map(into_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(tenants, page, |t| t.slug.to_string()))
}

/// Applies `change` to the current tenant under a row lock: concurrent updaters queue,
/// and each applies its change to what the previous one wrote, so concurrent partial
/// updates both land. With `expected_version` (the caller's etag), a tenant changed
/// since the caller read it is a conflict.
pub async fn update(
    store: &Store,
    audit: &Audit,
    organization: &OrganizationId,
    slug: &Slug,
    expected_version: Option<i64>,
    change: impl FnOnce(&mut Tenant),
) -> Result<Tenant, StoreError> {
    let txn = store.write.begin().await?;
    // FOR UPDATE on PostgreSQL: concurrent updaters queue here and each reads the
    // version the previous one wrote (SQLite ignores it; its one writer serializes).
    let current = tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(organization.as_str()))
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .lock_exclusive()
        .one(&txn)
        .await?
        .map(into_record)
        .transpose()?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(StoreError::Conflict);
    }
    let mut next = current.clone();
    change(&mut next);
    next.version = current.version + 1;
    next.updated_at = audit.now;
    let written = tenant::Entity::update_many()
        .set(to_row(&next))
        .filter(tenant::Column::Id.eq(current.id.as_str()))
        .filter(tenant::Column::Version.eq(current.version))
        .exec(&txn)
        .await?;
    if written.rows_affected == 0 {
        // Unreachable while the row lock is held; kept as a guard, not a retry.
        return Err(StoreError::Conflict);
    }
    let target = format!("tenants/{}", next.slug);
    audit::record(
        &txn,
        audit,
        Some((&next.id, &next.slug)),
        &target,
        &AuditOutcome::Ok,
    )
    .await?;
    let change = Change::Tenant {
        id: next.id.clone(),
        slug: next.slug.clone(),
    };
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(next)
}

/// Deletes the tenant; foreign keys cascade to its applications, secrets, redirect URIs
/// and service tokens.
pub async fn delete(
    store: &Store,
    audit: &Audit,
    organization: &OrganizationId,
    slug: &Slug,
    expected_version: Option<i64>,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    let mut query = tenant::Entity::delete_many()
        .filter(tenant::Column::OrganizationId.eq(organization.as_str()))
        .filter(tenant::Column::Slug.eq(slug.as_str()));
    let current = tenant::Entity::find()
        .filter(tenant::Column::OrganizationId.eq(organization.as_str()))
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(StoreError::Conflict);
    }
    query = query.filter(tenant::Column::Version.eq(current.version));
    if query.exec(&txn).await?.rows_affected == 0 {
        return Err(StoreError::Conflict);
    }
    let id = TenantId::new(current.id);
    audit::record(
        &txn,
        audit,
        Some((&id, slug)),
        &format!("tenants/{slug}"),
        &AuditOutcome::Ok,
    )
    .await?;
    let change = Change::Tenant {
        id,
        slug: slug.clone(),
    };
    changes::announce(&txn, store, audit.now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(())
}

fn to_row(t: &Tenant) -> tenant::ActiveModel {
    let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    tenant::ActiveModel {
        id: Set(t.id.to_string()),
        organization_id: Set(t.organization_id.to_string()),
        slug: Set(t.slug.to_string()),
        display_name: Set(t.display_name.to_string()),
        disabled_environments: Set(t.environments.disabled_list()),
        access_token_ttl_seconds: Set(seconds(t.lifetimes.access_token)),
        id_token_ttl_seconds: Set(seconds(t.lifetimes.id_token)),
        refresh_token_ttl_seconds: Set(seconds(t.lifetimes.refresh_token)),
        session_idle_seconds: Set(seconds(t.lifetimes.session_idle)),
        session_absolute_seconds: Set(seconds(t.lifetimes.session_absolute)),
        version: Set(t.version),
        created_at: Set(t.created_at.unix_millis()),
        updated_at: Set(t.updated_at.unix_millis()),
    }
}

pub(crate) fn into_record(row: tenant::Model) -> Result<Tenant, StoreError> {
    let corrupt = |what: &str| {
        let what = format!("tenant {} {what}", row.id);
        move |e: String| StoreError::corrupt(&what, e)
    };
    let lifetime = |s: i64| Duration::from_secs(u64::try_from(s).unwrap_or(0));
    Ok(Tenant {
        slug: Slug::parse(&row.slug).map_err(|e| corrupt("slug")(e.to_string()))?,
        display_name: DisplayName::parse(&row.display_name)
            .map_err(|e| corrupt("display name")(e.to_string()))?,
        environments: EnvironmentSet::from_disabled_list(&row.disabled_environments),
        lifetimes: TokenLifetimes {
            access_token: lifetime(row.access_token_ttl_seconds),
            id_token: lifetime(row.id_token_ttl_seconds),
            refresh_token: lifetime(row.refresh_token_ttl_seconds),
            session_idle: lifetime(row.session_idle_seconds),
            session_absolute: lifetime(row.session_absolute_seconds),
        },
        id: TenantId::new(row.id),
        organization_id: OrganizationId::new(row.organization_id),
        version: row.version,
        created_at: keyhaven_core::Timestamp::from_unix_millis(row.created_at),
        updated_at: keyhaven_core::Timestamp::from_unix_millis(row.updated_at),
    })
}

/// The tenant a service token or an application row points at, by id.
pub(crate) async fn get_by_id(
    db: &impl ConnectionTrait,
    id: &TenantId,
) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

/// The tenant with this slug, whatever its organization: the public runtime routes by
/// slug, which is globally unique.
pub async fn find_by_slug(store: &Store, slug: &Slug) -> Result<Option<Tenant>, StoreError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}
