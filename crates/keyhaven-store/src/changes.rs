//! Change events: what the public runtime caches (tenants, applications with their
//! secrets, signing keys) is announced here whenever the control plane changes it.
//!
//! Within a process, subscribers are called synchronously right after the commit, so a
//! change is visible to the same process before the mutation returns. Across replicas on
//! PostgreSQL, the same event travels as `pg_notify('keyhaven_changes', ...)` issued
//! inside the mutation's transaction: PostgreSQL delivers it at commit and drops it on
//! rollback, so no replica hears of a change that did not happen. [`Listener`] turns
//! those notifications back into events on every replica.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use keyhaven_core::{ClientId, Slug, TenantId};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::{Backend, Store, StoreError};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "keyhaven_changes";

/// How long the listener waits before reconnecting after PostgreSQL refused it.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

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
#[derive(Default)]
pub struct Changes {
    subscribers: RwLock<Vec<Subscriber>>,
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

/// Queues the notification inside `txn`, to be delivered to other replicas at commit.
/// Call [`Changes::deliver`] after the commit for this process.
pub(crate) async fn announce(
    txn: &impl ConnectionTrait,
    store: &Store,
    change: &Change,
) -> Result<(), StoreError> {
    if store.backend() == Backend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), change.payload().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Follows the other replicas' changes on PostgreSQL and delivers them to this process.
pub struct Listener {
    store: Store,
    listener: PgListener,
}

impl Listener {
    /// Listening before the replica serves means no change committed after it starts
    /// serving can go unheard. `None` on SQLite, where there is nothing to listen to.
    pub async fn connect(store: &Store) -> Result<Option<Listener>, StoreError> {
        if store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect_with(store.write.get_postgres_connection_pool())
            .await
            .map_err(listen_error)?;
        listener.listen(CHANNEL).await.map_err(listen_error)?;
        Ok(Some(Listener {
            store: store.clone(),
            listener,
        }))
    }

    /// Delivers notifications until `stop` resolves. Whenever the connection drops,
    /// notifications may have been lost in between, so every cache is cleared; the
    /// listener then reconnects (and listens again) by itself.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let next = tokio::select! {
                () = &mut stop => return,
                next = self.listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    let change = Change::from_payload(notification.payload());
                    tracing::debug!(?change, "change announced by a replica");
                    self.store.changes().deliver(&change);
                }
                Ok(None) => {
                    tracing::warn!(
                        "lost the change notification connection: clearing caches and reconnecting"
                    );
                    self.store.changes().deliver(&Change::Everything);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "change notifications unavailable: clearing caches and retrying");
                    self.store.changes().deliver(&Change::Everything);
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(RECONNECT_DELAY) => {}
                    }
                }
            }
        }
    }
}

fn listen_error(err: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Custom(format!(
        "could not listen for changes: {err}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

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
