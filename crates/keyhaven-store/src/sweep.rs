//! Background cleanup: deletes the rows that can no longer change any answer, in
//! bounded batches, so that every table's size follows the load instead of its history.
//!
//! What goes when (all times after a [`CLOCK_SKEW`] margin, so that a replica whose clock
//! runs a little behind never misses a row it still considers live):
//! - `authorization_requests`: at their expiry; nothing continues an expired one.
//! - `refresh_tokens`: past their own expiry and that of the access token issued with
//!   them, once their family has no live member. A used token answers a replay with
//!   "reuse: revoke the family" however old it is (`refresh::classify` checks use before
//!   expiry), so it is kept while the family it would revoke lives, but never longer than
//!   [`REUSE_MEMORY`] past its own expiry: an endlessly rotated family must not grow
//!   without bound.
//! - `authorization_codes`: never redeemed, at their expiry (redeeming then says
//!   `invalid_grant` either way). Redeemed, once [`TokenLifetimes::MAX_ACCESS_TOKEN`] has
//!   passed their expiry and the refresh family they started (its id is the code's
//!   digest) is gone: a replay revokes what the code issued for as long as any of it
//!   lives, and after that "unknown code" is the same `invalid_grant`.
//! - `revocations`: at their `expires_at`, when the last token they cover has expired.
//! - `device_secrets`: at their expiry (the session's absolute end) or once revoked;
//!   a revoked secret and an unknown one are refused alike.
//! - `sessions`: [`TokenLifetimes::MAX_ACCESS_TOKEN`] after they ended or expired (an
//!   access token carrying their `sid` may live that long), and only once no refresh
//!   token, device secret or code refers to them. The refresh grant needs its session's
//!   row, and deleting a session cascades to those rows, so a session stays as long as a
//!   refresh token issued in it (which is swept first, in the same pass).
//! - `sign_in_throttles`: once the policy has forgotten the failures and no lock runs.
//! - `logout_deliveries`: [`FINISHED_RETENTION`] after delivery or abandonment, for
//!   whoever investigates a relying party that says it never heard.
//! - `request_ids`: [`REQUEST_ID_RETENTION`] after the create they record; a retry of a
//!   create is a matter of minutes, a re-run pipeline of hours.
//!
//! Kept for good: the audit log (its retention is the operator's decision, not a
//! sweep's), and the control plane's resources (tenants, applications, users, keys,
//! management tokens, client secrets), which their own APIs delete.
//!
//! Several replicas may sweep at once: every batch re-checks its condition as it deletes,
//! so a row another replica deleted first is simply not counted. On PostgreSQL each batch
//! also takes a transaction-scoped advisory lock without waiting; a replica that finds it
//! taken leaves the rest of the pass to the one holding it. SQLite has one writer anyway.

use std::time::Duration;

use keyhaven_core::Timestamp;
use keyhaven_core::model::TokenLifetimes;
use keyhaven_core::throttle;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Backend, Store, StoreError, changes};

/// Rows one statement deletes at most: short enough that the SQLite writer and the
/// PostgreSQL row locks are held for milliseconds, never for a whole backlog.
pub const BATCH: u64 = 500;

/// How far behind the sweeper's clock another replica's may be.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The longest a used refresh token is kept past its own expiry for reuse detection.
pub const REUSE_MEMORY: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long finished back-channel logout deliveries stay readable.
pub const FINISHED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a `request_id` makes a retried create return what the first one made.
pub const REQUEST_ID_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Arbitrary but fixed: identifies the sweep among advisory locks.
const SWEEP_LOCK: i64 = 0x6b68_7377_6570;

/// How many rows one pass deleted, per table, in the order they were swept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub deleted: Vec<(&'static str, u64)>,
    /// Another replica held the sweep lock, so this pass stopped early.
    pub yielded: bool,
}

impl Swept {
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }

    pub fn of(&self, table: &str) -> u64 {
        self.deleted
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// One table's rule: its key columns and the condition, over the row aliased `t`, under
/// which a row no longer matters at `now`.
struct Rule {
    table: &'static str,
    key: &'static [&'static str],
    condition: fn(&Cutoffs) -> String,
}

