//! Waiting for answers without sleeping while they come fast (`--busy-poll`).
//!
//! Over loopback the server's send of an answer wakes the load generator's thread if it
//! sleeps in `epoll_wait`, and on a virtual machine that wake-up (an inter-processor
//! interrupt) is charged to the server. A thread that polls has nothing to wake. But a
//! thread that polls all the time also takes its CPU from whatever else needs it, and
//! PostgreSQL, which has no core of its own here, does: polling throughout put the
//! PostgreSQL code flow at 14-20 % of its limit against 23-32 % sleeping. So the load
//! generator polls only while iterations keep ending close together, as the kernel's
//! own busy polling does (`net.core.busy_poll`), and sleeps when they come sparsely.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long after an iteration ended the load generator keeps polling for the next one
/// before it sleeps; the kernel's documentation suggests 50 us for `net.core.busy_poll`.
/// `client_credentials` ends one every ~30 us at 64 connections, a PostgreSQL code flow
/// one every ~1 ms.
const SPIN: Duration = Duration::from_micros(50);

/// Shared by one drive's connections, which report each iteration's end, and its poller.
pub struct BusyPoll {
    started: Instant,
    /// When the last iteration ended, in nanoseconds after `started`.
    last_end: AtomicU64,
    parked: AtomicBool,
    wake: Notify,
}

impl BusyPoll {
    pub fn new() -> Arc<Self> {
        Arc::new(BusyPoll {
            started: Instant::now(),
            last_end: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// A connection's iteration ended at `at`.
    pub fn ended(&self, at: Instant) {
        self.last_end.store(self.nanos(at), Ordering::Relaxed);
        if self.parked.swap(false, Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Polls until `deadline` while iterations end within [`SPIN`] of each other, and
    /// sleeps until the next one ends otherwise. Run as a task of the load generator's
    /// runtime: a task that yields is run again only after the runtime has checked for
    /// I/O without blocking, so while it yields the thread polls for answers.
    pub async fn until(self: Arc<Self>, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let quiet = self
                .nanos(now)
                .saturating_sub(self.last_end.load(Ordering::Relaxed));
            if quiet < SPIN.as_nanos() as u64 {
                tokio::task::yield_now().await;
                continue;
            }
            // An iteration that ends between the check above and this store does not wake
            // the poller, which then sleeps until the one after: a missed spin, no more.
            self.parked.store(true, Ordering::Relaxed);
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep_until(deadline.into()) => return,
            }
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn until_parked(poll: &BusyPoll) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !poll.parked.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the poller went to sleep");
    }

    #[tokio::test(start_paused = true)]
    async fn sleeps_when_nothing_ends_until_its_deadline() {
        let poll = BusyPoll::new();
        let started = Instant::now();
        // The runtime's clock is paused, so a poller asleep until its deadline returns at
        // once; one that kept polling would take the 5 s on the wall clock.
        Arc::clone(&poll)
            .until(started + Duration::from_secs(5))
            .await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(poll.parked.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn an_iteration_that_ends_wakes_a_sleeping_poller() {
        let poll = BusyPoll::new();
        let poller =
            tokio::spawn(Arc::clone(&poll).until(Instant::now() + Duration::from_secs(60)));
        until_parked(&poll).await;
        poll.ended(Instant::now());
        // Woken, it polls for SPIN and then sleeps again; left asleep, it would stay
        // unparked until its deadline.
        until_parked(&poll).await;
        poller.abort();
    }
}
