//! An in-process store: for tests, and for bots that log in every start.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::TokenStore;
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{check_version, StoredRecord};
use crate::sync::lock;

/// Keeps records in memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<AccountKey, StoredRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        Ok(lock(&self.records).get(key).cloned())
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        check_version(&record.key.to_string(), record.schema_version)?;
        lock(&self.records).insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        Ok(lock(&self.records).remove(key).is_some())
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        Ok(lock(&self.records).keys().cloned().collect())
    }
}
