//! Refresh tokens, stored by digest, rotated on every use and grouped in families: every
//! token descending from one authorization code shares the family of that code.
//! The rules (when to rotate, retry or revoke) are `keyhaven_core::refresh`; this module
//! makes each step atomic on both backends.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_core::model::RefreshToken;
use keyhaven_core::opaque::OpaqueDigest;
use keyhaven_core::{ApplicationId, ScopeSet, TenantId, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::entities::refresh_token;
use crate::revocations::{self, Kind, Reason, Revocation};
use crate::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub digest: OpaqueDigest,
    pub family_id: String,
    pub application_id: ApplicationId,
    pub user_id: String,
    pub session_id: String,
    pub scope: ScopeSet,
    pub auth_time: Timestamp,
    pub access_jti: String,
    pub access_expires_at: Timestamp,
    pub expires_at: Timestamp,
    /// The device the client named (`x-device-id`): a sign-out from that device
    /// revokes its tokens only.
    pub device_id: Option<String>,
}

/// Stores a new refresh token: the first of its family.
#[tracing::instrument(skip_all, fields(family = %new.family_id))]
pub async fn issue(
    store: &Store,
    tenant: &TenantId,
    new: &NewRefreshToken,
    now: Timestamp,
) -> Result<(), StoreError> {
    insert(&store.write, tenant, new, now).await
}

async fn insert(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: &NewRefreshToken,
    now: Timestamp,
) -> Result<(), StoreError> {
    refresh_token::Entity::insert(refresh_token::ActiveModel {
        digest: Set(new.digest.as_str().to_owned()),
        tenant_id: Set(tenant.to_string()),
        family_id: Set(new.family_id.clone()),
        application_id: Set(new.application_id.to_string()),
        user_id: Set(new.user_id.clone()),
        session_id: Set(new.session_id.clone()),
        scope: Set(new.scope.to_delimited()),
        auth_time: Set(new.auth_time.unix_millis()),
        access_jti: Set(new.access_jti.clone()),
        access_expires_at: Set(new.access_expires_at.unix_millis()),
        expires_at: Set(new.expires_at.unix_millis()),
        created_at: Set(now.unix_millis()),
        used_at: Set(None),
        replaced_by: Set(None),
        retry_response: Set(None),
        revoked_at: Set(None),
        device_id: Set(new.device_id.clone()),
    })
    .exec_without_returning(db)
    .await
    .map_err(StoreError::on_write("a refresh token with this digest"))?;
    Ok(())
}

/// The token with this digest in the tenant, and the token that replaced it, if any.
/// Read on the writer: a rotation that just happened elsewhere must be seen.
pub async fn find(
    store: &Store,
    tenant: &TenantId,
    digest: &OpaqueDigest,
) -> Result<Option<(RefreshToken, Option<RefreshToken>)>, StoreError> {
    let Some(token) = find_one(&store.write, tenant, digest.as_str()).await? else {
        return Ok(None);
    };
    let successor = match &token.1 {
        Some(next) => find_one(&store.write, tenant, next)
            .await?
            .map(|(record, _)| record),
        None => None,
    };
    Ok(Some((token.0, successor)))
}

/// Replaces `presented` by `successor` if, at the moment of writing, it is still unused,
/// unrevoked and unexpired: one conditional UPDATE decides, so of concurrent rotations
/// exactly one wins. `retry_response` is the sealed answer kept for retries. Returns
/// whether this call won.
///
/// The successor is stored first, which needs no transaction around the two writes:
/// nobody can present it before the answer carries it out, a revocation of the family or
/// the session in between covers it too (and makes the UPDATE lose), and a lost rotation
/// deletes it again. A crash in between leaves a row that no one holds until it expires.
#[tracing::instrument(skip_all, fields(family = %successor.family_id))]
pub async fn rotate(
    store: &Store,
    tenant: &TenantId,
    presented: &OpaqueDigest,
    successor: &NewRefreshToken,
    retry_response: &[u8],
    now: Timestamp,
) -> Result<bool, StoreError> {
    insert(&store.write, tenant, successor, now).await?;
    let replaced = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::UsedAt,
            Expr::value(now.unix_millis()),
        )
        .col_expr(
            refresh_token::Column::ReplacedBy,
            Expr::value(successor.digest.as_str()),
        )
        .col_expr(
            refresh_token::Column::RetryResponse,
            Expr::value(URL_SAFE_NO_PAD.encode(retry_response)),
        )
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::Digest.eq(presented.as_str()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now.unix_millis()))
        .exec(&store.write)
        .await?;
    if replaced.rows_affected == 1 {
        return Ok(true);
    }
    refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::Digest.eq(successor.digest.as_str()))
        .exec(&store.write)
        .await?;
    Ok(false)
}

