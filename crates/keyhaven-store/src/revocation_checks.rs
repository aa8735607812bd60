//! Revocation checks coalesced: every introspection and userinfo call asks whether its
//! token is revoked, and under load dozens ask at once. Each asking alone costs a round
//! trip to the database (a message to SQLite's connection thread, a packet to
//! PostgreSQL), which is what held those endpoints down; here the checks that arrive while
//! earlier ones are being answered wait together and go as one query.
//!
//! No answer is older than its question: a check joins a batch whose query has not
//! started yet, so it sees every revocation committed before it was asked, as a query of
//! its own would. At most [`IN_FLIGHT`] queries run at once; when all are busy, the
//! checks that arrive meanwhile make the next batch larger instead of queueing for
//! connections one by one.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::kept::Kept;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::StoreError;

/// Batch queries at once: fewer than the read pool's connections, so a burst of checks
/// leaves connections for the other reads.
const IN_FLIGHT: usize = 3;
/// Checks in one query, at most.
const MAX_BATCH: usize = 256;
/// Checks waiting for a batch, at most: beyond that, askers wait to be queued.
const QUEUE: usize = 4096;

struct Check {
    tenant: String,
    jti: String,
    sid: Option<String>,
    answer: oneshot::Sender<Result<bool, String>>,
}

/// The queue of one store's checks; its task ends when the last [`Store`] clone is gone.
///
/// [`Store`]: crate::Store
#[derive(Debug, Clone)]
pub(crate) struct RevocationChecks {
    queue: mpsc::Sender<Check>,
}

impl RevocationChecks {
    /// Starts the task that answers checks from `db`. Needs a Tokio runtime.
    pub(crate) fn start(db: Kept) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(answer_batches(db, pending));
        Self { queue }
    }

    /// Whether the access token `jti` of `tenant`, or its session `sid`, is revoked.
    pub(crate) async fn is_revoked(
        &self,
        tenant: &str,
        jti: &str,
        sid: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (answer, answered) = oneshot::channel();
        let check = Check {
            tenant: tenant.to_owned(),
            jti: jti.to_owned(),
            sid: sid.map(str::to_owned),
            answer,
        };
        let stopped = || StoreError::Database(DbErr::Custom("revocation checks stopped".into()));
        self.queue.send(check).await.map_err(|_| stopped())?;
        answered
            .await
            .map_err(|_| stopped())?
            .map_err(|e| StoreError::Database(DbErr::Custom(e)))
    }
}

async fn answer_batches(db: Kept, mut pending: mpsc::Receiver<Check>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // A free slot first, then whatever is waiting: checks that arrive while every
        // slot is busy all join the next batch.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::new();
        if pending.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let db = db.clone();
        tokio::spawn(async move {
            answer(&db, batch).await;
            drop(slot);
        });
    }
}

async fn answer(db: &Kept, batch: Vec<Check>) {
    let revoked = revoked_among(db, &batch).await;
    for (index, check) in batch.into_iter().enumerate() {
        let verdict = match &revoked {
            Ok(revoked) => Ok(revoked[index]),
            Err(err) => Err(err.to_string()),
        };
        // The asker may have given up (its request was cancelled).
        let _ = check.answer.send(verdict);
    }
}

/// For each check of `batch`, whether a revocation covers it: one query over the
/// revocations' primary key, whatever the batch's size, so that the statement is
/// prepared once per connection.
async fn revoked_among(db: &Kept, batch: &[Check]) -> Result<Vec<bool>, DbErr> {
    // Each key to look up, and the check it answers.
    let mut keys = Vec::with_capacity(batch.len() * 2);
    let mut owners = Vec::with_capacity(batch.len() * 2);
    for (index, check) in batch.iter().enumerate() {
        keys.push(json!([check.tenant, "jti", check.jti]));
        owners.push(index);
        if let Some(sid) = &check.sid {
            keys.push(json!([check.tenant, "session", sid]));
            owners.push(index);
        }
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => FOUND_POSTGRES,
        _ => FOUND_SQLITE,
    };
    let keys = serde_json::Value::Array(keys).to_string();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [keys.into()]))
        .await?;
    let mut revoked = vec![false; batch.len()];
    for row in rows {
        let found: i64 = row.try_get("", "position")?;
        let owner = usize::try_from(found)
            .ok()
            .and_then(|position| owners.get(position))
            .ok_or_else(|| DbErr::Custom(format!("revocation lookup answered {found}")))?;
        revoked[*owner] = true;
    }
    Ok(revoked)
}

