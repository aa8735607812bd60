//! Management tokens: the bearer credentials of the control plane, kept as digests.

use std::time::Duration;

use keyhaven_core::model::{AuditOutcome, ManagementToken, Organization, Tenant};
use keyhaven_core::{OrganizationId, PermissionSet, SecretDigest, Slug, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use crate::audit::{self, Audit};
use crate::entities::{management_token, organization};
use crate::{Page, PageRequest, Store, StoreError, tenants};

/// `last_used` is written at most this often per token, so authentication stays a read.
pub const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct NewManagementToken {
    pub display_name: String,
    pub permissions: PermissionSet,
    pub expires_at: Option<Timestamp>,
    pub digest: SecretDigest,
}

/// Creates an organization token (`tenant` is `None`) or a service token of `tenant`.
pub async fn create(
    store: &Store,
    audit: &Audit,
    organization: &Organization,
    tenant: Option<&Tenant>,
    new: NewManagementToken,
) -> Result<ManagementToken, StoreError> {
    let txn = store.write.begin().await?;
    let token = ManagementToken {
        id: uuid::Uuid::now_v7().simple().to_string(),
        organization_id: organization.id.clone(),
        organization_slug: organization.slug.clone(),
        tenant: tenant.map(|t| (t.id.clone(), t.slug.clone())),
        display_name: new.display_name,
        permissions: new.permissions,
        expires_at: new.expires_at,
        revoked_at: None,
        last_used_at: None,
        created_at: audit.now,
    };
    management_token::ActiveModel {
        id: Set(token.id.clone()),
        organization_id: Set(organization.id.to_string()),
        tenant_id: Set(tenant.map(|t| t.id.to_string())),
        display_name: Set(token.display_name.clone()),
        digest: Set(new.digest.to_hex()),
        permissions: Set(token.permissions.to_stored()),
        expires_at: Set(token.expires_at.map(Timestamp::unix_millis)),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: Set(audit.now.unix_millis()),
    }
    .insert(&txn)
    .await
    .map_err(StoreError::on_write("management token"))?;
    let tenant_ref = tenant.map(|t| (&t.id, &t.slug));
    audit::record(
        &txn,
        audit,
        tenant_ref,
        &token.resource_name(),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// The token with this digest, whatever its state: the caller decides whether it is
/// live, so that it can log why a token was refused.
pub async fn find_by_digest(
    store: &Store,
    digest: &SecretDigest,
) -> Result<Option<ManagementToken>, StoreError> {
    let Some(row) = management_token::Entity::find()
        .filter(management_token::Column::Digest.eq(digest.to_hex()))
        .one(&store.read)
        .await?
    else {
        return Ok(None);
    };
    let org = organization::Entity::find_by_id(row.organization_id.clone())
        .one(&store.read)
        .await?
        .ok_or_else(|| StoreError::corrupt("management token organization", &row.id))?;
    let org_slug =
        Slug::parse(&org.slug).map_err(|e| StoreError::corrupt("organization slug", e))?;
    let tenant = match &row.tenant_id {
        Some(id) => {
            let tenant = tenants::get_by_id(&store.read, &TenantId::new(id.clone()))
                .await?
                .ok_or_else(|| StoreError::corrupt("management token tenant", &row.id))?;
            Some((tenant.id, tenant.slug))
        }
        None => None,
    };
    Ok(Some(into_record(row, org_slug, tenant)))
}

/// Records a use, unless one was recorded within [`LAST_USED_GRANULARITY`]: the
/// condition is in the UPDATE, so concurrent calls cannot make it a write per call.
pub async fn touch(
    store: &Store,
    token: &ManagementToken,
    now: Timestamp,
) -> Result<(), StoreError> {
    if token
        .last_used_at
        .is_some_and(|at| at > now.saturating_sub(LAST_USED_GRANULARITY))
    {
        return Ok(());
    }
    let stale_before = now.saturating_sub(LAST_USED_GRANULARITY).unix_millis();
    management_token::Entity::update_many()
        .col_expr(
            management_token::Column::LastUsedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(management_token::Column::Id.eq(token.id.as_str()))
        .filter(
            Condition::any()
                .add(management_token::Column::LastUsedAt.is_null())
                .add(management_token::Column::LastUsedAt.lte(stale_before)),
        )
        .exec(&store.write)
        .await?;
    Ok(())
}

/// Organization tokens (`tenant` is `None`) or the service tokens of one tenant, oldest
/// first.
pub async fn list(
    store: &Store,
    organization: &Organization,
    tenant: Option<&Tenant>,
    page: &PageRequest,
) -> Result<Page<ManagementToken>, StoreError> {
    let mut query = management_token::Entity::find()
        .filter(management_token::Column::OrganizationId.eq(organization.id.as_str()));
    query = match tenant {
        Some(t) => query.filter(management_token::Column::TenantId.eq(t.id.as_str())),
        None => query.filter(management_token::Column::TenantId.is_null()),
    };
    if let Some(after) = &page.after {
        query = query.filter(management_token::Column::Id.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(management_token::Column::Id)
        .limit(Page::<ManagementToken>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let tenant_ref = tenant.map(|t| (t.id.clone(), t.slug.clone()));
    let tokens = rows
        .into_iter()
        .map(|row| into_record(row, organization.slug.clone(), tenant_ref.clone()))
        .collect();
    Ok(Page::from_rows(tokens, page, |t: &ManagementToken| {
        t.id.clone()
    }))
}

/// Revokes the token; revoking a revoked token changes nothing and succeeds.
pub async fn revoke(
    store: &Store,
    audit: &Audit,
    organization: &Organization,
    tenant: Option<&Tenant>,
    id: &str,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    let mut query = management_token::Entity::find()
        .filter(management_token::Column::OrganizationId.eq(organization.id.as_str()))
        .filter(management_token::Column::Id.eq(id));
    query = match tenant {
        Some(t) => query.filter(management_token::Column::TenantId.eq(t.id.as_str())),
        None => query.filter(management_token::Column::TenantId.is_null()),
    };
    let row = query.one(&txn).await?.ok_or(StoreError::NotFound)?;
    if row.revoked_at.is_none() {
        management_token::Entity::update_many()
            .col_expr(
                management_token::Column::RevokedAt,
                Expr::value(audit.now.unix_millis()),
            )
            .filter(management_token::Column::Id.eq(id))
            .filter(management_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    let tenant_ref = tenant.map(|t| (t.id.clone(), t.slug.clone()));
    let token = into_record(row, organization.slug.clone(), tenant_ref);
    let tenant_ref = tenant.map(|t| (&t.id, &t.slug));
    audit::record(
        &txn,
        audit,
        tenant_ref,
        &token.resource_name(),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

fn into_record(
    row: management_token::Model,
    organization_slug: Slug,
    tenant: Option<(TenantId, Slug)>,
) -> ManagementToken {
    let at = |millis: Option<i64>| millis.map(Timestamp::from_unix_millis);
    ManagementToken {
        id: row.id,
        organization_id: OrganizationId::new(row.organization_id),
        organization_slug,
        tenant,
        display_name: row.display_name,
        permissions: PermissionSet::from_stored(&row.permissions),
        expires_at: at(row.expires_at),
        revoked_at: at(row.revoked_at),
        last_used_at: at(row.last_used_at),
        created_at: Timestamp::from_unix_millis(row.created_at),
    }
}
