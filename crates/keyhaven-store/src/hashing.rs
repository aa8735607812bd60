//! Password hashing off the async runtime, on a pool of its own: argon2id costs 19 MiB
//! and tens of milliseconds per hash, so a burst of sign-ins must queue here rather than
//! starve every other request of worker threads, CPU or memory.
//!
//! The pool's threads are few (one per core by default), so at most that many 19 MiB
//! blocks exist at once, and they run at a lower scheduling priority than the runtime's
//! workers: when the CPU is saturated, token requests keep their latency and sign-ins
//! slow down, instead of the other way round. When the CPU has room, the priority changes
//! nothing.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhaven_core::password::{Password, PasswordHash};
use tokio::sync::{Semaphore, oneshot};

/// How much nicer the hashing threads are than the process: the lowest priority (nice 19,
/// scheduler weight 15 against the runtime's 1024). A hashing thread gets the whole of a
/// core the runtime does not want and about 1.5 % of one it does. This is the fallback
/// where SCHED_IDLE is refused: at nice 19 a runtime thread that wakes may still wait for
/// the hash's slice. (Nice 10 measured worse than 19, ~2.2x against ~1.6x of
/// client_credentials' p99 alone, but with the bench's early starvation check, which
/// overlapped the two loads only in part; not measured again since.)
const HASHING_NICE: i32 = 19;

/// How long a hashing thread waits for the next job before it gives its memory back: a
/// burst of sign-ins has shorter gaps than this; an idle server gets its 19 MiB blocks
/// back a moment after the last sign-in.
const RELEASE_AFTER: Duration = Duration::from_millis(200);

type Job = Box<dyn FnOnce() + Send>;

/// Jobs admitted per hashing thread: the one it runs and the one waiting for it. With
/// one, a thread sat idle from the end of each hash until the runtime had polled the
/// caller (which frees the permit) and the next caller (which queues its job), behind
/// whatever else the runtime had to do: a quarter of the sign-in rate under load.
const JOBS_PER_THREAD: usize = 2;

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    /// [`JOBS_PER_THREAD`] per thread: the queue stays short, a job whose caller gave up
    /// while it waited is skipped, and a caller waiting for a permit costs nothing.
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing was interrupted")]
pub struct HashingInterrupted;

impl PasswordHasher {
    /// A pool of `threads` hashing threads; they exit when the last clone is dropped.
    pub fn new(threads: usize) -> Self {
        Self::releasing_memory(threads, || {})
    }

