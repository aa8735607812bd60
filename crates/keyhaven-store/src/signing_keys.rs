//! Tenants' signing keys: created with the tenant, rotated over the API, listed in JWKS
//! while anything they signed may still be presented.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyhaven_core::jose::{PublicJwk, SigningAlgorithm};
use keyhaven_core::model::{AuditOutcome, KeyState, SigningKey, Tenant};
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::audit::{self, Audit};
use crate::changes::{self, Change};
use crate::entities::{signing_key, tenant};
use crate::{Store, StoreError};

/// A key the caller generated and sealed; the store assigns its id and times.
#[derive(Debug, Clone)]
pub struct NewSigningKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub state: KeyState,
    /// Sealed with [`associated_data`] of the tenant it is for.
    pub sealed_private_key: Vec<u8>,
    pub public_jwk: PublicJwk,
}

/// What a tenant's key is sealed with; see [`SigningKey::associated_data`].
pub fn associated_data(tenant: &TenantId, kid: &str) -> Vec<u8> {
    SigningKey::associated_data(tenant, kid)
}

/// Every key of the tenant, retired ones included, oldest first.
#[tracing::instrument(skip(store))]
pub async fn list(store: &Store, tenant: &TenantId) -> Result<Vec<SigningKey>, StoreError> {
    all_of(&store.read, tenant).await
}

/// What JWKS publishes at `now`: next and active keys, and retired keys whose
/// `publish_until` is still ahead.
#[tracing::instrument(skip(store))]
pub async fn published(
    store: &Store,
    tenant: &TenantId,
    now: Timestamp,
) -> Result<Vec<SigningKey>, StoreError> {
    let live = Condition::any()
        .add(signing_key::Column::State.is_in([KeyState::Next.as_str(), KeyState::Active.as_str()]))
        .add(
            Condition::all()
                .add(signing_key::Column::State.eq(KeyState::Retired.as_str()))
                .add(signing_key::Column::PublishUntil.gt(now.unix_millis())),
        );
    signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
        .filter(live)
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Id)
        .all(&store.read)
        .await?
        .into_iter()
        .map(into_record)
        .collect()
}

/// The active key of each algorithm: the ones that sign.
#[tracing::instrument(skip(store))]
pub async fn active(store: &Store, tenant: &TenantId) -> Result<Vec<SigningKey>, StoreError> {
    signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
        .filter(signing_key::Column::State.eq(KeyState::Active.as_str()))
        .order_by_asc(signing_key::Column::Algorithm)
        .all(&store.read)
        .await?
        .into_iter()
        .map(into_record)
        .collect()
}

/// Rotates the keys of one algorithm: the next key (published since it was created)
/// starts signing, the active key retires and stays published for `keep_published` (the
/// longest lifetime of what it signed), and `new_next` is published to sign next time.
/// Without a next key nothing is promoted or retired: `new_next` only becomes next, so a
/// key never signs before it was published. Returns all the tenant's keys.
#[tracing::instrument(skip(store, audit, tenant, new_next), fields(tenant = %tenant.slug, kid = %new_next.kid))]
pub async fn rotate(
    store: &Store,
    audit: &Audit,
    tenant: &Tenant,
    algorithm: SigningAlgorithm,
    new_next: NewSigningKey,
    keep_published: Duration,
) -> Result<Vec<SigningKey>, StoreError> {
    if new_next.algorithm != algorithm || new_next.state != KeyState::Next {
        return Err(StoreError::corrupt(
            "rotation",
            format!(
                "the new key must be a next {algorithm} key, not {} {}",
                new_next.state, new_next.algorithm
            ),
        ));
    }
    let txn = store.write.begin().await?;
    // Rotations of one tenant queue on its row (FOR UPDATE on PostgreSQL; SQLite has one
    // writer), so each reads the keys the previous one left.
    tenant::Entity::find_by_id(tenant.id.to_string())
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let now = audit.now;
    let live = signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.id.as_str()))
        .filter(signing_key::Column::Algorithm.eq(algorithm.as_str()))
        .filter(
            signing_key::Column::State.is_in([KeyState::Next.as_str(), KeyState::Active.as_str()]),
        )
        .all(&txn)
        .await?;
    let find = |state: KeyState| live.iter().find(|k| k.state == state.as_str());
    if let Some(next) = find(KeyState::Next) {
        if let Some(active) = find(KeyState::Active) {
            let retired = signing_key::ActiveModel {
                state: Set(KeyState::Retired.as_str().to_owned()),
                retired_at: Set(Some(now.unix_millis())),
                publish_until: Set(Some(now.saturating_add(keep_published).unix_millis())),
                ..Default::default()
            };
            update(&txn, &tenant.id, &active.id, retired).await?;
        }
        let activated = signing_key::ActiveModel {
            state: Set(KeyState::Active.as_str().to_owned()),
            activated_at: Set(Some(now.unix_millis())),
            ..Default::default()
        };
        update(&txn, &tenant.id, &next.id, activated).await?;
    }
    let created = insert(&txn, &tenant.id, &new_next, now).await?;
    audit::record(
        &txn,
        audit,
        Some((&tenant.id, &tenant.slug)),
        &format!("tenants/{}/signingKeys/{}", tenant.slug, created.kid),
        &AuditOutcome::Ok,
    )
    .await?;
    let keys = all_of(&txn, &tenant.id).await?;
    // Every replica then signs with the new active key and publishes the same JWKS.
    let change = Change::SigningKeys {
        tenant: tenant.id.clone(),
    };
    changes::announce(&txn, store, now, &change).await?;
    txn.commit().await?;
    store.changes().deliver(&change);
    Ok(keys)
}

