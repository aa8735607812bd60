//! Password hashing off the async runtime, with bounded concurrency: argon2id costs
//! 19 MiB and tens of milliseconds per hash, so a burst of sign-ins must queue here
//! rather than starve every other request of worker threads or memory.

use std::sync::Arc;

use keyhaven_core::password::{Password, PasswordHash};
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing was interrupted")]
pub struct HashingInterrupted;

impl PasswordHasher {
    /// At most `concurrency` hashes run at once; the rest wait their turn.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// One hash per core leaves the cores busy but the runtime responsive.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    pub async fn hash(
        &self,
        password: Password,
        salt: [u8; 16],
    ) -> Result<PasswordHash, HashingInterrupted> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashingInterrupted)?;
        tokio::task::spawn_blocking(move || password.hash(salt))
            .await
            .map_err(|_| HashingInterrupted)
    }

    pub async fn verify(
        &self,
        password: Password,
        hash: PasswordHash,
    ) -> Result<bool, HashingInterrupted> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashingInterrupted)?;
        tokio::task::spawn_blocking(move || password.matches(&hash))
            .await
            .map_err(|_| HashingInterrupted)
    }
}