    /// A pool whose threads call `release` once the sign-ins pause, on a thread that ran
    /// a job: the allocator's way of giving the 19 MiB blocks back to the OS, where they
    /// would otherwise stay resident until that thread's next job. Not after every job:
    /// during a burst the next hash reuses the block instead of faulting 19 MiB in again
    /// (releasing after each one cost a third of the sign-in rate).
    pub fn releasing_memory(threads: usize, release: fn()) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || work(&queue, release));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(threads * JOBS_PER_THREAD)),
            jobs,
        }
    }

    /// One hashing thread per core; see [`PasswordHasher::releasing_memory`].
    pub fn per_core(release: fn()) -> Self {
        Self::releasing_memory(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            release,
        )
    }

    pub async fn hash(
        &self,
        password: Password,
        salt: [u8; 16],
    ) -> Result<PasswordHash, HashingInterrupted> {
        self.run(move || password.hash(salt)).await
    }

    pub async fn verify(
        &self,
        password: Password,
        hash: PasswordHash,
    ) -> Result<bool, HashingInterrupted> {
        self.run(move || password.matches(&hash)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingInterrupted> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashingInterrupted)?;
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The caller may have given up while the job waited: nobody needs the hash.
                if answer.is_closed() {
                    return;
                }
                let _ = answer.send(job());
            }))
            .map_err(|_| HashingInterrupted)?;
        answered.await.map_err(|_| HashingInterrupted)
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until every sender is gone.
/// Once it has been idle for [`RELEASE_AFTER`] after a job, it calls `release`.
fn work(queue: &Mutex<mpsc::Receiver<Job>>, release: fn()) {
    lower_priority();
    let mut holding = false;
    loop {
        // The lock is held only while waiting for the next job, and for at most
        // `RELEASE_AFTER` at a time, so that every idle thread gets its turn to release.
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv_timeout(RELEASE_AFTER),
            Err(_) => return,
        };
        match next {
            // A job that panics drops its answer (the caller sees `HashingInterrupted`)
            // and must not take the thread with it: a pool whose threads all died would
            // leave every later sign-in waiting forever.
            Ok(job) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a password hashing job panicked");
                }
                holding = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if holding {
                    release();
                    holding = false;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        // SCHED_IDLE, for the wake-ups: a runtime thread that wakes takes the core from a
        // SCHED_IDLE thread at once, while at nice 19 it could wait for the hash's slice
        // to end. Bench, SQLite, one core, sign-ins running all along client_credentials'
        // measurement: its p99 1.07x of its p99 alone, the sign-ins getting the gaps (8 %
        // of the argon2id rate while the core is saturated).
        let idle = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        );
        if let Err(error) = idle {
            tracing::warn!(
                ?error,
                "could not put a password hashing thread in SCHED_IDLE"
            );
        }
        // Also nice 19 (which setting SCHED_IDLE reset to 0): where SCHED_IDLE is refused,
        // and for any code that reads the nice value. On Linux the nice value is a thread's
        // own (setpriority(2), BUGS), so this lowers only the calling hashing thread.
        use rustix::process::{getpriority_process, setpriority_process};
        let lowered = getpriority_process(None)
            .and_then(|nice| setpriority_process(None, (nice + HASHING_NICE).min(19)));
        if let Err(error) = lowered {
            tracing::warn!(%error, "could not lower the priority of a password hashing thread");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).expect("a valid password")
    }

    #[tokio::test]
    async fn hashes_and_verifies_on_the_pool() {
        let hasher = PasswordHasher::new(2);
        let right = password("correct horse battery staple");
        let hash = hasher.hash(right.clone(), [7; 16]).await.expect("hashed");
        assert!(hasher.verify(right, hash.clone()).await.expect("ran"));
        let wrong = password("incorrect horse battery staple");
        assert!(!hasher.verify(wrong, hash).await.expect("ran"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_below_the_runtime_priority() {
        let hasher = PasswordHasher::new(1);
        let on_pool = hasher
            .run(|| rustix::process::getpriority_process(None))
            .await
            .expect("ran")
            .expect("read the nice value");
        let here = rustix::process::getpriority_process(None).expect("read the nice value");
        assert_eq!(on_pool, (here + HASHING_NICE).min(19));
        let policy = hasher
            .run(thread_priority::thread_schedule_policy)
            .await
            .expect("ran")
            .expect("read the scheduling policy");
        assert_eq!(
            policy,
            thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle
            )
        );
    }

    #[tokio::test]
    async fn a_job_that_panics_fails_alone_and_the_thread_goes_on() {
        let hasher = PasswordHasher::new(1);
        let failed = hasher
            .run(|| -> u8 { panic!("a hashing job that panics") })
            .await;
        assert!(failed.is_err());
        let right = password("correct horse battery staple");
        let hash = hasher.hash(right.clone(), [1; 16]).await.expect("hashed");
        assert!(hasher.verify(right, hash).await.expect("ran"));
    }

    #[tokio::test]
    async fn the_next_job_waits_queued_and_is_skipped_if_its_caller_gave_up() {
        let hasher = PasswordHasher::new(1);
        let (unblock, blocked) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = oneshot::channel::<()>();
        let running = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .run(move || {
                        let _ = started.send(());
                        blocked.recv().is_ok()
                    })
                    .await
            }
        });
        has_started.await.expect("the first job runs");
        let abandoned_ran = Arc::new(AtomicUsize::new(0));
        let ran = Arc::clone(&abandoned_ran);
        // Queued behind the running job (its permit is free), then given up.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(100),
            hasher.run(move || ran.fetch_add(1, Ordering::SeqCst)),
        )
        .await;
        assert!(gave_up.is_err(), "the thread was busy");
        unblock.send(()).expect("the first job waits");
        assert!(running.await.expect("joined").expect("ran"));
        assert_eq!(hasher.run(|| 7).await.expect("ran"), 7);
        assert_eq!(
            abandoned_ran.load(Ordering::SeqCst),
            0,
            "a job nobody waits for is not run"
        );
    }

    #[tokio::test]
    async fn the_release_runs_once_the_jobs_pause_on_the_thread_that_ran_them() {
        static RELEASED_ON_POOL: AtomicUsize = AtomicUsize::new(0);
        fn release() {
            let name = std::thread::current().name().map(str::to_owned);
            if name.is_some_and(|n| n.starts_with("password-hash-")) {
                RELEASED_ON_POOL.fetch_add(1, Ordering::SeqCst);
            }
        }
        let hasher = PasswordHasher::releasing_memory(1, release);
        let right = password("correct horse battery staple");
        let hash = hasher.hash(right.clone(), [3; 16]).await.expect("hashed");
        assert!(hasher.verify(right, hash).await.expect("ran"));
        assert_eq!(
            RELEASED_ON_POOL.load(Ordering::SeqCst),
            0,
            "not during a burst"
        );
        tokio::time::sleep(RELEASE_AFTER * 3).await;
        assert_eq!(
            RELEASED_ON_POOL.load(Ordering::SeqCst),
            1,
            "once, after the burst"
        );
        tokio::time::sleep(RELEASE_AFTER * 3).await;
        assert_eq!(
            RELEASED_ON_POOL.load(Ordering::SeqCst),
            1,
            "and not again while idle"
        );
    }

    #[tokio::test]
    async fn more_hashes_than_threads_queue_and_all_finish() {
        let hasher = PasswordHasher::new(1);
        let tasks: Vec<_> = (0..4u8)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(async move {
                    hasher
                        .hash(password("correct horse battery staple"), [i; 16])
                        .await
                })
            })
            .collect();
        let mut hashes = Vec::new();
        for task in tasks {
            hashes.push(task.await.expect("joined").expect("hashed"));
        }
        hashes.dedup();
        assert_eq!(hashes.len(), 4, "each salt gives its own hash");
    }
}
