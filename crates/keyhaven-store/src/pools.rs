//! What the connection pools hold right now, for the metrics scrape.

use crate::kept::Kept;
use crate::{Backend, Store};

/// One pool's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `read` and `write` on SQLite; `shared` on PostgreSQL, where both are one pool.
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Store {
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match self.backend() {
            Backend::Sqlite => vec![sqlite("read", &self.read), sqlite("write", &self.write)],
            Backend::Postgres => {
                let pool = self.write.pool().get_postgres_connection_pool();
                vec![PoolStats {
                    pool: "shared",
                    size: pool.size(),
                    idle: idle(pool.num_idle(), &self.write),
                    max: pool.options().get_max_connections(),
                }]
            }
        }
    }
}

fn sqlite(name: &'static str, db: &Kept) -> PoolStats {
    let pool = db.pool().get_sqlite_connection_pool();
    PoolStats {
        pool: name,
        size: pool.size(),
        idle: idle(pool.num_idle(), db),
        max: pool.options().get_max_connections(),
    }
}

/// Idle in the pool, and kept but between statements (the pool counts those as in use).
fn idle(in_pool: usize, kept: &Kept) -> u32 {
    u32::try_from(in_pool + kept.idle()).unwrap_or(u32::MAX)
}
