//! The per-account renewal lease: `SET lease owner NX PX ttl`, released by a
//! compare-and-delete script so a replica never frees another's lease.

use std::fmt;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use token_core::store::Lease;
use token_core::{AccountKey, StoreError};

use crate::scripts;

/// A held renewal lease on one account. Dropping it without
/// [`Lease::release`] leaves it to expire after its TTL (as when the holder
/// crashes).
pub struct RedisLease {
    pub(crate) conn: ConnectionManager,
    pub(crate) redis_key: String,
    pub(crate) owner: String,
    pub(crate) account: AccountKey,
}

impl fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLease")
            .field("account", &self.account)
            .field("owner", &self.owner)
            .finish()
    }
}

impl RedisLease {
    /// The unique owner id written into the lease key (process id plus 128
    /// random bits).
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

#[async_trait]
impl Lease for RedisLease {
    /// Deletes the lease only if it still carries this owner id: after it
    /// expired and another replica took it, releasing does nothing.
    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let released: i64 = scripts::RELEASE
            .key(&self.redis_key)
            .arg(&self.owner)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| StoreError::Backend(format!("redis lease release failed: {e}")))?;
        if released == 0 {
            tracing::warn!(account = %self.account, "renewal lease had expired before release; another replica may hold it now");
        }
        Ok(())
    }
}

/// A fresh owner id: unique across processes and hosts in practice.
pub(crate) fn new_owner_id() -> String {
    format!("{}-{:032x}", std::process::id(), rand::random::<u128>())
}
