//! Change events: what the public runtime caches (tenants, applications with their
//! secrets, signing keys) is announced here whenever the control plane changes it.
//!
//! Within a process, subscribers are called synchronously right after the commit, so a
//! change is visible to the same process before the mutation returns. Across replicas on
//! PostgreSQL, the same event travels as `pg_notify('keyhaven_changes', ...)` issued
//! inside the mutation's transaction: PostgreSQL delivers it at commit and drops it on
//! rollback, so no replica hears of a change that did not happen. On SQLite the other
//! processes are the `keyhaven` CLI and servers sharing the file: the same event is an
//! entry of the `cache_changes` log, written in the transaction. [`Listener`] turns
//! notifications or log entries back into events in every process.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use keyhaven_core::{ClientId, Slug, TenantId, Timestamp};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Backend, Store, StoreError};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "keyhaven_changes";

/// How long the listener waits before reconnecting after PostgreSQL refused it.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How often a process on SQLite reads the change log: the bound on how long it serves
/// what another process (the CLI) changed.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long the change log keeps an entry before the sweep may drop it.
pub const LOG_RETENTION: Duration = Duration::from_secs(3600);

const LOG_BATCH: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Created, updated or deleted; a deletion takes its applications and keys with it.
    Tenant {
        id: TenantId,
        slug: Slug,
    },
    /// Created, updated, deleted, or its secrets rotated.
    Application {
        tenant: TenantId,
        client_id: ClientId,
    },
    SigningKeys {
        tenant: TenantId,
    },
    /// Some events may have been missed (the listener lost its connection): forget all.
    Everything,
}

impl Change {
    /// The notification payload; ids, slugs and client ids never contain `:`.
    fn payload(&self) -> String {
        match self {
            Change::Tenant { id, slug } => format!("tenant:{id}:{slug}"),
            Change::Application { tenant, client_id } => {
                format!("application:{tenant}:{client_id}")
            }
            Change::SigningKeys { tenant } => format!("keys:{tenant}"),
            Change::Everything => "everything".to_owned(),
        }
    }

    /// An unreadable payload (a newer replica's kind, say) means "forget all": clearing
    /// too much costs a few reads, keeping too much serves stale data.
    fn from_payload(payload: &str) -> Change {
        let mut parts = payload.splitn(3, ':');
        let parsed = match (parts.next(), parts.next(), parts.next()) {
            (Some("tenant"), Some(id), Some(slug)) => {
                Slug::parse(slug).ok().map(|slug| Change::Tenant {
                    id: TenantId::new(id),
                    slug,
                })
            }
            (Some("application"), Some(tenant), Some(client_id)) => ClientId::parse(client_id)
                .ok()
                .map(|client_id| Change::Application {
                    tenant: TenantId::new(tenant),
                    client_id,
                }),
            (Some("keys"), Some(tenant), None) => Some(Change::SigningKeys {
                tenant: TenantId::new(tenant),
            }),
            _ => None,
        };
        parsed.unwrap_or(Change::Everything)
    }
}

type Subscriber = Arc<dyn Fn(&Change) + Send + Sync>;

/// The subscribers of one process. Shared by every clone of a [`Store`].
pub struct Changes {
    subscribers: RwLock<Vec<Subscriber>>,
    /// Marks this store's entries in the SQLite change log, which it has delivered
    /// already and skips when it reads the log.
    origin: String,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            subscribers: RwLock::default(),
            origin: uuid::Uuid::now_v7().simple().to_string(),
        }
    }
}

impl fmt::Debug for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changes").finish_non_exhaustive()
    }
}

impl Changes {
    /// `subscriber` runs on the committing task: keep it short and non-blocking.
    pub fn subscribe(&self, subscriber: impl Fn(&Change) + Send + Sync + 'static) {
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(subscriber));
    }

    /// Tells this process's subscribers (and nobody else).
    pub fn deliver(&self, change: &Change) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for subscriber in subscribers {
            subscriber(change);
        }
    }
}

