//! Failed sign-in counters per tenant and key, in the database so that every replica
//! counts the same failures. [`keyhaven_core::throttle`] decides; this module reads and
//! writes the counters atomically.
//!
//! Every change to a counter happens in one transaction that first takes the rows' locks
//! with `INSERT ... ON CONFLICT DO UPDATE` (which also creates a missing row, race-free),
//! then reads, decides and writes. On PostgreSQL the upsert holds the row lock until the
//! commit, so concurrent attempts on one key queue instead of reading the same count;
//! rows are locked in digest order so that two attempts sharing a key cannot deadlock. On
//! SQLite every write goes through the one writer connection anyway.
//!
//! Sign-ins are end-user activity, not control-plane mutations: no audit event.

use keyhaven_core::throttle::{self, Admission, Counter, ThrottleKey, Wait};
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use crate::entities::sign_in_throttle;
use crate::{Store, StoreError};

/// The longest wait still to run at `now` among `keys`, read without writing anything:
/// a key under attack is mostly answered from here, without a write transaction.
/// [`admit`] checks again under the row locks.
#[tracing::instrument(skip_all)]
pub async fn wait(
    store: &Store,
    tenant: &TenantId,
    keys: &[ThrottleKey],
    now: Timestamp,
) -> Result<Option<Wait>, StoreError> {
    let counters = read(&store.read, tenant, keys, false).await?;
    Ok(throttle::longest(keys.iter().zip(&counters).filter_map(
        |(key, counter)| counter.wait(key.kind(), now),
    )))
}

/// Admits one sign-in attempt against every key (distinct keys) or against none, as
/// [`throttle::admit`] decides: counted now, before the password is verified, so that
/// concurrent attempts cannot all pass before the first has failed.
#[tracing::instrument(skip_all)]
pub async fn admit(
    store: &Store,
    tenant: &TenantId,
    keys: &[ThrottleKey],
    now: Timestamp,
) -> Result<Admission, StoreError> {
    let txn = store.write.begin().await?;
    for key in in_lock_order(keys) {
        sign_in_throttle::Entity::insert(row(tenant, &key, &Counter::NONE))
            .on_conflict(
                OnConflict::columns([
                    sign_in_throttle::Column::TenantId,
                    sign_in_throttle::Column::KeyDigest,
                ])
                // A no-op update: what matters is the row lock it takes.
                .update_column(sign_in_throttle::Column::Kind)
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    let counters = read(&txn, tenant, keys, false).await?;
    let current: Vec<_> = keys.iter().map(ThrottleKey::kind).zip(counters).collect();
    let admission = throttle::admit(&current, now);
    match &admission {
        Admission::Admitted { counters, .. } => {
            for (key, counter) in keys.iter().zip(counters) {
                write(&txn, tenant, key, counter).await?;
            }
            txn.commit().await?;
        }
        Admission::Refused(_) => txn.rollback().await?,
    }
    Ok(admission)
}

/// A sign-in admitted against `keys` succeeded; `admitted` are the counters its
/// admission wrote, in the same order. Each counter becomes what
/// [`throttle::KeyKind::after_success`] says: the username's is forgotten, the address
/// gets its attempt back.
#[tracing::instrument(skip_all)]
pub async fn succeeded(
    store: &Store,
    tenant: &TenantId,
    keys: &[ThrottleKey],
    admitted: &[Counter],
) -> Result<(), StoreError> {
    let mut ordered: Vec<(&ThrottleKey, &Counter)> = keys.iter().zip(admitted).collect();
    ordered.sort_by(|a, b| a.0.digest().cmp(b.0.digest()));
    let ordered_keys: Vec<ThrottleKey> = ordered.iter().map(|(key, _)| (*key).clone()).collect();
    let txn = store.write.begin().await?;
    let current = read(&txn, tenant, &ordered_keys, true).await?;
    for ((key, admitted), current) in ordered.iter().zip(&current) {
        match key.kind().after_success(current, admitted) {
            Some(next) => write(&txn, tenant, key, &next).await?,
            None => {
                sign_in_throttle::Entity::delete_many()
                    .filter(sign_in_throttle::Column::TenantId.eq(tenant.as_str()))
                    .filter(sign_in_throttle::Column::KeyDigest.eq(key.digest()))
                    .exec(&txn)
                    .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(())
}

/// The keys sorted by digest: every transaction locks rows in this one order.
fn in_lock_order(keys: &[ThrottleKey]) -> Vec<ThrottleKey> {
    let mut ordered = keys.to_vec();
    ordered.sort_by(|a, b| a.digest().cmp(b.digest()));
    ordered
}

/// The counters of `keys`, in their order; a key without a row has never failed.
async fn read(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    keys: &[ThrottleKey],
    for_update: bool,
) -> Result<Vec<Counter>, StoreError> {
    let mut query = sign_in_throttle::Entity::find()
        .filter(sign_in_throttle::Column::TenantId.eq(tenant.as_str()))
        .filter(sign_in_throttle::Column::KeyDigest.is_in(keys.iter().map(ThrottleKey::digest)));
    if for_update {
        query = query.lock_exclusive();
    }
    let rows = query.all(db).await?;
    Ok(keys
        .iter()
        .map(|key| {
            rows.iter()
                .find(|row| row.key_digest == key.digest())
                .map_or(Counter::NONE, into_counter)
        })
        .collect())
}

async fn write(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    key: &ThrottleKey,
    counter: &Counter,
) -> Result<(), StoreError> {
    sign_in_throttle::Entity::update_many()
        .set(row(tenant, key, counter))
        .filter(sign_in_throttle::Column::TenantId.eq(tenant.as_str()))
        .filter(sign_in_throttle::Column::KeyDigest.eq(key.digest()))
        .exec(db)
        .await?;
    Ok(())
}

fn row(tenant: &TenantId, key: &ThrottleKey, counter: &Counter) -> sign_in_throttle::ActiveModel {
    sign_in_throttle::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        key_digest: Set(key.digest().to_owned()),
        kind: Set(key.kind().as_str().to_owned()),
        failures: Set(i64::from(counter.failures)),
        last_failure_at: Set(counter.last_failure_at.unix_millis()),
        locked_until: Set(counter.locked_until.map(Timestamp::unix_millis)),
    }
}

fn into_counter(row: &sign_in_throttle::Model) -> Counter {
    Counter {
        failures: u32::try_from(row.failures.max(0)).unwrap_or(u32::MAX),
        last_failure_at: Timestamp::from_unix_millis(row.last_failure_at),
        locked_until: row.locked_until.map(Timestamp::from_unix_millis),
    }
}
