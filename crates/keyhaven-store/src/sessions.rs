//! Browser sessions of a tenant's users. The browser holds a secret whose digest is
//! stored here; the session id is the `sid` of the tokens issued in the session.
//!
//! Sign-ins are end-user activity, not control-plane mutations, so they write no audit
//! event.

use keyhaven_core::model::{Session, TokenLifetimes};
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::{refresh_token, session};
use crate::revocations::{self, Kind, Reason, Revocation};
use crate::{Store, StoreError};

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
        ended_at: None,
        created_at: new.auth_time,
    };
    session::ActiveModel {
        id: Set(session.id.clone()),
        tenant_id: Set(tenant.to_string()),
        user_id: Set(session.user_id.clone()),
        secret_digest: Set(new.secret.as_str().to_owned()),
        auth_time: Set(session.auth_time.unix_millis()),
        amr: Set(session.amr.join(" ")),
        expires_at: Set(session.expires_at.unix_millis()),
        ended_at: Set(None),
        created_at: Set(session.created_at.unix_millis()),
    }
    .insert(&store.write)
    .await
    .map_err(StoreError::on_write("a session with this id"))?;
    Ok(session)
}

/// The session whose cookie has this digest, live or not: the caller decides with
/// [`Session::is_live`].
pub async fn find_by_secret(
    store: &Store,
    tenant: &TenantId,
    secret: &OpaqueDigest,
) -> Result<Option<Session>, StoreError> {
    find(
        &store.read,
        tenant,
        session::Column::SecretDigest.eq(secret.as_str()),
    )
    .await
}

pub async fn get(
    store: &Store,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<Session>, StoreError> {
    find(&store.read, tenant, session::Column::Id.eq(id)).await
}

/// Ends a session (sign-out, or a new sign-in in the same browser). Returns whether a
/// live session was ended.
#[tracing::instrument(skip(store))]
pub async fn end(
    store: &Store,
    tenant: &TenantId,
    id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let ended = session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now.unix_millis()))
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.eq(id))
        .filter(session::Column::EndedAt.is_null())
        .exec(&store.write)
        .await?;
    Ok(ended.rows_affected == 1)
}

/// Ends every session of a user and revokes what was issued in them: their refresh
/// tokens, and their access tokens by `sid` (which cover every token issued in a session
/// until the longest access token lifetime has passed). Run in the transaction that
/// disables or deletes the user. Returns how many sessions it ended.
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
    session::Entity::update_many()
        .col_expr(session::Column::EndedAt, Expr::value(now.unix_millis()))
        .filter(session::Column::TenantId.eq(tenant.as_str()))
        .filter(session::Column::Id.is_in(live.iter().map(String::as_str)))
        .exec(txn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    let until = now.saturating_add(TokenLifetimes::MAX_ACCESS_TOKEN);
    let revoked: Vec<Revocation> = live
        .iter()
        .map(|sid| Revocation {
            kind: Kind::Session,
            value: sid.clone(),
            reason: Reason::UserDisabled,
            expires_at: until,
        })
        .collect();
    revocations::insert(txn, tenant, &revoked, now).await?;
    Ok(live.len() as u64)
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
        ended_at: row.ended_at.map(Timestamp::from_unix_millis),
        created_at: Timestamp::from_unix_millis(row.created_at),
    }
}