/// Queues the announcement inside `txn`, to reach the other processes at commit: a
/// notification on PostgreSQL, an entry of the change log on SQLite. Call
/// [`Changes::deliver`] after the commit for this process.
pub(crate) async fn announce(
    txn: &impl ConnectionTrait,
    store: &Store,
    now: Timestamp,
    change: &Change,
) -> Result<(), StoreError> {
    let statement = match store.backend() {
        Backend::Postgres => Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), change.payload().into()],
        ),
        Backend::Sqlite => Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO cache_changes (payload, origin, created_at) VALUES (?, ?, ?)",
            [
                change.payload().into(),
                store.changes().origin.clone().into(),
                now.unix_millis().into(),
            ],
        ),
    };
    txn.execute_raw(statement).await?;
    Ok(())
}

/// Follows the changes other processes make and delivers them to this process: by
/// LISTEN on PostgreSQL, by reading the change log every [`POLL_INTERVAL`] on SQLite.
pub struct Listener {
    store: Store,
    source: Source,
}

enum Source {
    /// `None` while the connection is down and being re-established.
    Notifications(Option<PgListener>),
    Log {
        after: i64,
        read_at: Instant,
    },
}

impl Listener {
    /// Listening before the replica serves means no change committed after it starts
    /// serving can go unheard. Should PostgreSQL refuse the LISTEN now, [`Listener::run`]
    /// keeps trying and clears the caches meanwhile.
    pub async fn connect(store: &Store) -> Result<Listener, StoreError> {
        let source = match store.backend() {
            Backend::Postgres => Source::Notifications(
                listen(store)
                    .await
                    .inspect_err(|err| {
                        tracing::warn!(error = %err, "change notifications unavailable: retrying")
                    })
                    .ok(),
            ),
            Backend::Sqlite => Source::Log {
                after: latest_logged(store).await?,
                read_at: Instant::now(),
            },
        };
        Ok(Listener {
            store: store.clone(),
            source,
        })
    }

    /// Delivers changes until `stop` resolves.
    ///
    /// Whenever the notification connection drops, notifications may be lost until it is
    /// back, so every cache is cleared once per [`RECONNECT_DELAY`] while it is down and
    /// once more after LISTEN succeeds again: what is cached is never older than the
    /// last moment the replica was listening.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let pause = match &mut self.source {
                Source::Notifications(listener) => {
                    follow_notifications(&self.store, listener, &mut stop).await
                }
                Source::Log { after, read_at } => {
                    Some(follow_log(&self.store, after, read_at).await)
                }
            };
            let Some(pause) = pause else { return };
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Handles the next event of the notification connection. `None` once `stop` resolved;
/// otherwise how long to wait before the next event.
async fn follow_notifications(
    store: &Store,
    listener: &mut Option<PgListener>,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<Duration> {
    let Some(connected) = listener else {
        match listen(store).await {
            Ok(reconnected) => {
                tracing::info!("change notifications back: clearing caches once more");
                *listener = Some(reconnected);
                store.changes().deliver(&Change::Everything);
                return Some(Duration::ZERO);
            }
            Err(err) => {
                tracing::warn!(error = %err, "change notifications unavailable: clearing caches and retrying");
                store.changes().deliver(&Change::Everything);
                return Some(RECONNECT_DELAY);
            }
        }
    };
    let next = tokio::select! {
        () = stop.as_mut() => return None,
        next = connected.try_recv() => next,
    };
    match next {
        Ok(Some(notification)) => {
            let change = Change::from_payload(notification.payload());
            tracing::debug!(?change, "change announced by a replica");
            store.changes().deliver(&change);
            Some(Duration::ZERO)
        }
        Ok(None) => {
            tracing::warn!(
                "lost the change notification connection: clearing caches and reconnecting"
            );
            *listener = None;
            store.changes().deliver(&Change::Everything);
            Some(Duration::ZERO)
        }
        Err(err) => {
            tracing::warn!(error = %err, "change notifications failed: clearing caches and reconnecting");
            *listener = None;
            store.changes().deliver(&Change::Everything);
            Some(RECONNECT_DELAY)
        }
    }
}

/// Delivers what was logged after `after` and moves it on. A log read that failed is
/// retried from the same place; a process that did not read for so long that the sweep
/// may have dropped entries it never saw clears every cache instead. Returns how long to
/// wait before the next read.
async fn follow_log(store: &Store, after: &mut i64, read_at: &mut Instant) -> Duration {
    let logged = match logged_after(store, *after).await {
        Ok(logged) => logged,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the change log: retrying");
            return POLL_INTERVAL;
        }
    };
    if read_at.elapsed() > LOG_RETENTION / 2 {
        tracing::warn!("the change log was not read for too long: clearing caches");
        store.changes().deliver(&Change::Everything);
    } else {
        let own = &store.changes().origin;
        for entry in logged.iter().filter(|e| &e.origin != own) {
            tracing::debug!(change = ?entry.change, "change logged by another process");
            store.changes().deliver(&entry.change);
        }
    }
    if let Some(last) = logged.last() {
        *after = last.id;
    }
    *read_at = Instant::now();
    if logged.len() == LOG_BATCH {
        Duration::ZERO
    } else {
        POLL_INTERVAL
    }
}

