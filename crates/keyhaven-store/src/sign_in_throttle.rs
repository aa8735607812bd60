//! Failed sign-in counters per tenant and key, in the database so that every replica
//! counts the same failures. [`keyhaven_core::throttle`] decides; this module reads and
//! writes the counters atomically.
//!
//! An attempt is admitted in one transaction of two statements: a multi-row
//! `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` creates any missing row (race-free),
//! locks every row and returns each as it stands once its lock is held; then, if
//! [`throttle::admit`] admits the attempt, one more multi-row upsert writes the new
//! counters. On PostgreSQL the upsert holds the row locks until the commit, so concurrent
//! attempts on one key queue instead of reading the same count; rows are locked in digest
//! order so that two attempts sharing a key cannot deadlock. On SQLite every write goes
//! through the one writer connection anyway.
//!
//! A success is written without a transaction in the common case: each counter changes
//! only if it is still the one the admission wrote (a compare-and-set), which it is unless
//! another attempt on that key was admitted meanwhile; the keys whose counter moved are
//! then redone under their row locks. Keys are independent, so a crash between two of
//! them leaves at worst an address with one attempt more counted.
//!
//! Every statement is a round trip to PostgreSQL, on the server's own core when the
//! database runs on the same machine: admitting and succeeding took twelve of them, now
//! six.
//!
//! Sign-ins are end-user activity, not control-plane mutations: no audit event.

use keyhaven_core::throttle::{self, Admission, Counter, ThrottleKey, Wait};
use keyhaven_core::{TenantId, Timestamp};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select, Set,
};

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
    let rows = of_keys(tenant, keys).all(&store.read).await?;
    let counters = in_key_order(keys, &rows);
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
    let rows = lock(&txn, tenant, keys).await?;
    let current: Vec<_> = keys
        .iter()
        .map(ThrottleKey::kind)
        .zip(in_key_order(keys, &rows))
        .collect();
    let admission = throttle::admit(&current, now);
    match &admission {
        Admission::Admitted { counters, .. } => {
            sign_in_throttle::Entity::insert_many(
                keys.iter()
                    .zip(counters)
                    .map(|(key, counter)| row(tenant, key, counter)),
            )
            .on_conflict(
                OnConflict::columns([
                    sign_in_throttle::Column::TenantId,
                    sign_in_throttle::Column::KeyDigest,
                ])
                .update_columns([
                    sign_in_throttle::Column::Failures,
                    sign_in_throttle::Column::LastFailureAt,
                    sign_in_throttle::Column::LockedUntil,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
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
    let mut moved = Vec::new();
    for (key, admitted) in keys.iter().zip(admitted) {
        let next = key.kind().after_success(admitted, admitted);
        if !replace(&store.write, tenant, key, admitted, next.as_ref()).await? {
            moved.push((key.clone(), *admitted));
        }
    }
    if moved.is_empty() {
        return Ok(());
    }
    // Attempts on these keys were admitted since: their counters are read under the
    // rows' locks, and what is left of this admission handed back from them.
    moved.sort_by(|a, b| a.0.digest().cmp(b.0.digest()));
    let moved_keys: Vec<ThrottleKey> = moved.iter().map(|(key, _)| key.clone()).collect();
    let txn = store.write.begin().await?;
    let rows = of_keys(tenant, &moved_keys)
        .lock_exclusive()
        .all(&txn)
        .await?;
    for ((key, admitted), current) in moved.iter().zip(in_key_order(&moved_keys, &rows)) {
        let next = key.kind().after_success(&current, admitted);
        replace(&txn, tenant, key, &current, next.as_ref()).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Creates any missing row of `keys` and takes every row's lock, in digest order, in one
/// statement; the no-op update returns each row as it stands once its lock is held.
async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    keys: &[ThrottleKey],
) -> Result<Vec<sign_in_throttle::Model>, StoreError> {
    let mut ordered = keys.to_vec();
    ordered.sort_by(|a, b| a.digest().cmp(b.digest()));
    let rows = sign_in_throttle::Entity::insert_many(
        ordered.iter().map(|key| row(tenant, key, &Counter::NONE)),
    )
    .on_conflict(
        OnConflict::columns([
            sign_in_throttle::Column::TenantId,
            sign_in_throttle::Column::KeyDigest,
        ])
        // What matters is the row lock the update takes.
        .update_column(sign_in_throttle::Column::Kind)
        .to_owned(),
    )
    .exec_with_returning(db)
    .await?;
    Ok(rows)
}

/// Sets the counter of `key` to `next` (`None`: forgets it) if it still is `expected`;
/// false if it was not.
async fn replace(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    key: &ThrottleKey,
    expected: &Counter,
    next: Option<&Counter>,
) -> Result<bool, StoreError> {
    let locked_until = match expected.locked_until {
        Some(until) => sign_in_throttle::Column::LockedUntil.eq(until.unix_millis()),
        None => sign_in_throttle::Column::LockedUntil.is_null(),
    };
    let is_expected = Condition::all()
        .add(sign_in_throttle::Column::TenantId.eq(tenant.as_str()))
        .add(sign_in_throttle::Column::KeyDigest.eq(key.digest()))
        .add(sign_in_throttle::Column::Failures.eq(i64::from(expected.failures)))
        .add(sign_in_throttle::Column::LastFailureAt.eq(expected.last_failure_at.unix_millis()))
        .add(locked_until);
    let rows_affected = match next {
        Some(next) => {
            sign_in_throttle::Entity::update_many()
                .set(row(tenant, key, next))
                .filter(is_expected)
                .exec(db)
                .await?
                .rows_affected
        }
        None => {
            sign_in_throttle::Entity::delete_many()
                .filter(is_expected)
                .exec(db)
                .await?
                .rows_affected
        }
    };
    Ok(rows_affected > 0)
}

fn of_keys(tenant: &TenantId, keys: &[ThrottleKey]) -> Select<sign_in_throttle::Entity> {
    sign_in_throttle::Entity::find()
        .filter(sign_in_throttle::Column::TenantId.eq(tenant.as_str()))
        .filter(sign_in_throttle::Column::KeyDigest.is_in(keys.iter().map(ThrottleKey::digest)))
}

/// The counters of `keys` among `rows`, in the keys' order; a key without a row has
/// never failed.
fn in_key_order(keys: &[ThrottleKey], rows: &[sign_in_throttle::Model]) -> Vec<Counter> {
    keys.iter()
        .map(|key| {
            rows.iter()
                .find(|row| row.key_digest == key.digest())
                .map_or(Counter::NONE, into_counter)
        })
        .collect()
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