/// The instants the rules compare with, in unix milliseconds. Only integers computed here
/// are ever written into the SQL: nothing a client sent.
struct Cutoffs {
    /// `now` less the clock skew: what has expired for every replica.
    expired: i64,
    /// Sessions ended before this can no longer have a live access token.
    session_end: i64,
    /// Codes redeemed and expired before this can no longer revoke a live access token.
    code_end: i64,
    reuse_memory: i64,
    throttle_forgotten: i64,
    finished: i64,
    request_ids: i64,
    cache_changes: i64,
}

impl Cutoffs {
    fn at(now: Timestamp) -> Self {
        let before = |d: Duration| {
            now.unix_millis()
                .saturating_sub(i64::try_from((d + CLOCK_SKEW).as_millis()).unwrap_or(i64::MAX))
        };
        let forget = throttle::PER_USERNAME
            .forget_after
            .max(throttle::PER_ADDRESS.forget_after);
        Self {
            expired: before(Duration::ZERO),
            session_end: before(TokenLifetimes::MAX_ACCESS_TOKEN),
            code_end: before(TokenLifetimes::MAX_ACCESS_TOKEN),
            reuse_memory: before(REUSE_MEMORY),
            throttle_forgotten: before(forget),
            finished: before(FINISHED_RETENTION),
            request_ids: before(REQUEST_ID_RETENTION),
            cache_changes: before(changes::LOG_RETENTION),
        }
    }
}

/// In sweeping order: tokens before the codes and sessions they keep alive, so that a
/// session whose last refresh token expires goes in the same pass.
const RULES: &[Rule] = &[
    Rule {
        table: "authorization_requests",
        key: &["id"],
        condition: |c| format!("t.expires_at < {}", c.expired),
    },
    Rule {
        table: "refresh_tokens",
        key: &["digest"],
        condition: |c| {
            format!(
                "t.expires_at < {e} AND t.access_expires_at < {e} AND (t.expires_at < {m} OR NOT EXISTS \
                 (SELECT 1 FROM refresh_tokens f WHERE f.tenant_id = t.tenant_id \
                 AND f.family_id = t.family_id AND f.expires_at >= {e}))",
                e = c.expired,
                m = c.reuse_memory,
            )
        },
    },
    Rule {
        table: "authorization_codes",
        key: &["digest"],
        condition: |c| {
            format!(
                "(t.consumed_at IS NULL AND t.expires_at < {e}) OR (t.consumed_at IS NOT NULL \
                 AND t.expires_at < {x} AND NOT EXISTS (SELECT 1 FROM refresh_tokens f \
                 WHERE f.tenant_id = t.tenant_id AND f.family_id = t.digest))",
                e = c.expired,
                x = c.code_end,
            )
        },
    },
    Rule {
        table: "device_secrets",
        key: &["digest"],
        condition: |c| format!("t.expires_at < {e} OR t.revoked_at < {e}", e = c.expired),
    },
    Rule {
        table: "revocations",
        key: &["tenant_id", "kind", "value"],
        condition: |c| format!("t.expires_at < {}", c.expired),
    },
    Rule {
        table: "sessions",
        key: &["id"],
        condition: |c| {
            format!(
                "(t.ended_at < {s} OR t.expires_at < {s} OR t.idle_expires_at < {s}) \
                 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.tenant_id = t.tenant_id AND r.session_id = t.id) \
                 AND NOT EXISTS (SELECT 1 FROM device_secrets d WHERE d.tenant_id = t.tenant_id AND d.session_id = t.id) \
                 AND NOT EXISTS (SELECT 1 FROM authorization_codes a WHERE a.tenant_id = t.tenant_id AND a.session_id = t.id)",
                s = c.session_end,
            )
        },
    },
    Rule {
        table: "sign_in_throttles",
        key: &["tenant_id", "key_digest"],
        condition: |c| {
            format!(
                "t.last_failure_at < {f} AND (t.locked_until IS NULL OR t.locked_until < {e})",
                f = c.throttle_forgotten,
                e = c.expired,
            )
        },
    },
    Rule {
        table: "logout_deliveries",
        key: &["id"],
        condition: |c| {
            format!(
                "t.delivered_at < {f} OR t.abandoned_at < {f}",
                f = c.finished
            )
        },
    },
    Rule {
        table: "request_ids",
        key: &["organization_id", "method", "request_id"],
        condition: |c| format!("t.created_at < {}", c.request_ids),
    },
    Rule {
        table: "cache_changes",
        key: &["id"],
        condition: |c| format!("t.created_at < {}", c.cache_changes),
    },
];

