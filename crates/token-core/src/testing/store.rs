use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::StoredRecord;
use crate::store::{Lease, MemoryStore, TokenStore};
use crate::sync::lock;

/// A [`MemoryStore`] that misbehaves on demand, for testing what a manager
/// (or your bot) does when the store fails: failing or slow saves, failing
/// deletes, a busy renewal lease, and change announcements like a shared
/// store's (e.g. Redis pub/sub).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use token_core::testing::FaultyStore;
/// let store = FaultyStore::new();
/// store.fail_saves(2); // the next two saves fail with a backend error
/// # }
/// ```
#[derive(Debug, Default)]
pub struct FaultyStore {
    inner: MemoryStore,
    save_failures: AtomicU32,
    save_delay: Mutex<Option<Duration>>,
    fail_deletes: AtomicBool,
    lease_busy: AtomicBool,
    announce: Mutex<Option<broadcast::Sender<AccountKey>>>,
}

impl FaultyStore {
    /// A store that behaves until told otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` saves fail with a backend error ("disk full").
    pub fn fail_saves(&self, n: u32) {
        self.save_failures.store(n, Ordering::SeqCst);
    }

    /// Every save first waits this long (real time; keep it to a few ms).
    pub fn slow_saves(&self, delay: Option<Duration>) {
        *lock(&self.save_delay) = delay;
    }

    /// Deletes fail with a backend error while `on`.
    pub fn fail_deletes(&self, on: bool) {
        self.fail_deletes.store(on, Ordering::SeqCst);
    }

    /// The renewal lease is held by "another process" while `on`.
    pub fn lease_busy(&self, on: bool) {
        self.lease_busy.store(on, Ordering::SeqCst);
    }

    /// Announces every save through [`TokenStore::changes`] from now on.
    pub fn announce_changes(&self) {
        lock(&self.announce).get_or_insert_with(|| broadcast::channel(64).0);
    }

    /// The records as stored, bypassing the faults.
    pub fn inner(&self) -> &MemoryStore {
        &self.inner
    }
}

#[async_trait]
impl TokenStore for FaultyStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        self.inner.load(key).await
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let delay = *lock(&self.save_delay);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if self
            .save_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Backend("disk full".into()));
        }
        self.inner.save(record).await?;
        if let Some(tx) = lock(&self.announce).as_ref() {
            let _ = tx.send(record.key.clone());
        }
        Ok(())
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        if self.fail_deletes.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("read-only file system".into()));
        }
        self.inner.delete(key).await
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.inner.list().await
    }

    async fn lease(
        &self,
        key: &AccountKey,
        _ttl: Duration,
        _wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        if self.lease_busy.load(Ordering::SeqCst) {
            return Err(StoreError::LeaseBusy {
                key: key.to_string(),
            });
        }
        Ok(None)
    }

    fn changes(&self) -> Option<broadcast::Receiver<AccountKey>> {
        lock(&self.announce).as_ref().map(|tx| tx.subscribe())
    }
}
