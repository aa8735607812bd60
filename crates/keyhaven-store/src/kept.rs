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
//! renews it as it renews its own. Everything on a [`Kept`] made with [`Kept::passthrough`]
//! goes to the pool as before.
//!
//! Transactions run on the pool's connections, since sea-orm builds a transaction nowhere
//! else ([`Kept::begin`]). SQLite's single writer is the one connection of its pool and is
//! kept ([`Kept::sole`]), so a transaction first takes it back: it holds the set's one
//! permit, which stops single statements, and gives the idle connection to the pool, until
//! it ends. A code flow's three writes each saved the trip of the ping.
//!
//! SQLite's readers are not kept. Doing so made userinfo a fifth to a quarter slower in the
//! benchmark (alternating runs, 5,000-6,500 -> 4,100-4,900 per second). The server's profiles
//! differ mainly in its waking the load generator (`sock_def_readable` after `writev`, 7.5 ->
//! 14.5 % of its samples). Likely, reads that come back sooner spread the answers out, so the
//! client, on its own core, sleeps between them and each answer pays for waking it; the pings
//! had made the answers leave in bursts. That would be an effect of the benchmark's one core
//! for each side more than of the server, but it is what the benchmark measures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Connection, Executor, Postgres, Sqlite};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, Statement, TransactionTrait,
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
    /// The set may hold every connection of its pool (SQLite's single writer): a
    /// transaction, which sea-orm runs on a connection of the pool, takes one back first.
    holds_all: bool,
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

/// Takes one of `held`'s permits, which its taker gives back with `add_permits` when it
/// is dropped, whatever happened meanwhile.
async fn take_permit(held: &Held) -> Result<(), DbErr> {
    held.permits
        .acquire()
        .await
        .map_err(|e| DbErr::Conn(RuntimeErr::Internal(e.to_string())))?
        .forget();
    Ok(())
}

/// A permit of a set that holds all of its pool's connections, taken so that the pool has
/// one to give (see [`Kept::lend`]).
pub struct Lent(Arc<Held>);

impl Drop for Lent {
    fn drop(&mut self) {
        self.0.permits.add_permits(1);
    }
}

/// A transaction of a [`Kept`]: sea-orm's, on a connection of the pool, and while it runs
/// the permit it took from a set that holds all of the pool's connections.
pub struct Transaction {
    // Declared first, so dropped first: the connection is back in the pool before the
    // permit lets a statement ask for it.
    txn: DatabaseTransaction,
    _lent: Option<Lent>,
}

impl Transaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        let Self { txn, _lent } = self;
        txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        let Self { txn, _lent } = self;
        txn.rollback().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Transaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Kept {
    /// Keeps up to `size` connections of `pool` (SQLite or PostgreSQL), which has more,
    /// so that its transactions do not wait for the kept ones.
    pub fn new(pool: DatabaseConnection, size: usize) -> Self {
        Self::keeping(pool, size, false)
    }

    /// Keeps the one connection of `pool` (SQLite's writer); a transaction takes it back
    /// for as long as it runs.
    pub fn sole(pool: DatabaseConnection) -> Self {
        Self::keeping(pool, 1, true)
    }

    fn keeping(pool: DatabaseConnection, size: usize, holds_all: bool) -> Self {
        Self {
            pool,
            held: Some(Arc::new(Held {
                size,
                holds_all,
                permits: Semaphore::new(size),
                idle: Mutex::new(Vec::with_capacity(size)),
                closed: AtomicBool::new(false),
            })),
        }
    }

    /// Every statement goes to the pool.
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

    /// A transaction on a connection of the pool (sea-orm builds one nowhere else).
    pub async fn begin(&self) -> Result<Transaction, DbErr> {
        let lent = self.lend().await?;
        Ok(Transaction {
            txn: self.pool.begin().await?,
            _lent: lent,
        })
    }

    /// Makes sure the pool has a connection to give while the result lives, for what runs
    /// on the pool itself (a transaction, migrations): when this set may hold all of the
    /// pool's connections, it stops one statement from taking one and gives an idle one
    /// back. Otherwise nothing to do.
    pub async fn lend(&self) -> Result<Option<Lent>, DbErr> {
        let Some(held) = self.held.as_ref().filter(|held| held.holds_all) else {
            return Ok(None);
        };
        take_permit(held).await?;
        let lent = Lent(Arc::clone(held));
        // With a permit taken, at most `size - 1` connections are lent to statements, so
        // one is idle here or already back in the pool. Dropped, the pool takes it back.
        drop(lock(&held.idle).pop());
        Ok(Some(lent))
    }

    async fn lease<'a>(&self, held: &'a Held) -> Result<Lease<'a>, DbErr> {
        take_permit(held).await?;
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

    #[tokio::test]
    async fn a_transaction_takes_the_sole_connection_back_until_it_ends() {
        let db = crate::testing::with_tenants(&[]).await;
        let write = super::Kept::sole(db.store.write.pool().clone());
        let count = || {
            let write = write.clone();
            async move {
                let row = write
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Sqlite,
                        "SELECT count(*) AS n FROM t",
                    ))
                    .await
                    .expect("count")
                    .expect("a row");
                row.try_get::<i64>("", "n").expect("n")
            }
        };
        write
            .execute_unprepared("CREATE TABLE t (v INTEGER)")
            .await
            .expect("create");
        assert_eq!(write.idle(), 1, "the pool's one connection is kept");

        // Were the connection still kept, the pool would have none to begin with.
        let txn = tokio::time::timeout(Duration::from_secs(5), write.begin())
            .await
            .expect("the transaction gets the pool's connection")
            .expect("begin");
        assert_eq!(write.idle(), 0);
        txn.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .expect("insert");
        // A statement meanwhile waits for the transaction to end.
        let waiting = tokio::spawn(count());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "ran while the transaction held the connection"
        );
        txn.commit().await.expect("commit");
        let seen = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the statement gets the connection once the transaction ends")
            .expect("task");
        assert_eq!(seen, 1);
        assert_eq!(write.idle(), 1, "kept again");

        // One dropped half way is rolled back, and the connection serves the next one.
        {
            let txn = write.begin().await.expect("begin");
            txn.execute_unprepared("INSERT INTO t VALUES (2)")
                .await
                .expect("insert");
        }
        assert_eq!(count().await, 1);
        let txn = write.begin().await.expect("begin again");
        txn.execute_unprepared("INSERT INTO t VALUES (3)")
            .await
            .expect("insert");
        txn.rollback().await.expect("rollback");
        assert_eq!(count().await, 1);

        // Migrations run on the pool itself, after lending it the connection.
        let lent = write.lend().await.expect("lend");
        assert!(lent.is_some());
        tokio::time::timeout(
            Duration::from_secs(5),
            write.pool().execute_unprepared("SELECT 1"),
        )
        .await
        .expect("the pool has its connection")
        .expect("select");
    }
}
