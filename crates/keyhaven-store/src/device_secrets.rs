//! Device secrets of OpenID Connect Native SSO for Mobile Apps 1.0 §3.2: stored by
//! digest, bound to the session (and so the user) they were issued in, and living no
//! longer than it. A session holds at most one live device secret: a new one replaces
//! the old, so that the `ds_hash` of the newest ID token is the only one that works.
//! Ending a session revokes its device secrets in the same transaction
//! (`sessions::end_in`).

use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::device_secret;
use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewDeviceSecret {
    pub digest: OpaqueDigest,
    pub session_id: String,
    pub user_id: String,
    /// The session's absolute end: the secret cannot outlive what it stands for.
    pub expires_at: Timestamp,
}

/// A stored device secret, live or not: the caller decides with [`DeviceSecret::is_live`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSecret {
    pub digest: OpaqueDigest,
    pub session_id: String,
    pub user_id: String,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl DeviceSecret {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// Stores a new device secret for its session and revokes the session's earlier ones,
/// in one transaction.
#[tracing::instrument(skip_all, fields(sid = %new.session_id))]
pub async fn issue(
    store: &Store,
    tenant: &TenantId,
    new: &NewDeviceSecret,
    now: Timestamp,
) -> Result<(), StoreError> {
    let txn = store.write.begin().await?;
    revoke_of_sessions(&txn, tenant, std::slice::from_ref(&new.session_id), now).await?;
    device_secret::ActiveModel {
        digest: Set(new.digest.as_str().to_owned()),
        tenant_id: Set(tenant.to_string()),
        session_id: Set(new.session_id.clone()),
        user_id: Set(new.user_id.clone()),
        expires_at: Set(new.expires_at.unix_millis()),
        revoked_at: Set(None),
        created_at: Set(now.unix_millis()),
    }
    .insert(&txn)
    .await
    .map_err(StoreError::on_write("a device secret with this digest"))?;
    txn.commit().await?;
    Ok(())
}

/// The device secret of the tenant with this digest.
pub async fn find(
    store: &Store,
    tenant: &TenantId,
    digest: &OpaqueDigest,
) -> Result<Option<DeviceSecret>, StoreError> {
    Ok(device_secret::Entity::find()
        .filter(device_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(device_secret::Column::Digest.eq(digest.as_str()))
        .one(&store.read)
        .await?
        .map(into_record))
}

/// Revokes the live device secrets of `sessions`; run in the transaction that ends them.
/// Returns how many it revoked.
pub(crate) async fn revoke_of_sessions(
    txn: &impl ConnectionTrait,
    tenant: &TenantId,
    sessions: &[String],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let revoked = device_secret::Entity::update_many()
        .col_expr(
            device_secret::Column::RevokedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(device_secret::Column::TenantId.eq(tenant.as_str()))
        .filter(device_secret::Column::SessionId.is_in(sessions.iter().map(String::as_str)))
        .filter(device_secret::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(revoked.rows_affected)
}

fn into_record(row: device_secret::Model) -> DeviceSecret {
    DeviceSecret {
        digest: OpaqueDigest::from_stored(row.digest),
        session_id: row.session_id,
        user_id: row.user_id,
        expires_at: Timestamp::from_unix_millis(row.expires_at),
        revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
        created_at: Timestamp::from_unix_millis(row.created_at),
    }
}
