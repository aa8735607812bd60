//! Connections taken out of a pool once and kept between statements.
//!
//! sqlx pings every connection it gets back (`PoolConnection`'s drop): one more round
//! trip for each statement, to PostgreSQL over the network and, on SQLite, to the
//! connection's own thread. Through sea-orm's pool each statement checks a connection out
//! and back in, so every statement paid two round trips; on PostgreSQL that was a third
//! of the code flow's rate.
//!
//! [`Kept`] runs single statements on connections it holds instead, and gives one back to
//! the pool (which then pings it and closes it if it is broken) only when a statement on
//! it failed for a reason other than the database refusing it, or was abandoned half way
//! (a cancelled request). One idle longer than [`PING_AFTER_IDLE`] is pinged before use,
//! as the pool does, so a connection the server or a proxy dropped meanwhile is replaced
//! before a statement fails on it; one kept for [`KEEP_AT_MOST`] goes back to the pool, which
//! renews it as it renews its own. Transactions, and everything on a [`Kept`] made with
//! [`Kept::passthrough`], go to the pool as before.
//!
//! The store keeps connections on PostgreSQL only. On SQLite the writer must stay in its
//! pool of one, where transactions take it, and keeping the readers made userinfo a quarter
//! slower in the benchmark (alternating runs, 10,000 -> 7,200-8,300 per second) for a reason
//! not yet found, though without the ping each read is one trip to its thread instead of two.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Connection, Executor, Postgres, Sqlite};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, Statement, TransactionError, TransactionTrait,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

/// A connection idle this long is pinged before its next statement (the pool's
/// `test_before_acquire_if_idle_for` for kept connections).
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);
/// A connection kept this long goes back to the pool after its statement, so that kept
/// connections are renewed as the pool's own are (its `max_lifetime`, 30 minutes): after a
/// failover behind one DNS name, say, they reach the new server within this bound.
pub const KEEP_AT_MOST: Duration = Duration::from_secs(30 * 60);

/// Runs statements on up to `size` kept connections of `pool`, or on the pool itself.
#[derive(Clone)]
pub struct Kept {
    pool: DatabaseConnection,
    held: Option<Arc<Held>>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("pool", &self.pool)
            .field("kept", &self.held.as_ref().map(|h| h.size))
            .finish()
    }
}

struct Held {
    size: usize,
    /// One permit per connection that may be kept: a statement waits here when all are busy.
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
    /// Set by `close`: a connection a statement is done with goes back to the pool.
    closed: AtomicBool,
}

struct Idle {
    connection: Raw,
    since: Instant,
    /// When this set took it from the pool.
    taken: Instant,
}

enum Raw {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Raw {
    async fn ping(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Raw::Sqlite(c) => c.ping().await,
            Raw::Postgres(c) => c.ping().await,
        }
    }
}

/// A kept connection lent to one statement. Dropped before the statement has finished
/// (`done` never called), the connection goes back to the pool rather than to the kept set.
struct Lease<'a> {
    held: &'a Held,
    connection: Option<Raw>,
    taken: Instant,
    keep: bool,
}

impl Lease<'_> {
    /// The statement finished; the connection is kept unless it failed for a reason other
    /// than the database refusing the statement.
    fn done<T>(&mut self, result: &Result<T, sqlx::Error>) {
        self.keep = match result {
            Ok(_) | Err(sqlx::Error::RowNotFound) => true,
            // PostgreSQL's classes 08 (connection exception) and 57 (operator intervention:
            // a terminated backend, a shutdown) end the connection; any other refusal (a
            // constraint, a serialization failure) leaves it usable. SQLite's codes are
            // numbers of another kind.
            Err(sqlx::Error::Database(refusal)) => {
                !matches!(self.connection, Some(Raw::Postgres(_)))
                    || !refusal
                        .code()
                        .is_some_and(|code| code.starts_with("08") || code.starts_with("57"))
            }
            Err(_) => false,
        };
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && self.keep
            && self.taken.elapsed() < KEEP_AT_MOST
            && !self.held.closed.load(Ordering::Acquire)
        {
            lock(&self.held.idle).push(Idle {
                connection,
                since: Instant::now(),
                taken: self.taken,
            });
        }
        // Otherwise the connection is dropped here: sqlx's pool takes it back, tests it and
        // closes it if it is broken, and the next lease asks the pool for another.
        self.held.permits.add_permits(1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Kept {
    /// Keeps up to `size` connections of `pool` (SQLite or PostgreSQL).
    pub fn new(pool: DatabaseConnection, size: usize) -> Self {
        Self {
            pool,
            held: Some(Arc::new(Held {
                size,
                permits: Semaphore::new(size),
                idle: Mutex::new(Vec::with_capacity(size)),
                closed: AtomicBool::new(false),
            })),
        }
    }

    /// Every statement goes to the pool: SQLite's single writer must stay in the pool,
    /// where transactions take it.
    pub fn passthrough(pool: DatabaseConnection) -> Self {
        Self { pool, held: None }
    }

    /// The pool: for what needs sea-orm's connection itself (transactions, migrations,
    /// pool statistics, closing).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// Kept connections between statements.
    pub fn idle(&self) -> usize {
        self.held.as_ref().map_or(0, |held| lock(&held.idle).len())
    }

    /// Gives every kept connection back to the pool, and from now on each one a statement
    /// is done with: before the pool is closed, which waits for all of its connections.
    pub fn release(&self) {
        if let Some(held) = &self.held {
            held.closed.store(true, Ordering::Release);
            lock(&held.idle).clear();
        }
    }

    async fn lease<'a>(&self, held: &'a Held) -> Result<Lease<'a>, DbErr> {
        let permit = held
            .permits
            .acquire()
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::Internal(e.to_string())))?;
        // The lease gives the permit back when it is dropped, whatever happens to its
        // connection.
        permit.forget();
        let mut lease = Lease {
            held,
            connection: None,
            taken: Instant::now(),
            keep: false,
        };
        let idle = lock(&held.idle).pop();
        let connection = match idle {
            Some(idle) if idle.since.elapsed() < PING_AFTER_IDLE => {
                lease.taken = idle.taken;
                idle.connection
            }
            Some(mut idle) => match idle.connection.ping().await {
                Ok(()) => {
                    lease.taken = idle.taken;
                    idle.connection
                }
                Err(error) => {
                    tracing::warn!(%error, "a kept database connection failed its ping; replacing it");
                    drop(idle);
                    self.fresh().await?
                }
            },
            None => self.fresh().await?,
        };
        lease.connection = Some(connection);
        Ok(lease)
    }

    async fn fresh(&self) -> Result<Raw, DbErr> {
        let acquired = match self.pool.get_database_backend() {
            DbBackend::Sqlite => self
                .pool
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .map(Raw::Sqlite),
            DbBackend::Postgres => self
                .pool
                .get_postgres_connection_pool()
                .acquire()
                .await
                .map(Raw::Postgres),
            other => {
                return Err(DbErr::Conn(RuntimeErr::Internal(format!(
                    "no kept connections for {other:?}"
                ))));
            }
        };
        acquired.map_err(|error| match error {
            sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
            other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
        })
    }
}

