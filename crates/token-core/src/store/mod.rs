//! Where records live between runs.
//!
//! Every backend implements the small [`TokenStore`] trait over
//! [`StoredRecord`]s and must pass the shared conformance suite
//! (`token_core::testing::store_conformance`, feature `testing`).
//! Saves are atomic: a reader sees the old record or the new one, never a mix.

pub mod dotenv;
mod envfile;
mod file;
pub(crate) mod fsutil;
mod memory;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::key::AccountKey;
use crate::record::{Payload, Record, StoredRecord};

pub use crate::error::StoreError;
pub use envfile::{EnvFileStore, EnvMapping};
pub use file::FileStore;
pub use memory::MemoryStore;

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
