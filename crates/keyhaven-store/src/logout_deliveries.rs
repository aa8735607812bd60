//! The queue of back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0).
//!
//! Ending a session queues one delivery per application that got tokens in it and has a
//! `backchannel_logout_uri`, in the transaction that ends it, so a logout is never
//! without its deliveries. Any replica may send them: a delivery is claimed with a
//! conditional update that moves its `next_attempt_at` a lease into the future, so of
//! several replicas polling at once exactly one wins each attempt, and an attempt whose
//! replica died is retried once the lease has run out.
//!
//! The queue serves every tenant at once: the claim is the one query here not filtered
//! by a tenant, and each claimed row carries its tenant onward.
//!
//! Each outcome is written to the audit log as action `BackchannelLogout.Deliver` on the
//! application: `OK` when delivered, `UNAVAILABLE` for a failed attempt that will be
//! retried, `DEADLINE_EXCEEDED` when the retries are used up.

use std::time::Duration;

use keyhaven_core::model::{Application, AuditOutcome, Tenant};
use keyhaven_core::{BackchannelLogoutUri, TenantId, Timestamp};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::audit::{self, Audit};
use crate::entities::{application, logout_delivery, session, session_application};
use crate::{Store, StoreError, applications, tenants};

pub const ACTOR: &str = "keyhaven:backchannel-logout";
pub const ACTION: &str = "BackchannelLogout.Deliver";

/// How many due deliveries one claim looks at: enough to step past rows another replica
/// won a moment ago.
const CLAIM_CANDIDATES: u64 = 8;

/// An attempt this replica has claimed and now owns until its lease runs out.
#[derive(Debug, Clone)]
pub struct Claimed {
    id: String,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    pub tenant: Tenant,
    pub application: Application,
    pub session_id: String,
    /// The user id, the logout token's `sub`.
    pub subject: String,
    /// Where to send it, as registered when the session ended.
    pub uri: BackchannelLogoutUri,
}

/// Queues a delivery for each application of `sessions` that has a back-channel logout
/// URI. Only sessions still live are considered, so ending a session twice tells its
/// applications once.
pub(crate) async fn enqueue(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    sessions: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let live: Vec<(String, String)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::UserId)
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.is_in(sessions.iter().map(String::as_str)))
        .filter(session::Column::EndedAt.is_null())
        .into_tuple()
        .all(txn)
        .await?;
    if live.is_empty() {
        return Ok(());
    }
    let links = session_application::Entity::find()
        .filter(session_application::Column::TenantId.eq(tenant.as_str()))
        .filter(
            session_application::Column::SessionId.is_in(live.iter().map(|(id, _)| id.as_str())),
        )
        .order_by_asc(session_application::Column::CreatedAt)
        .all(txn)
        .await?;
    if links.is_empty() {
        return Ok(());
    }
    let uris: Vec<(String, String)> = application::Entity::find()
        .select_only()
        .column(application::Column::Id)
        .column(application::Column::BackchannelLogoutUri)
        .filter(application::Column::TenantId.eq(tenant.as_str()))
        .filter(application::Column::Id.is_in(links.iter().map(|l| l.application_id.as_str())))
        .filter(application::Column::BackchannelLogoutUri.is_not_null())
        .into_tuple::<(String, Option<String>)>()
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|(id, uri)| Some((id, uri?)))
        .collect();
    let rows: Vec<logout_delivery::ActiveModel> = links
        .iter()
        .filter_map(|link| {
            let (_, uri) = uris.iter().find(|(id, _)| *id == link.application_id)?;
            let (_, subject) = live.iter().find(|(id, _)| *id == link.session_id)?;
            Some(logout_delivery::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                tenant_id: Set(tenant.to_string()),
                application_id: Set(link.application_id.clone()),
                session_id: Set(link.session_id.clone()),
                subject: Set(subject.clone()),
                uri: Set(uri.clone()),
                attempts: Set(0),
                next_attempt_at: Set(now.unix_millis()),
                delivered_at: Set(None),
                abandoned_at: Set(None),
                last_error: Set(None),
                created_at: Set(now.unix_millis()),
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    logout_delivery::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Claims one due attempt for `lease`: no other replica gets it until the lease has run
/// out or the attempt is finished. `None` when nothing is due.
pub async fn claim_due(
    store: &Store,
    now: Timestamp,
    lease: Duration,
) -> Result<Option<Claimed>, StoreError> {
    let candidates: Vec<(String, i64)> = logout_delivery::Entity::find()
        .select_only()
        .column(logout_delivery::Column::Id)
        .column(logout_delivery::Column::NextAttemptAt)
        .filter(logout_delivery::Column::NextAttemptAt.lte(now.unix_millis()))
        .filter(logout_delivery::Column::DeliveredAt.is_null())
        .filter(logout_delivery::Column::AbandonedAt.is_null())
        .order_by_asc(logout_delivery::Column::NextAttemptAt)
        .limit(CLAIM_CANDIDATES)
        .into_tuple()
        .all(&store.read)
        .await?;
    let until = now.saturating_add(lease).unix_millis();
    for (id, seen) in candidates {
        // Compare-and-set on the due time: of two replicas that saw the same row, the
        // second finds it moved (PostgreSQL re-checks the condition after the first's
        // row lock is released; SQLite has a single writer).
        let won = logout_delivery::Entity::update_many()
            .col_expr(logout_delivery::Column::NextAttemptAt, Expr::value(until))
            .col_expr(
                logout_delivery::Column::Attempts,
                Expr::col(logout_delivery::Column::Attempts).add(1i32),
            )
            .filter(logout_delivery::Column::Id.eq(id.as_str()))
            .filter(logout_delivery::Column::NextAttemptAt.eq(seen))
            .filter(logout_delivery::Column::DeliveredAt.is_null())
            .filter(logout_delivery::Column::AbandonedAt.is_null())
            .exec(&store.write)
            .await?;
        if won.rows_affected == 1
            && let Some(claimed) = load(store, &id).await?
        {
            return Ok(Some(claimed));
        }
    }
    Ok(None)
}

async fn load(store: &Store, id: &str) -> Result<Option<Claimed>, StoreError> {
    let Some(row) = logout_delivery::Entity::find_by_id(id)
        .one(&store.write)
        .await?
    else {
        return Ok(None);
    };
    let tenant_id = TenantId::new(row.tenant_id.clone());
    let Some(tenant) = tenants::get_by_id(&store.write, &tenant_id).await? else {
        return Ok(None);
    };
    let Some(application) = application::Entity::find_by_id(row.application_id.as_str())
        .filter(application::Column::TenantId.eq(tenant_id.as_str()))
        .one(&store.write)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Claimed {
        attempt: u32::try_from(row.attempts)
            .map_err(|e| StoreError::corrupt(&format!("logout delivery {id} attempts"), e))?,
        application: applications::into_record(application)?,
        tenant,
        session_id: row.session_id,
        subject: row.subject,
        uri: BackchannelLogoutUri::from_stored(row.uri),
        id: row.id,
    }))
}

/// How a claimed attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; try again at this time.
    RetryAt(Timestamp, String),
    /// Failed, and no retry is left.
    Abandoned(String),
}