/// The positions (from 0) of the keys `[tenant, kind, value]` of the JSON array `?1` that
/// a revocation covers. `EXISTS` per key keeps each lookup on the primary key whatever
/// the planner thinks of the array's size.
const FOUND_SQLITE: &str = "SELECT k.key AS position FROM json_each(?1) AS k \
     WHERE EXISTS (SELECT 1 FROM revocations AS r \
     WHERE r.tenant_id = k.value ->> 0 AND r.kind = k.value ->> 1 AND r.value = k.value ->> 2)";
const FOUND_POSTGRES: &str = "SELECT k.position - 1 AS position \
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS k(key, position) \
     WHERE EXISTS (SELECT 1 FROM revocations AS r \
     WHERE r.tenant_id = k.key ->> 0 AND r.kind = k.key ->> 1 AND r.value = k.key ->> 2)";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::revocations::{self, Kind, Reason, Revocation};
    use crate::testing::{self, NOW};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_asked_together_each_get_their_own_answer() {
        let db = testing::with_tenants(&["acme", "globex"]).await;
        let (acme, globex) = (&db.tenants[0].id, &db.tenants[1].id);
        let revoke = |kind, value: &str| Revocation {
            kind,
            value: value.to_owned(),
            reason: Reason::ClientRequest,
            expires_at: NOW.saturating_add(Duration::from_secs(600)),
        };
        revocations::insert(
            &db.store.write,
            acme,
            &[
                revoke(Kind::AccessToken, "jti-3"),
                revoke(Kind::Session, "sid-odd"),
            ],
            NOW,
        )
        .await
        .expect("revoked");

        // (tenant, jti, sid, revoked?): by jti, by session, neither, and acme's
        // revocations seen from globex.
        let mut expected = Vec::new();
        for i in 0..200 {
            let sid = if i % 2 == 1 { "sid-odd" } else { "sid-even" };
            let jti = format!("jti-{i}");
            let revoked = i == 3 || i % 2 == 1;
            expected.push((acme.clone(), jti.clone(), Some(sid), revoked));
            expected.push((globex.clone(), jti, Some(sid), false));
        }
        expected.push((acme.clone(), "jti-3".to_owned(), None, true));
        expected.push((acme.clone(), "jti-5".to_owned(), None, false));
        let asked: Vec<_> = expected
            .iter()
            .map(|(tenant, jti, sid, _)| {
                let (store, tenant, jti, sid) =
                    (db.store.clone(), tenant.clone(), jti.clone(), *sid);
                tokio::spawn(
                    async move { revocations::is_revoked(&store, &tenant, &jti, sid).await },
                )
            })
            .collect();
        for (task, (tenant, jti, sid, revoked)) in asked.into_iter().zip(&expected) {
            let answer = task.await.expect("joined").expect("checked");
            assert_eq!(answer, *revoked, "{tenant} {jti} {sid:?}");
        }

        // A revocation committed after a check was answered is seen by the next one.
        revocations::insert(
            &db.store.write,
            globex,
            &[revoke(Kind::AccessToken, "jti-0")],
            NOW,
        )
        .await
        .expect("revoked");
        assert!(
            revocations::is_revoked(&db.store, globex, "jti-0", None)
                .await
                .expect("checked")
        );
    }
}
