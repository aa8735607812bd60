//! Opening the database: pools sized on purpose, SQLite tuned, migrations applied once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyhaven_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

use crate::StoreError;
use crate::changes::Changes;
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
/// upgrades to writing while another writes, so writes go through a pool of one
/// connection and reads through a pool of several (WAL lets them run alongside). On
/// PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) read: DatabaseConnection,
    pub(crate) write: DatabaseConnection,
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
const POSTGRES_CONNECTIONS: u32 = 16;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Connects without touching the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let read = sqlite_pool(url, SQLITE_READERS).await?;
            let write = sqlite_pool(url, 1).await?;
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
                .sqlx_logging(false);
            let pool = Database::connect(options).await?;
            Ok(Self {
                read: pool.clone(),
                write: pool,
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
            Backend::Sqlite => Migrator::up(&self.write, None).await?,
            Backend::Postgres => {
                let txn = self.write.begin().await?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                    .await?;
                Migrator::up(&txn, None).await?;
                txn.commit().await?;
            }
        }
        Ok(())
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, StoreError> {
        let migrations = Migrator::get_migration_with_status_read_only(&self.read).await?;
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
        self.read.ping().await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
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