async fn update(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    change: signing_key::ActiveModel,
) -> Result<(), StoreError> {
    let written = signing_key::Entity::update_many()
        .set(change)
        .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
        .filter(signing_key::Column::Id.eq(id))
        .exec(db)
        .await?;
    if written.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

/// Inserts a key of `tenant` within the caller's transaction (tenant creation, rotation).
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    new: &NewSigningKey,
    now: Timestamp,
) -> Result<SigningKey, StoreError> {
    let key = SigningKey {
        id: uuid::Uuid::now_v7().simple().to_string(),
        tenant_id: tenant.clone(),
        kid: new.kid.clone(),
        algorithm: new.algorithm,
        state: new.state,
        sealed_private_key: new.sealed_private_key.clone(),
        public_jwk: new.public_jwk.clone(),
        created_at: now,
        activated_at: (new.state == KeyState::Active).then_some(now),
        retired_at: None,
        publish_until: None,
    };
    signing_key::ActiveModel {
        id: Set(key.id.clone()),
        tenant_id: Set(tenant.to_string()),
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.as_str().to_owned()),
        state: Set(key.state.as_str().to_owned()),
        sealed_private_key: Set(URL_SAFE_NO_PAD.encode(&key.sealed_private_key)),
        public_jwk: Set(key.public_jwk.to_json().to_string()),
        created_at: Set(now.unix_millis()),
        activated_at: Set(key.activated_at.map(Timestamp::unix_millis)),
        retired_at: Set(None),
        publish_until: Set(None),
    }
    .insert(db)
    .await
    .map_err(StoreError::on_write("a signing key with this kid"))?;
    Ok(key)
}

async fn all_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<SigningKey>, StoreError> {
    signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(into_record)
        .collect()
}

fn into_record(row: signing_key::Model) -> Result<SigningKey, StoreError> {
    let what = format!("signing key {}", row.kid);
    let corrupt = |detail: String| StoreError::corrupt(&what, detail);
    let algorithm = SigningAlgorithm::parse(&row.algorithm)
        .ok_or_else(|| corrupt(format!("unknown algorithm {:?}", row.algorithm)))?;
    let state = KeyState::parse(&row.state)
        .ok_or_else(|| corrupt(format!("unknown state {:?}", row.state)))?;
    let sealed_private_key = URL_SAFE_NO_PAD
        .decode(&row.sealed_private_key)
        .map_err(|e| corrupt(format!("sealed private key: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_str(&row.public_jwk).map_err(|e| corrupt(format!("public JWK: {e}")))?;
    let public_jwk = PublicJwk::from_json(&json).map_err(|e| corrupt(e.to_string()))?;
    if public_jwk.kid != row.kid || public_jwk.alg != algorithm {
        return Err(corrupt("the public JWK is another key's".into()));
    }
    let at = |millis: Option<i64>| millis.map(Timestamp::from_unix_millis);
    Ok(SigningKey {
        id: row.id,
        tenant_id: TenantId::new(row.tenant_id),
        kid: row.kid,
        algorithm,
        state,
        sealed_private_key,
        public_jwk,
        created_at: Timestamp::from_unix_millis(row.created_at),
        activated_at: at(row.activated_at),
        retired_at: at(row.retired_at),
        publish_until: at(row.publish_until),
    })
}
