//! SSO sessions of a tenant's users. The browser holds a secret whose digest is stored
//! here; the session id is the `sid` of the tokens issued in the session.
//!
//! Ending a session is one transaction: the session is marked ended, the refresh tokens
//! issued in it are revoked, and a `session` revocation makes every access token carrying
//! its `sid` invalid at once, on every replica (the endpoints that accept access tokens
//! read `revocations`).
//!
//! Sign-ins are end-user activity, not control-plane mutations, so they write no audit
//! event.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use keyhaven_core::model::{AuditOutcome, Session, Tenant, TokenLifetimes, User};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{ApplicationId, ClientId, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use crate::audit::{self, Audit};
use crate::entities::{application, refresh_token, session, session_application, user};
use crate::revocations::{self, Kind, Reason, Revocation};
use crate::{Page, PageRequest, Store, StoreError};
use crate::{logout_deliveries, users};

/// A session's idle end is written at most this often: a busy session does not cost a
/// write per request.
const TOUCH_GRANULARITY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct NewSession {
    /// The `sid`: random, unique.
    pub id: String,
    pub user_id: String,
    /// Digest of the session cookie handed to the browser.
    pub secret: OpaqueDigest,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub expires_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub device_id: Option<String>,
}

#[tracing::instrument(skip(store, new), fields(sid = %new.id))]
pub async fn create(
    store: &Store,
    tenant: &TenantId,
    new: NewSession,
) -> Result<Session, StoreError> {
    let session = Session {
        id: new.id,
        tenant_id: tenant.clone(),
        user_id: new.user_id,
        auth_time: new.auth_time,
        amr: new.amr,
        expires_at: new.expires_at,
        idle_expires_at: Some(new.idle_expires_at),
        device_id: new.device_id,
        ended_at: None,
        created_at: new.auth_time,
    };
    session::Entity::insert(session::ActiveModel {
        id: Set(session.id.clone()),
        tenant_id: Set(tenant.to_string()),
        user_id: Set(session.user_id.clone()),
        secret_digest: Set(new.secret.as_str().to_owned()),
        auth_time: Set(session.auth_time.unix_millis()),
        amr: Set(session.amr.join(" ")),
        expires_at: Set(session.expires_at.unix_millis()),
        idle_expires_at: Set(session.idle_expires_at.map(Timestamp::unix_millis)),
        device_id: Set(session.device_id.clone()),
        ended_at: Set(None),
        created_at: Set(session.created_at.unix_millis()),
    })
    .exec_without_returning(&store.write)
    .await
    .map_err(StoreError::on_write("a session with this id"))?;
    Ok(session)
}

/// The same user signed in again in the same browser: the session keeps its `sid` (the
/// applications' sessions stay attached to it) and gets a new cookie secret, a new
/// `auth_time` and new ends. `None` if the session ended in the meantime.
#[tracing::instrument(skip(store, secret, amr))]
pub async fn reauthenticate(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    secret: &OpaqueDigest,
    auth_time: Timestamp,
    amr: &[String],
    lifetimes: &TokenLifetimes,
) -> Result<Option<Session>, StoreError> {
    let expires_at = auth_time.saturating_add(lifetimes.session_absolute);
    let idle = Session::idle_end(auth_time, lifetimes.session_idle, expires_at);
    let updated = session::Entity::update_many()
        .col_expr(session::Column::SecretDigest, Expr::value(secret.as_str()))
        .col_expr(
            session::Column::AuthTime,
            Expr::value(auth_time.unix_millis()),
        )
        .col_expr(session::Column::Amr, Expr::value(amr.join(" ")))
        .col_expr(
            session::Column::ExpiresAt,
            Expr::value(expires_at.unix_millis()),
        )
        .col_expr(
            session::Column::IdleExpiresAt,
            Expr::value(idle.unix_millis()),
        )
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::EndedAt.is_null())
        .exec(&store.write)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    find(&store.write, tenant, session::Column::Id.eq(id)).await
}