/// Records how the attempt ended, with its audit event, unless the lease ran out and
/// another replica has claimed the delivery since (then that attempt records itself).
pub async fn finish(
    store: &Store,
    claimed: &Claimed,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    let update = logout_delivery::Entity::update_many();
    let update = match outcome {
        Outcome::Delivered => update
            .col_expr(
                logout_delivery::Column::DeliveredAt,
                Expr::value(now.unix_millis()),
            )
            .col_expr(
                logout_delivery::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Outcome::RetryAt(at, error) => update
            .col_expr(
                logout_delivery::Column::NextAttemptAt,
                Expr::value(at.unix_millis()),
            )
            .col_expr(
                logout_delivery::Column::LastError,
                Expr::value(error.as_str()),
            ),
        Outcome::Abandoned(error) => update
            .col_expr(
                logout_delivery::Column::AbandonedAt,
                Expr::value(now.unix_millis()),
            )
            .col_expr(
                logout_delivery::Column::LastError,
                Expr::value(error.as_str()),
            ),
    };
    let written = update
        .filter(logout_delivery::Column::TenantId.eq(claimed.tenant.id.as_str()))
        .filter(logout_delivery::Column::Id.eq(claimed.id.as_str()))
        .filter(logout_delivery::Column::Attempts.eq(i64::from(claimed.attempt)))
        .filter(logout_delivery::Column::DeliveredAt.is_null())
        .filter(logout_delivery::Column::AbandonedAt.is_null())
        .exec(&txn)
        .await?;
    if written.rows_affected == 0 {
        return Ok(());
    }
    let audit = Audit {
        organization_id: claimed.tenant.organization_id.clone(),
        actor: ACTOR.to_owned(),
        action: ACTION,
        now,
    };
    let result = match outcome {
        Outcome::Delivered => AuditOutcome::Ok,
        Outcome::RetryAt(..) => AuditOutcome::Failed("UNAVAILABLE"),
        Outcome::Abandoned(_) => AuditOutcome::Failed("DEADLINE_EXCEEDED"),
    };
    audit::record(
        &txn,
        &audit,
        Some((&claimed.tenant.id, &claimed.tenant.slug)),
        &applications::resource_name(&claimed.tenant, &claimed.application.client_id),
        &result,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
