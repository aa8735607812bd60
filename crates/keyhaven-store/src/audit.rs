//! The audit log: written inside each mutation's transaction, read newest first.

use keyhaven_core::model::{AuditEvent, AuditOutcome};
use keyhaven_core::{OrganizationId, Slug, TenantId, Timestamp};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entities::audit_event;
use crate::{Page, PageRequest, Store, StoreError};

/// Who is acting, as what, and when: handed to every mutation so that it can record
/// itself in the audit log within its own transaction.
#[derive(Debug, Clone)]
pub struct Audit {
    pub organization_id: OrganizationId,
    /// Resource name of the acting management token.
    pub actor: String,
    /// The RPC, such as `TenantService.CreateTenant`.
    pub action: &'static str,
    pub now: Timestamp,
}

pub(crate) async fn record(
    db: &impl ConnectionTrait,
    audit: &Audit,
    tenant: Option<(&TenantId, &Slug)>,
    target: &str,
    outcome: &AuditOutcome,
) -> Result<(), StoreError> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        organization_id: Set(audit.organization_id.to_string()),
        tenant_id: Set(tenant.map(|(id, _)| id.to_string())),
        tenant_slug: Set(tenant.map(|(_, slug)| slug.to_string())),
        actor: Set(audit.actor.clone()),
        action: Set(audit.action.to_owned()),
        target: Set(target.to_owned()),
        outcome: Set(outcome.as_str().to_owned()),
        created_at: Set(audit.now.unix_millis()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Records a mutation that failed: the failed transaction wrote nothing, so this one
/// stands alone.
pub async fn record_failure(
    store: &Store,
    audit: &Audit,
    tenant: Option<(&TenantId, &Slug)>,
    target: &str,
    code: &'static str,
) -> Result<(), StoreError> {
    record(
        &store.write,
        audit,
        tenant,
        target,
        &AuditOutcome::Failed(code),
    )
    .await
}

/// Events of an organization, or of one of its tenants, newest first.
pub async fn list(
    store: &Store,
    organization: &OrganizationId,
    tenant: Option<&TenantId>,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, StoreError> {
    let mut query = audit_event::Entity::find()
        .filter(audit_event::Column::OrganizationId.eq(organization.as_str()));
    if let Some(tenant) = tenant {
        query = query.filter(audit_event::Column::TenantId.eq(tenant.as_str()));
    }
    if let Some(after) = &page.after {
        let after: i64 = after
            .parse()
            .map_err(|_| StoreError::corrupt("audit page key", after))?;
        query = query.filter(audit_event::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(audit_event::Column::Id)
        .limit(Page::<AuditEvent>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let events = rows
        .into_iter()
        .map(into_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(events, page, |e| e.id.to_string()))
}

fn into_record(row: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let tenant = match (row.tenant_id, row.tenant_slug) {
        (Some(id), Some(slug)) => Some((
            TenantId::new(id),
            Slug::parse(&slug).map_err(|e| StoreError::corrupt("audit tenant slug", e))?,
        )),
        _ => None,
    };
    Ok(AuditEvent {
        id: row.id,
        organization_id: OrganizationId::new(row.organization_id),
        tenant,
        actor: row.actor,
        action: row.action,
        target: row.target,
        outcome: row.outcome,
        created_at: Timestamp::from_unix_millis(row.created_at),
    })
}