/// The statement that deletes one batch of `rule`'s rows. The condition is checked twice:
/// in the subquery that picks the batch, and again on each row as it is deleted, so
/// that a row changed meanwhile (a throttle counter that just failed again) is re-judged
/// on its new values. PostgreSQL re-checks the outer condition after a row lock wait.
fn delete_batch(rule: &Rule, cutoffs: &Cutoffs) -> String {
    let condition = (rule.condition)(cutoffs);
    let key = rule.key.join(", ");
    let inner_key = rule
        .key
        .iter()
        .map(|k| format!("t.{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let key = if rule.key.len() == 1 {
        key
    } else {
        format!("({key})")
    };
    format!(
        "DELETE FROM {table} AS t WHERE {key} IN (SELECT {inner_key} FROM {table} t WHERE {condition} LIMIT {BATCH}) AND ({condition})",
        table = rule.table,
    )
}

/// Deletes, at `now`, every row that no longer matters, table by table in batches of
/// [`BATCH`]. Returns how many rows it deleted per table.
#[tracing::instrument(skip(store))]
pub async fn sweep(store: &Store, now: Timestamp) -> Result<Swept, StoreError> {
    let cutoffs = Cutoffs::at(now);
    let mut swept = Swept::default();
    for rule in RULES {
        let sql = delete_batch(rule, &cutoffs);
        let mut deleted = 0;
        loop {
            let Some(batch) = run_batch(store, &sql).await? else {
                swept.deleted.push((rule.table, deleted));
                swept.yielded = true;
                return Ok(swept);
            };
            deleted += batch;
            if batch < BATCH {
                break;
            }
        }
        swept.deleted.push((rule.table, deleted));
    }
    Ok(swept)
}

/// Deletes one batch; `None` if another replica holds the sweep lock.
async fn run_batch(store: &Store, sql: &str) -> Result<Option<u64>, StoreError> {
    match store.backend() {
        Backend::Sqlite => Ok(Some(
            store.write.execute_unprepared(sql).await?.rows_affected(),
        )),
        Backend::Postgres => {
            let txn = store.write.begin().await?;
            let locked = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT pg_try_advisory_xact_lock({SWEEP_LOCK}) AS locked"),
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "locked"))
                .transpose()?
                .unwrap_or(false);
            if !locked {
                txn.rollback().await?;
                return Ok(None);
            }
            let deleted = txn.execute_unprepared(sql).await?.rows_affected();
            txn.commit().await?;
            Ok(Some(deleted))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sweep_of_an_empty_database_deletes_nothing_in_every_table() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let swept = sweep(&store, Timestamp::from_unix_millis(1_800_000_000_000))
            .await
            .expect("sweep");
        let tables: Vec<_> = swept.deleted.iter().map(|(t, _)| *t).collect();
        let expected: Vec<_> = RULES.iter().map(|r| r.table).collect();
        assert_eq!(tables, expected);
        assert_eq!((swept.total(), swept.yielded), (0, false));
    }

    #[test]
    fn every_batch_statement_names_its_table_and_is_bounded() {
        let cutoffs = Cutoffs::at(Timestamp::from_unix_millis(1_800_000_000_000));
        for rule in RULES {
            let sql = delete_batch(rule, &cutoffs);
            assert!(
                sql.starts_with(&format!("DELETE FROM {} AS t", rule.table)),
                "{sql}"
            );
            assert!(sql.contains(&format!("LIMIT {BATCH}")), "{sql}");
        }
        assert_eq!(
            delete_batch(&RULES[4], &cutoffs),
            format!(
                "DELETE FROM revocations AS t WHERE (tenant_id, kind, value) IN (SELECT t.tenant_id, t.kind, t.value FROM revocations t WHERE t.expires_at < {e} LIMIT 500) AND (t.expires_at < {e})",
                e = 1_800_000_000_000_i64 - 60_000
            )
        );
    }
}
