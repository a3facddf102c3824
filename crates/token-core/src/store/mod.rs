//! Where records live between runs.
//!
//! Every backend implements the small [`TokenStore`] trait over
//! [`StoredRecord`]s and must pass the shared conformance suite
//! (`token_core::testing::store_conformance`, feature `testing`).
//! Saves are atomic: a reader sees the old record or the new one, never a mix.
//!
//! The file-based stores refuse a directory that group or others can write,
//! never open a file through a symbolic link, and remove temp files that
//! killed writers left behind (see `tempfiles.rs` for why that is safe with
//! writers in other processes).

pub mod dotenv;
mod envclaims;
mod envfile;
mod envmapping;
mod file;
pub(crate) mod fsutil;
mod lockfile;
mod memory;
mod pending;
mod tempfiles;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::key::AccountKey;
use crate::record::{Payload, Record, StoredRecord};

pub use crate::error::StoreError;
pub use envfile::EnvFileStore;
pub use envmapping::EnvMapping;
pub use file::FileStore;
pub use fsutil::{read_private_file, write_private_file};
pub use memory::MemoryStore;
pub use pending::{DirPendingLogins, MemoryPendingLogins, PendingLogins};

/// Persists one record per account.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The record for `key`, or `None` when there is none.
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError>;

    /// Replaces the record for `record.key`, atomically.
    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError>;

    /// Removes the record; `true` if there was one.
    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError>;

    /// Every account with a record.
    async fn list(&self) -> Result<Vec<AccountKey>, StoreError>;

    /// Takes the renewal lease for `key`, shared by every process using this
    /// store, so that several processes renew an account once, not once each.
    /// Waits up to `wait` for another holder; then fails with
    /// [`StoreError::LeaseBusy`]. A lease whose holder dies must not block
    /// forever (it expires after `ttl`, or the OS drops it with the process).
    ///
    /// `Ok(None)`: this store is not shared between processes (the default).
    async fn lease(
        &self,
        key: &AccountKey,
        ttl: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let _ = (key, ttl, wait);
        Ok(None)
    }

    /// Notifications that a record was changed, possibly by another process
    /// (e.g. Redis pub/sub), so managers reload promptly instead of polling.
    /// `None` (the default): this store does not notify.
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<AccountKey>> {
        None
    }
}

/// A held renewal lease; see [`TokenStore::lease`]. Dropping it without
/// [`Lease::release`] must still release it eventually (e.g. via its TTL).
#[async_trait]
pub trait Lease: Send + Sync + fmt::Debug {
    /// Releases the lease if this process still holds it.
    async fn release(self: Box<Self>) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        (**self).load(key).await
    }
    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        (**self).save(record).await
    }
    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        (**self).delete(key).await
    }
    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        (**self).list().await
    }
    async fn lease(
        &self,
        key: &AccountKey,
        ttl: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        (**self).lease(key, ttl, wait).await
    }
    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<AccountKey>> {
        (**self).changes()
    }
}

/// Typed conveniences over any store.
#[async_trait]
pub trait TokenStoreExt: TokenStore {
    /// Loads and converts to a typed record.
    async fn load_typed<P: Payload>(
        &self,
        key: &AccountKey,
    ) -> Result<Option<Record<P>>, StoreError> {
        match self.load(key).await? {
            Some(stored) => Record::from_stored(stored).map(Some),
            None => Ok(None),
        }
    }

    /// Converts and saves a typed record.
    async fn save_typed<P: Payload>(&self, record: &Record<P>) -> Result<(), StoreError> {
        self.save(&record.to_stored()?).await
    }
}

impl<T: TokenStore + ?Sized> TokenStoreExt for T {}
