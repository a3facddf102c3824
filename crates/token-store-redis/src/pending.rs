//! The pending login of each account, in Redis beside its record, so every
//! replica and tool sees (and can finish) the same login request.

use std::time::Duration;

use async_trait::async_trait;
use token_core::store::{Lease, PendingLogins};
use token_core::{AccountKey, AuthorizationRequest, StoreError};

use crate::store::RedisStore;

/// How long Redis keeps a request past its expiry (so "that URL expired"
/// can still be told), or keeps one that states no expiry.
const KEEP_AFTER_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a crashed holder's "start a login" lock can block the others.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// [`PendingLogins`] at `{prefix}:login:{account}` (JSON, with the
/// request's secrets, protected like the records: by the Redis ACL and the
/// URL's credentials); starting a login is serialized by a lease at
/// `{prefix}:login-lock:{account}`. Made by [`RedisStore::pending_logins`].
#[derive(Debug, Clone)]
pub struct RedisPendingLogins {
    store: RedisStore,
}

impl RedisStore {
    /// The pending logins kept beside this store's records (sharing its
    /// connection and prefix).
    pub fn pending_logins(&self) -> RedisPendingLogins {
        RedisPendingLogins {
            store: self.clone(),
        }
    }
}

#[async_trait]
impl PendingLogins for RedisPendingLogins {
    async fn load(&self, key: &AccountKey) -> Result<Option<AuthorizationRequest>, StoreError> {
        let redis_key = self.store.keys().login(key);
        let bytes: Option<Vec<u8>> = self
            .store
            .run("GET", |mut c| {
                let redis_key = redis_key.clone();
                async move { redis::cmd("GET").arg(redis_key).query_async(&mut c).await }
            })
            .await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let location = format!("redis key {redis_key}");
        let request: AuthorizationRequest = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::corrupt_json(location.clone(), &e))?;
        if request.key != *key {
            return Err(StoreError::Corrupt {
                location,
                detail: format!("key holds the pending login of {}", request.key),
            });
        }
        Ok(Some(request))
    }

    async fn save(&self, request: &AuthorizationRequest) -> Result<(), StoreError> {
        let redis_key = self.store.keys().login(&request.key);
        let json = serde_json::to_vec(request).map_err(|e| {
            StoreError::Payload(format!(
                "cannot encode the pending login: {:?}",
                e.classify()
            ))
        })?;
        let left = request
            .expires_at
            .and_then(|at| (at - self.store.clock().now()).to_std().ok())
            .unwrap_or(Duration::ZERO);
        let ttl_ms = u64::try_from((left + KEEP_AFTER_EXPIRY).as_millis()).unwrap_or(u64::MAX);
        self.store
            .run("SET", |mut c| {
                let (redis_key, json) = (redis_key.clone(), json.clone());
                async move {
                    redis::cmd("SET")
                        .arg(redis_key)
                        .arg(json)
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async::<()>(&mut c)
                        .await
                }
            })
            .await
    }

    async fn remove(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let redis_key = self.store.keys().login(key);
        let n: i64 = self
            .store
            .run("DEL", |mut c| {
                let redis_key = redis_key.clone();
                async move { redis::cmd("DEL").arg(redis_key).query_async(&mut c).await }
            })
            .await?;
        Ok(n > 0)
    }

    async fn lock(
        &self,
        key: &AccountKey,
        wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let redis_key = self.store.keys().login_lock(key);
        self.store
            .lease_at(redis_key, key, LOCK_TTL, wait)
            .await
            .map(Some)
    }
}
