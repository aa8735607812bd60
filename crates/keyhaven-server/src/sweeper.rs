//! The background sweep: every `sweep_interval_seconds`, delete what no longer matters
//! ([`keyhaven_store::sweep`] says what and why). Every replica runs it; the store makes
//! concurrent passes safe and keeps them from doing the same work twice.

use std::sync::Arc;
use std::time::Duration;

use keyhaven_core::Clock;
use keyhaven_store::sweep::{self, Swept};
use keyhaven_store::{Store, StoreError};
use tokio::sync::watch;

/// Runs sweeps, on a schedule or on demand.
#[derive(Clone)]
pub struct Sweeper {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Sweeper {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// One pass now, at the injected clock's time.
    pub async fn sweep_now(&self) -> Result<Swept, StoreError> {
        let swept = sweep::sweep(&self.store, self.clock.now()).await?;
        if swept.total() > 0 {
            let counts: Vec<String> = swept
                .deleted
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(table, n)| format!("{table}={n}"))
                .collect();
            tracing::info!(deleted = swept.total(), tables = %counts.join(" "), "sweep deleted rows that no longer matter");
        }
        Ok(swept)
    }

    /// Sweeps every `interval` until `stop` fires. The first pass waits one interval, so
    /// that a fleet restarting together does not sweep all at once on start. A pass under
    /// way when `stop` fires finishes its current batch's statement first; batches are
    /// small, so that is quick.
    pub async fn run(self, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(interval) => {}
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                result = self.sweep_now() => {
                    if let Err(error) = result {
                        tracing::error!(%error, "sweep failed; retrying at the next interval");
                    }
                }
            }
        }
    }
}
