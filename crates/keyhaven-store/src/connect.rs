//! Opening the database: pools sized on purpose, SQLite tuned, migrations applied once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyhaven_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};

use crate::StoreError;
use crate::changes::Changes;
use crate::kept::Kept;
use crate::revocation_checks::RevocationChecks;
use crate::sessions::RecordedLinks;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database. Cheap to clone.
///
/// SQLite allows one writer at a time and fails a transaction that reads and then
/// upgrades to writing while another writes, so writes go through one connection (kept
/// out of its pool of one between statements, `crate::kept`) and reads through a pool of
/// several (WAL lets them run alongside). On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) read: Kept,
    pub(crate) write: Kept,
    backend: Backend,
    changes: Arc<Changes>,
    /// Started on the first check, so that a store opened outside a Tokio runtime (or by
    /// a CLI command that never checks) starts no task.
    revocation_checks: Arc<OnceLock<RevocationChecks>>,
    recorded_links: Arc<RecordedLinks>,
}

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

const SQLITE_READERS: u32 = 4;
/// Connections kept for single statements on PostgreSQL (`crate::kept`), shared by `read`
/// and `write`.
const POSTGRES_KEPT: u32 = 16;
/// The kept ones and those for transactions and the rest.
const POSTGRES_CONNECTIONS: u32 = POSTGRES_KEPT + 8;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A PostgreSQL connection idle this long is pinged before use, in case the server, a
/// proxy or a firewall dropped it meanwhile. The pool's default pings on every checkout,
/// a second round trip for each statement of a busy server.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

impl Store {
    /// Connects without touching the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            // The writer is kept; reads go through their pool (why, in `crate::kept`).
            let read = Kept::passthrough(sqlite_pool(url, SQLITE_READERS).await?);
            let write = Kept::sole(sqlite_pool(url, 1).await?);
            if !sqlite_built_with(&read, "ENABLE_QPSG").await? {
                tracing::warn!(
                    "SQLite was built without SQLITE_ENABLE_QPSG (set in .cargo/config.toml): \
                     every statement with LIMIT ? is compiled again on each execution"
                );
            }
            Ok(Self {
                read,
                write,
                backend: Backend::Sqlite,
                changes: Arc::default(),
                revocation_checks: Arc::default(),
                recorded_links: Arc::default(),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(POSTGRES_CONNECTIONS)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire_if_idle_for(POSTGRES_PING_AFTER_IDLE)
                .sqlx_logging(false);
            let kept = Kept::new(Database::connect(options).await?, POSTGRES_KEPT as usize);
            Ok(Self {
                read: kept.clone(),
                write: kept,
                backend: Backend::Postgres,
                changes: Arc::default(),
                revocation_checks: Arc::default(),
                recorded_links: Arc::default(),
            })
        } else {
            Err(StoreError::Database(sea_orm::DbErr::Custom(
                "database URL must start with sqlite: or postgres:".into(),
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn revocation_checks(&self) -> &RevocationChecks {
        self.revocation_checks
            .get_or_init(|| RevocationChecks::start(self.read.clone()))
    }

    pub(crate) fn recorded_links(&self) -> &RecordedLinks {
        &self.recorded_links
    }

    /// Where this process hears of changes to what the public runtime caches.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Applies pending migrations. On PostgreSQL a transaction-scoped advisory lock makes
    /// replicas that start together take turns: one migrates, the others wait and then
    /// find nothing left to do.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let _lent = self.write.lend().await?;
                Migrator::up(self.write.pool(), None).await?
            }
            Backend::Postgres => {
                let txn = self.write.pool().begin().await?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                    .await?;
                Migrator::up(&txn, None).await?;
                txn.commit().await?;
            }
        }
        Ok(())
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, StoreError> {
        let migrations = Migrator::get_migration_with_status_read_only(self.read.pool()).await?;
        Ok(migrations
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_owned(),
                applied: m.status() == keyhaven_migration::MigrationStatus::Applied,
            })
            .collect())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(self) {
        // On PostgreSQL `read` and `write` are one: both let go before the pool closes.
        self.read.release();
        self.write.release();
        let _ = self.read.pool().clone().close().await;
        let _ = self.write.pool().clone().close().await;
    }
}

/// Arbitrary but fixed: identifies Keyhaven's migration lock among advisory locks.
const MIGRATION_LOCK: i64 = 0x6b68_6d69_6772;

async fn sqlite_pool(url: &str, connections: u32) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        // A file has no far end that could hang up: the pool's default ping before every
        // checkout was one more trip to the connection's thread for each statement.
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(BUSY_TIMEOUT)
        });
    Ok(Database::connect(options).await?)
}

/// Whether the linked SQLite was compiled with `option` (as `PRAGMA compile_options`
/// names it, without the `SQLITE_` prefix).
async fn sqlite_built_with(db: &impl ConnectionTrait, option: &str) -> Result<bool, StoreError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA compile_options",
        ))
        .await?;
    Ok(rows
        .iter()
        .any(|row| row.try_get_by_index::<String>(0).is_ok_and(|o| o == option)))
}

#[cfg(test)]
mod tests {
    /// `.cargo/config.toml` (and the image's build) compile the bundled SQLite with
    /// `SQLITE_ENABLE_QPSG`; without it every statement with `LIMIT ?` is compiled again
    /// on each execution.
    #[tokio::test]
    async fn sqlite_is_built_with_a_stable_query_planner() {
        let db = crate::testing::with_tenants(&[]).await;
        assert!(
            super::sqlite_built_with(&db.store.read, "ENABLE_QPSG")
                .await
                .expect("compile options")
        );
        assert!(
            !super::sqlite_built_with(&db.store.read, "NO_SUCH_OPTION")
                .await
                .expect("compile options")
        );
    }
}