/// The session was used at `now` (an authorization served from it): its idle end moves
/// on, never past its absolute end, written at most once a minute.
pub async fn touch(
    store: &Store,
    tenant: &TenantId,
    session: &Session,
    idle: Duration,
    now: Timestamp,
) -> Result<(), StoreError> {
    let next = Session::idle_end(now, idle, session.expires_at);
    let stale = session
        .idle_expires_at
        .is_none_or(|current| next >= current.saturating_add(TOUCH_GRANULARITY));
    if !stale {
        return Ok(());
    }
    session::Entity::update_many()
        .col_expr(
            session::Column::IdleExpiresAt,
            Expr::value(next.unix_millis()),
        )
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.eq(session.id.as_str()))
        .filter(session::Column::EndedAt.is_null())
        .exec(&store.write)
        .await?;
    Ok(())
}

/// Records that `application` got tokens in the session (idempotent). A pair this
/// process recorded lately is not written again: its row goes only with the session or
/// the application, and ids are never reused, so the write would change nothing.
pub async fn record_application(
    store: &Store,
    tenant: &TenantId,
    session: &str,
    application: &ApplicationId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let link = (session.to_owned(), application.clone());
    if store.recorded_links().contains(&link) {
        return Ok(());
    }
    session_application::Entity::insert(session_application::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        session_id: Set(session.to_owned()),
        application_id: Set(application.to_string()),
        created_at: Set(now.unix_millis()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(&store.write)
    .await?;
    store.recorded_links().insert(link);
    Ok(())
}

/// The (session, application) pairs this process has recorded, at most [`Self::CAPACITY`]:
/// when full it starts over, which costs a few idempotent writes and never a wrong skip.
#[derive(Debug, Default)]
pub(crate) struct RecordedLinks {
    links: Mutex<HashSet<(String, ApplicationId)>>,
}

impl RecordedLinks {
    const CAPACITY: usize = 16_384;

    fn contains(&self, link: &(String, ApplicationId)) -> bool {
        self.lock().contains(link)
    }

    fn insert(&self, link: (String, ApplicationId)) {
        let mut links = self.lock();
        if links.len() >= Self::CAPACITY {
            links.clear();
        }
        links.insert(link);
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<(String, ApplicationId)>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The applications that got tokens in the session, in the order they first did.
pub async fn applications_of(
    store: &Store,
    tenant: &TenantId,
    session: &str,
) -> Result<Vec<ApplicationId>, StoreError> {
    Ok(session_application::Entity::find()
        .filter(session_application::Column::TenantId.eq(tenant.as_str()))
        .filter(session_application::Column::SessionId.eq(session))
        .order_by_asc(session_application::Column::CreatedAt)
        .all(&store.read)
        .await?
        .into_iter()
        .map(|row| ApplicationId::new(row.application_id))
        .collect())
}

/// The client ids of the applications that got tokens in the session, in the order
/// they first did; applications deleted since are left out.
pub async fn client_ids_of(
    store: &Store,
    tenant: &TenantId,
    session: &str,
) -> Result<Vec<ClientId>, StoreError> {
    let ids = applications_of(store, tenant, session).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = application::Entity::find()
        .filter(application::Column::TenantId.eq(tenant.as_str()))
        .filter(application::Column::Id.is_in(ids.iter().map(ApplicationId::as_str)))
        .all(&store.read)
        .await?;
    ids.iter()
        .filter_map(|id| rows.iter().find(|row| row.id == id.as_str()))
        .map(|row| {
            ClientId::parse(&row.client_id)
                .map_err(|e| StoreError::corrupt(&format!("application {} client id", row.id), &e))
        })
        .collect()
}

pub async fn get(
    store: &Store,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<Session>, StoreError> {
    find(&store.read, tenant, session::Column::Id.eq(id)).await
}

/// The session whose cookie has this digest, live or not (the caller decides with
/// [`Session::is_live`]), and its user, in one read.
pub async fn find_by_secret_with_user(
    store: &Store,
    tenant: &TenantId,
    secret: &OpaqueDigest,
) -> Result<Option<(Session, User)>, StoreError> {
    find_with_user(
        &store.read,
        tenant,
        session::Column::SecretDigest.eq(secret.as_str()),
    )
    .await
}

/// The session with this id, live or not, and its user, in one read.
pub async fn get_with_user(
    store: &Store,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<(Session, User)>, StoreError> {
    find_with_user(&store.read, tenant, session::Column::Id.eq(id)).await
}

/// Which sessions a listing shows.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub user_id: Option<String>,
    /// Sessions in which this application got tokens.
    pub application: Option<ApplicationId>,
    /// Ended and expired sessions too (still stored until they are swept).
    pub include_ended: bool,
}

/// Sessions of the tenant, newest id last (ids are random: the order is only stable).
pub async fn list(
    store: &Store,
    tenant: &TenantId,
    filter: &SessionFilter,
    page: &PageRequest,
    now: Timestamp,
) -> Result<Page<Session>, StoreError> {
    let mut query = session::Entity::find().filter(session::Column::TenantId.eq(tenant.as_str()));
    if let Some(user) = &filter.user_id {
        query = query.filter(session::Column::UserId.eq(user.as_str()));
    }
    if let Some(application) = &filter.application {
        let sids = session_application::Entity::find()
            .select_only()
            .column(session_application::Column::SessionId)
            .filter(session_application::Column::TenantId.eq(tenant.as_str()))
            .filter(session_application::Column::ApplicationId.eq(application.as_str()))
            .as_query()
            .to_owned();
        query = query.filter(session::Column::Id.in_subquery(sids));
    }
    if !filter.include_ended {
        let now = now.unix_millis();
        query = query
            .filter(session::Column::EndedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .filter(
                sea_orm::Condition::any()
                    .add(session::Column::IdleExpiresAt.is_null())
                    .add(session::Column::IdleExpiresAt.gt(now)),
            );
    }
    if let Some(after) = &page.after {
        query = query.filter(session::Column::Id.gt(after.as_str()));
    }
    let rows = query
        .order_by_asc(session::Column::Id)
        .limit(Page::<Session>::fetch_limit(page))
        .all(&store.read)
        .await?;
    let sessions = rows.into_iter().map(into_record).collect();
    Ok(Page::from_rows(sessions, page, |s: &Session| s.id.clone()))
}

/// What ending a session revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The session as it was before this call.
    pub session: Session,
    /// Whether this call ended it (false: it had ended before; revoking again is
    /// harmless, and makes a retried logout complete what a failed one began).
    pub ended_now: bool,
    /// Refresh tokens of the session this call revoked.
    pub refresh_tokens: u64,
    /// Unexpired access tokens of the session known by `jti` (those issued with a refresh
    /// token); every access token of the session is invalid, known or not.
    pub access_tokens: u64,
}

/// Ends a session and revokes what was issued in it. `None` if the tenant has no such
/// session.
#[tracing::instrument(skip(store))]
pub async fn end(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    reason: Reason,
    now: Timestamp,
) -> Result<Option<Ended>, StoreError> {
    let txn = store.write.begin().await?;
    let Some(session) = find(&txn, tenant, session::Column::Id.eq(id)).await? else {
        return Ok(None);
    };
    let (refresh_tokens, access_tokens) =
        end_in(&txn, tenant, std::slice::from_ref(&session.id), reason, now).await?;
    txn.commit().await?;
    Ok(Some(Ended {
        ended_now: session.ended_at.is_none(),
        session,
        refresh_tokens,
        access_tokens,
    }))
}

/// [`end`] for the control plane: the audit event of the call is written in the same
/// transaction. It is written for an unknown session too, since the call is still a
/// mutation someone asked for (`NativeSsoLogout` answers it with a count of 0).
#[tracing::instrument(skip(store, audit, tenant), fields(tenant = %tenant.slug))]
pub async fn end_audited(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    id: &str,
    reason: Reason,
    now: Timestamp,
) -> Result<Option<Ended>, StoreError> {
    let txn = store.write.begin().await?;
    let ended = match find(&txn, &tenant.id, session::Column::Id.eq(id)).await? {
        None => None,
        Some(session) => {
            let (refresh_tokens, access_tokens) = end_in(
                &txn,
                &tenant.id,
                std::slice::from_ref(&session.id),
                reason,
                now,
            )
            .await?;
            Some(Ended {
                ended_now: session.ended_at.is_none(),
                session,
                refresh_tokens,
                access_tokens,
            })
        }
    };
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &resource_name(tenant, id),
        &AuditOutcome::Ok,
    )
    .await?;
    txn.commit().await?;
    Ok(ended)
}

/// `tenants/{tenant}/sessions/{sid}`, as the control plane and the audit log name it.
pub fn resource_name(tenant: &Tenant, id: &str) -> String {
    format!("tenants/{}/sessions/{id}", tenant.slug)
}

/// Ends every session of a user and revokes what was issued in them. Run in the
/// transaction that disables or deletes the user. Returns how many sessions it ended.
pub(crate) async fn end_all_of_user(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let live: Vec<String> = session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::EndedAt.is_null())
        .all(txn)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    if live.is_empty() {
        return Ok(0);
    }
    end_in(txn, tenant, &live, Reason::UserDisabled, now).await?;
    Ok(live.len() as u64)
}

/// Marks `ids` ended (those not ended yet), revokes their refresh tokens, and records a
/// `session` revocation for each, covering every access token issued in them until the
/// longest access token lifetime has passed. Returns the refresh tokens revoked and the
/// unexpired access tokens among those known by `jti`.
async fn end_in(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
    reason: Reason,
    now: Timestamp,
) -> Result<(u64, u64), StoreError> {
    // Before the sessions are marked ended: it tells only those this call ends.
    logout_deliveries::enqueue(txn, tenant, ids, now).await?;
    session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now.unix_millis()))
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(session::Column::EndedAt.is_null())
        .exec(txn)
        .await?;
    let live_access_tokens = refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::SessionId.is_in(ids.iter().map(String::as_str)))
        .filter(refresh_token::Column::AccessExpiresAt.gt(now.unix_millis()))
        .count(txn)
        .await?;
    let revoked = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::SessionId.is_in(ids.iter().map(String::as_str)))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    let until = now.saturating_add(TokenLifetimes::MAX_ACCESS_TOKEN);
    let sessions: Vec<Revocation> = ids
        .iter()
        .map(|sid| Revocation {
            kind: Kind::Session,
            value: sid.clone(),
            reason,
            expires_at: until,
        })
        .collect();
    revocations::insert(txn, tenant, &sessions, now).await?;
    crate::device_secrets::revoke_of_sessions(txn, tenant, ids, now).await?;
    Ok((revoked.rows_affected, live_access_tokens))
}

async fn find(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Option<Session>, StoreError> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(condition)
        .one(db)
        .await?
        .map(into_record))
}

/// A user's deletion takes their sessions along, so a session without its user is one
/// being deleted: as good as gone.
async fn find_with_user(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<Option<(Session, User)>, StoreError> {
    let found = session::Entity::find()
        .find_also_related(user::Entity)
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(condition)
        .one(db)
        .await?;
    let Some((session, Some(user))) = found else {
        return Ok(None);
    };
    if user.tenant_id != session.tenant_id {
        return Ok(None);
    }
    Ok(Some((into_record(session), users::into_record(user)?)))
}

fn into_record(row: session::Model) -> Session {
    Session {
        id: row.id,
        tenant_id: TenantId::new(row.tenant_id),
        user_id: row.user_id,
        auth_time: Timestamp::from_unix_millis(row.auth_time),
        amr: row
            .amr
            .split(' ')
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
        expires_at: Timestamp::from_unix_millis(row.expires_at),
        idle_expires_at: row.idle_expires_at.map(Timestamp::from_unix_millis),
        device_id: row.device_id,
        ended_at: row.ended_at.map(Timestamp::from_unix_millis),
        created_at: Timestamp::from_unix_millis(row.created_at),
    }
}