/// The statement with its values bound, as sea-orm's own pool connections bind them.
fn query<DB: sqlx::Database>(stmt: &Statement) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    SqlxValues: for<'q> sqlx::IntoArguments<DB>,
{
    let values = stmt
        .values
        .clone()
        .unwrap_or_else(|| sea_orm::Values(Vec::new()));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

fn exec_err(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

fn query_err(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

/// Runs `$run` on a kept connection of `$held`: the same code for either backend, which
/// differ only in the connection's type. Yields the statement's result, after deciding
/// whether the connection stays kept.
macro_rules! on_kept {
    ($kept:expr, $held:expr, |$connection:ident| $run:expr) => {{
        let mut lease = $kept.lease($held).await?;
        let result = match lease.connection.as_mut() {
            Some(Raw::Sqlite($connection)) => $run,
            Some(Raw::Postgres($connection)) => $run,
            // `lease` always puts a connection in.
            None => Err(sqlx::Error::PoolClosed),
        };
        lease.done(&result);
        result
    }};
}

#[async_trait::async_trait]
impl ConnectionTrait for Kept {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let Some(held) = &self.held else {
            return self.pool.execute_raw(stmt).await;
        };
        on_kept!(self, held, |c| query(&stmt)
            .execute(&mut **c)
            .await
            .map(ExecResult::from))
        .map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let Some(held) = &self.held else {
            return self.pool.execute_unprepared(sql).await;
        };
        on_kept!(self, held, |c| c
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map(ExecResult::from))
        .map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let Some(held) = &self.held else {
            return self.pool.query_one_raw(stmt).await;
        };
        on_kept!(self, held, |c| query(&stmt)
            .fetch_optional(&mut **c)
            .await
            .map(|row| row.map(QueryResult::from)))
        .map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let Some(held) = &self.held else {
            return self.pool.query_all_raw(stmt).await;
        };
        on_kept!(self, held, |c| query(&stmt)
            .fetch_all(&mut **c)
            .await
            .map(|rows| rows.into_iter().map(QueryResult::from).collect()))
        .map_err(query_err)
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Kept {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.pool.begin().await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<sea_orm::IsolationLevel>,
        access_mode: Option<sea_orm::AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.pool
            .begin_with_config(isolation_level, access_mode)
            .await
    }

    async fn begin_with_options(
        &self,
        options: sea_orm::TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.pool.begin_with_options(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>,
            > + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.pool.transaction(callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<sea_orm::IsolationLevel>,
        access_mode: Option<sea_orm::AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>,
            > + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.pool
            .transaction_with_config(callback, isolation_level, access_mode)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::ConnectionTrait;

    const KEPT: usize = 3;

    #[tokio::test]
    async fn statements_reuse_kept_connections_and_closing_gives_them_back() {
        // The store keeps connections on PostgreSQL only; the mechanism is the same on the
        // SQLite file the store's tests run on.
        let db = crate::testing::with_tenants(&["acme"]).await;
        let read = super::Kept::new(db.store.read.pool().clone(), KEPT);
        for _ in 0..10 {
            read.execute_unprepared("SELECT 1").await.expect("select");
        }
        assert_eq!(
            read.idle(),
            1,
            "one statement at a time needs one connection"
        );

        // The database refusing a statement leaves its connection usable, so kept.
        assert!(
            read.execute_unprepared("SELECT * FROM no_such_table")
                .await
                .is_err()
        );
        assert_eq!(read.idle(), 1);

        // At most as many at once as are kept; the others wait for one.
        let mut statements = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let read = read.clone();
            statements.spawn(async move {
                read.query_all_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                     SELECT count(*) FROM n",
                ))
                .await
            });
        }
        while let Some(done) = statements.join_next().await {
            done.expect("task").expect("statement");
        }
        let kept = read.idle();
        assert!((1..=KEPT).contains(&kept), "{kept} kept");

        // Closing the pool waits for every connection of it: the kept ones go back first,
        // even while a clone still holds the set.
        let clone = read.clone();
        read.release();
        tokio::time::timeout(Duration::from_secs(5), read.pool().clone().close())
            .await
            .expect("closing does not wait for the kept connections")
            .expect("closed");
        assert_eq!(clone.idle(), 0);
    }
}