/// Revokes every refresh token of a family and every still-valid access token issued
/// with them. Returns how many refresh tokens it revoked.
#[tracing::instrument(skip(store))]
pub async fn revoke_family(
    store: &Store,
    tenant: &TenantId,
    family_id: &str,
    reason: Reason,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let txn = store.write.begin().await?;
    let members = refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .all(&txn)
        .await?;
    let revoked = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let access_tokens: Vec<Revocation> = members
        .into_iter()
        .filter(|m| m.access_expires_at > now.unix_millis())
        .map(|m| Revocation {
            kind: Kind::AccessToken,
            value: m.access_jti,
            reason: if reason == Reason::ClientRequest {
                Reason::FamilyRevoked
            } else {
                reason
            },
            expires_at: Timestamp::from_unix_millis(m.access_expires_at),
        })
        .collect();
    revocations::insert(&txn, tenant, &access_tokens, now).await?;
    txn.commit().await?;
    Ok(revoked.rows_affected)
}

/// Revokes the refresh tokens of a session bound to one device (a sign-out from that
/// device) and every still-valid access token issued with them, in one transaction; the
/// session and its other devices' tokens stay. Returns how many refresh tokens it revoked.
#[tracing::instrument(skip(store))]
pub async fn revoke_device(
    store: &Store,
    tenant: &TenantId,
    session_id: &str,
    device_id: &str,
    reason: Reason,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let txn = store.write.begin().await?;
    let of_device = || {
        Condition::all()
            .add(refresh_token::Column::TenantId.eq(tenant.as_str()))
            .add(refresh_token::Column::SessionId.eq(session_id))
            .add(refresh_token::Column::DeviceId.eq(device_id))
    };
    let access_tokens: Vec<Revocation> = refresh_token::Entity::find()
        .filter(of_device())
        .filter(refresh_token::Column::AccessExpiresAt.gt(now.unix_millis()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| Revocation {
            kind: Kind::AccessToken,
            value: m.access_jti,
            reason,
            expires_at: Timestamp::from_unix_millis(m.access_expires_at),
        })
        .collect();
    let revoked = refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(now.unix_millis()),
        )
        .filter(of_device())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    revocations::insert(&txn, tenant, &access_tokens, now).await?;
    txn.commit().await?;
    Ok(revoked.rows_affected)
}

async fn find_one(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    digest: &str,
) -> Result<Option<(RefreshToken, Option<String>)>, StoreError> {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.as_str()))
        .filter(refresh_token::Column::Digest.eq(digest))
        .one(db)
        .await?
        .map(into_record)
        .transpose()
}

fn into_record(row: refresh_token::Model) -> Result<(RefreshToken, Option<String>), StoreError> {
    let scope = ScopeSet::parse_delimited(&row.scope)
        .map_err(|e| StoreError::corrupt("refresh token scope", e))?;
    let retry_response = row
        .retry_response
        .as_deref()
        .map(|sealed| URL_SAFE_NO_PAD.decode(sealed))
        .transpose()
        .map_err(|e| StoreError::corrupt("refresh token retry response", e))?;
    let record = RefreshToken {
        digest: OpaqueDigest::from_stored(row.digest),
        tenant_id: TenantId::new(row.tenant_id),
        family_id: row.family_id,
        application_id: ApplicationId::new(row.application_id),
        user_id: row.user_id,
        session_id: row.session_id,
        scope,
        auth_time: Timestamp::from_unix_millis(row.auth_time),
        access_jti: row.access_jti,
        access_expires_at: Timestamp::from_unix_millis(row.access_expires_at),
        expires_at: Timestamp::from_unix_millis(row.expires_at),
        created_at: Timestamp::from_unix_millis(row.created_at),
        used_at: row.used_at.map(Timestamp::from_unix_millis),
        retry_response,
        revoked_at: row.revoked_at.map(Timestamp::from_unix_millis),
        device_id: row.device_id,
    };
    Ok((record, row.replaced_by))
}
