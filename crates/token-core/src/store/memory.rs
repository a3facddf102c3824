//! An in-process store: for tests, and for bots that log in every start.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::owner::{ClaimAttempt, OwnerClaim, OwnerClaims, OwnerInfo};
use super::TokenStore;
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{check_version, StoredRecord};
use crate::sync::lock;

/// Keeps records in memory; nothing survives the process. Maintenance
/// claims ([`OwnerClaims`]) are in-process: two managers over one
/// `MemoryStore` cannot both claim an account.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<AccountKey, StoredRecord>>,
    owners: Arc<Mutex<BTreeMap<AccountKey, OwnerInfo>>>,
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

#[async_trait]
impl OwnerClaims for MemoryStore {
    async fn try_claim(
        &self,
        key: &AccountKey,
        me: &OwnerInfo,
    ) -> Result<ClaimAttempt, StoreError> {
        let mut owners = lock(&self.owners);
        if let Some(holder) = owners.get(key) {
            return Ok(ClaimAttempt::Held {
                holder: Some(holder.clone()),
            });
        }
        owners.insert(key.clone(), me.clone());
        Ok(ClaimAttempt::Claimed(Box::new(MemoryClaim {
            owners: self.owners.clone(),
            key: key.clone(),
        })))
    }
}

/// A held in-process claim; dropping it frees the account.
#[derive(Debug)]
struct MemoryClaim {
    owners: Arc<Mutex<BTreeMap<AccountKey, OwnerInfo>>>,
    key: AccountKey,
}

impl Drop for MemoryClaim {
    fn drop(&mut self) {
        lock(&self.owners).remove(&self.key);
    }
}

#[async_trait]
impl OwnerClaim for MemoryClaim {
    fn key(&self) -> &AccountKey {
        &self.key
    }

    async fn lost(&self) {
        std::future::pending::<()>().await;
    }

    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}
