//! The users of a tenant.

use keyhaven_core::model::{AuditOutcome, Tenant, User};
use keyhaven_core::password::PasswordHash;
use keyhaven_core::username::{Email, Username};
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::audit::{self, Audit};
use crate::entities::user;
use crate::{Page, PageRequest, Store, StoreError, sessions};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Option<Email>,
    pub given_name: String,
    pub family_name: String,
    pub password_hash: PasswordHash,
}

pub async fn create(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    new: NewUser,
) -> Result<User, StoreError> {
    let txn = store.write.begin().await?;
    let user = User {
        id: uuid::Uuid::now_v7().simple().to_string(),
        tenant_id: tenant.id.clone(),
        username: new.username,
        email: new.email,
        given_name: new.given_name,
        family_name: new.family_name,
        password_hash: new.password_hash,
        disabled: false,
        version: 1,
        created_at: audit.now,
        updated_at: audit.now,
    };
    let mut row = to_row(&user);
    row.failed_logins = Set(0);
    row.insert(&txn)
        .await
        .map_err(StoreError::on_write("a user with this username"))?;
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &resource_name(tenant, &user.id),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

pub async fn get(store: &Store, tenant: &TenantId, id: &str) -> Result<Option<User>, StoreError> {
    find(&store.read, tenant, id, false).await
}

/// The user who signs in with this username at this tenant (usernames are unique per
/// tenant and stored lowercased, as [`Username`] parses them).
pub async fn find_by_username(
    store: &Store,
    tenant: &TenantId,
    username: &Username,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .filter(user::Column::Username.eq(username.as_str()))
        .one(&store.read)
        .await?
        .map(into_record)
        .transpose()
}

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    for_update: bool,
) -> Result<Option<User>, StoreError> {
    let mut query = user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.as_str()))
        .filter(user::Column::Id.eq(id));
    if for_update {
        query = query.lock_exclusive();
    }
    query.one(db).await?.map(into_record).transpose()
}

/// Users of a tenant in creation order.
pub async fn list(
    store: &Store,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Page<User>, StoreError> {
    let mut query = user::Entity::find().filter(user::Column::TenantId.eq(tenant.as_str()));
    if let Some(after) = &page.after {
        query = query.filter(user::Column::Id.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(user::Column::Id)
        .limit(Page::<User>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let users = rows
        .into_iter()
        .map(into_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(users, page, |u| u.id.clone()))
}

/// Applies `change` to the current user under a row lock; with `expected_version`, a
/// user changed since the caller read it is a conflict.
pub async fn update(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    id: &str,
    expected_version: Option<i64>,
    change: impl FnOnce(&mut User),
) -> Result<User, StoreError> {
    let txn = store.write.begin().await?;
    let current = find(&txn, &tenant.id, id, true)
        .await?
        .ok_or(StoreError::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(StoreError::Conflict);
    }
    let mut next = current.clone();
    change(&mut next);
    next.version = current.version + 1;
    next.updated_at = audit.now;
    let written = user::Entity::update_many()
        .set(to_row(&next))
        .filter(user::Column::TenantId.eq(tenant.id.as_str()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::Version.eq(current.version))
        .exec(&txn)
        .await?;
    if written.rows_affected == 0 {
        return Err(StoreError::Conflict);
    }
    if next.disabled && !current.disabled {
        sessions::end_all_of_user(&txn, &tenant.id, id, audit.now).await?;
    }
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &resource_name(tenant, id),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(next)
}

pub async fn delete(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    id: &str,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    // The rows of its sessions and tokens go with the user; the revocations of its
    // access tokens must stay until those expire.
    sessions::end_all_of_user(&txn, &tenant.id, id, audit.now).await?;
    let deleted = user::Entity::delete_many()
        .filter(user::Column::TenantId.eq(tenant.id.as_str()))
        .filter(user::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &resource_name(tenant, id),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

fn resource_name(tenant: &Tenant, id: &str) -> String {
    format!("tenants/{}/users/{id}", tenant.slug)
}

fn to_row(u: &User) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(u.id.clone()),
        tenant_id: Set(u.tenant_id.to_string()),
        username: Set(u.username.to_string()),
        email: Set(u
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default()),
        given_name: Set(u.given_name.clone()),
        family_name: Set(u.family_name.clone()),
        password_hash: Set(u.password_hash.as_str().to_owned()),
        disabled: Set(u.disabled),
        version: Set(u.version),
        created_at: Set(u.created_at.unix_millis()),
        updated_at: Set(u.updated_at.unix_millis()),
        ..Default::default()
    }
}

pub(crate) fn into_record(row: user::Model) -> Result<User, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::corrupt(&format!("user {} {what}", row.id), e)
    };
    let email = if row.email.is_empty() {
        None
    } else {
        Some(Email::parse(&row.email).map_err(|e| corrupt("email", &e))?)
    };
    Ok(User {
        username: Username::parse(&row.username).map_err(|e| corrupt("username", &e))?,
        email,
        id: row.id,
        tenant_id: TenantId::new(row.tenant_id),
        given_name: row.given_name,
        family_name: row.family_name,
        password_hash: PasswordHash::from_stored(row.password_hash),
        disabled: row.disabled,
        version: row.version,
        created_at: Timestamp::from_unix_millis(row.created_at),
        updated_at: Timestamp::from_unix_millis(row.updated_at),
    })
}