async fn listen(store: &Store) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(store.write.pool().get_postgres_connection_pool())
        .await
        .map_err(listen_error)?;
    listener.listen(CHANNEL).await.map_err(listen_error)?;
    Ok(listener)
}

/// The id of the last entry of the change log; 0 when it is empty.
async fn latest_logged(store: &Store) -> Result<i64, StoreError> {
    let row = store
        .read
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT COALESCE(MAX(id), 0) AS last FROM cache_changes",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "last")?,
        None => 0,
    })
}

struct Logged {
    id: i64,
    origin: String,
    change: Change,
}

/// The entries after `after`, oldest first, at most [`LOG_BATCH`] of them.
async fn logged_after(store: &Store, after: i64) -> Result<Vec<Logged>, StoreError> {
    let rows = store
        .read
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT id, origin, payload FROM cache_changes WHERE id > ? ORDER BY id LIMIT ?",
            [after.into(), (LOG_BATCH as i64).into()],
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let payload: String = row.try_get("", "payload")?;
            Ok(Logged {
                id: row.try_get("", "id")?,
                origin: row.try_get("", "origin")?,
                change: Change::from_payload(&payload),
            })
        })
        .collect()
}

fn listen_error(err: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Custom(format!(
        "could not listen for changes: {err}"
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{tenants, testing};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_brings_another_process_changes_and_not_its_own() {
        let db = testing::with_tenants(&[]).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Arc::clone(&seen);
        db.store
            .changes()
            .subscribe(move |change| subscriber.lock().expect("lock").push(change.clone()));
        let mut listener = Listener::connect(&db.store).await.expect("listener");

        // This process's change is delivered at its commit, and not again from the log.
        let acme = tenants::create(&db.store, &db.audit, testing::new_tenant("acme"), None)
            .await
            .expect("tenant")
            .into_inner();
        // Another process's (the CLI, say) reaches this one only through the log.
        let other = Store::connect(&db.url).await.expect("second process");
        let globex = tenants::create(&other, &db.audit, testing::new_tenant("globex"), None)
            .await
            .expect("tenant")
            .into_inner();
        let Source::Log { after, read_at } = &mut listener.source else {
            panic!("SQLite follows the log");
        };
        follow_log(&db.store, after, read_at).await;
        follow_log(&db.store, after, read_at).await;

        let tenant = |t: &keyhaven_core::model::Tenant| Change::Tenant {
            id: t.id.clone(),
            slug: t.slug.clone(),
        };
        assert_eq!(
            *seen.lock().expect("lock"),
            [tenant(&acme), tenant(&globex)],
            "each change once"
        );
    }

    #[test]
    fn payloads_read_back_as_the_change_they_announce() {
        let changes = [
            Change::Tenant {
                id: TenantId::new("0192-ab"),
                slug: Slug::parse("acme").unwrap(),
            },
            Change::Application {
                tenant: TenantId::new("0192-ab"),
                client_id: ClientId::parse("web_app-1").unwrap(),
            },
            Change::SigningKeys {
                tenant: TenantId::new("0192-ab"),
            },
            Change::Everything,
        ];
        for change in changes {
            assert_eq!(Change::from_payload(&change.payload()), change);
        }
    }

    #[test]
    fn an_unknown_payload_clears_everything() {
        assert_eq!(Change::from_payload("users:x"), Change::Everything);
        assert_eq!(
            Change::from_payload("tenant:x:NOT A SLUG"),
            Change::Everything
        );
    }
}
