//! Maintenance claims on Redis: `SET owner value NX PX ttl`, a heartbeat
//! that extends it (compare-and-`PEXPIRE`) every third of the TTL, and a
//! compare-and-delete release, so one daemon maintains an account and a
//! standby takes over within the TTL after the owner died.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use token_core::store::{ClaimAttempt, OwnerClaim, OwnerClaims, OwnerInfo};
use token_core::{AccountKey, StoreError};
use tokio::sync::watch;

use crate::lease::new_owner_id;
use crate::scripts;
use crate::store::RedisStore;

/// The claim key's value: who holds it, plus a unique id so that two
/// claims by one process never match.
#[derive(Serialize, Deserialize)]
struct Value {
    id: String,
    #[serde(flatten)]
    owner: OwnerInfo,
}

#[async_trait]
impl OwnerClaims for RedisStore {
    /// `SET {prefix}:owner:{account} {owner} NX PX {owner_ttl}`; while held,
    /// a heartbeat extends it (see [`RedisStoreBuilder::owner_ttl`](crate::RedisStoreBuilder::owner_ttl)).
    async fn try_claim(
        &self,
        key: &AccountKey,
        me: &OwnerInfo,
    ) -> Result<ClaimAttempt, StoreError> {
        let ttl = self.inner.owner_ttl;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let redis_key = self.inner.keys.owner(key);
        let value = serde_json::to_string(&Value {
            id: new_owner_id(),
            owner: me.clone(),
        })
        .map_err(|e| StoreError::Payload(format!("cannot encode the owner: {e}")))?;
        let taken: i64 = self
            .run("claim", |mut c| {
                let mut inv = scripts::ACQUIRE.prepare_invoke();
                inv.key(&redis_key).arg(&value).arg(ttl_ms);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        if taken == 1 {
            let conn = self.inner.conn.clone();
            let (lost_tx, lost) = watch::channel(false);
            let heartbeat = tokio::spawn(heartbeat(
                conn.clone(),
                redis_key.clone(),
                value.clone(),
                key.clone(),
                ttl,
                lost_tx,
            ));
            return Ok(ClaimAttempt::Claimed(Box::new(RedisOwnerClaim {
                conn,
                redis_key,
                value,
                account: key.clone(),
                lost,
                heartbeat,
                released: false,
            })));
        }
        let held: Option<String> = self
            .run("GET", |mut c| {
                let redis_key = redis_key.clone();
                async move { redis::cmd("GET").arg(redis_key).query_async(&mut c).await }
            })
            .await?;
        let holder = held
            .and_then(|v| serde_json::from_str::<Value>(&v).ok())
            .map(|v| v.owner);
        Ok(ClaimAttempt::Held { holder })
    }
}

/// Extends the claim every third of `ttl`; marks it lost when the key no
/// longer carries `value` (it expired and someone else took it) or when no
/// extension succeeded for `ttl` (Redis unreachable: the key may have
/// expired meanwhile).
async fn heartbeat(
    mut conn: ConnectionManager,
    redis_key: String,
    value: String,
    account: AccountKey,
    ttl: Duration,
    lost: watch::Sender<bool>,
) {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(ttl / 3).await;
        let extended: Result<i64, _> = scripts::EXTEND
            .key(&redis_key)
            .arg(&value)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await;
        match extended {
            Ok(1) => last_ok = tokio::time::Instant::now(),
            Ok(_) => {
                tracing::error!(%account, "the maintenance claim was taken over by another process: stopping maintenance here");
                let _ = lost.send(true);
                return;
            }
            Err(e) if last_ok.elapsed() >= ttl => {
                tracing::error!(%account, error = %e, "cannot extend the maintenance claim for longer than its TTL: another process may own the account now; stopping maintenance here");
                let _ = lost.send(true);
                return;
            }
            Err(e) => {
                tracing::warn!(%account, error = %e, "cannot extend the maintenance claim; retrying")
            }
        }
    }
}

/// A held maintenance claim on Redis, kept alive by its heartbeat until
/// released or dropped (dropping releases it in the background when a
/// runtime is running, else it expires after its TTL).
pub struct RedisOwnerClaim {
    conn: ConnectionManager,
    redis_key: String,
    value: String,
    account: AccountKey,
    lost: watch::Receiver<bool>,
    heartbeat: tokio::task::JoinHandle<()>,
    released: bool,
}

impl fmt::Debug for RedisOwnerClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOwnerClaim")
            .field("account", &self.account)
            .field("key", &self.redis_key)
            .finish_non_exhaustive()
    }
}

async fn release(
    mut conn: ConnectionManager,
    redis_key: &str,
    value: &str,
) -> Result<(), StoreError> {
    let _: i64 = scripts::RELEASE
        .key(redis_key)
        .arg(value)
        .invoke_async(&mut conn)
        .await
        .map_err(|e| StoreError::Backend(format!("redis claim release failed: {e}")))?;
    Ok(())
}

impl Drop for RedisOwnerClaim {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (conn, key, value) = (
                self.conn.clone(),
                self.redis_key.clone(),
                self.value.clone(),
            );
            rt.spawn(async move {
                let _ = release(conn, &key, &value).await;
            });
        }
    }
}

#[async_trait]
impl OwnerClaim for RedisOwnerClaim {
    fn key(&self) -> &AccountKey {
        &self.account
    }

    async fn lost(&self) {
        let mut lost = self.lost.clone();
        if lost.wait_for(|l| *l).await.is_err() {
            // The heartbeat ended without saying lost (aborted): never lost.
            std::future::pending::<()>().await;
        }
    }

    /// Deletes the key only if it still carries this claim.
    async fn release(mut self: Box<Self>) -> Result<(), StoreError> {
        self.heartbeat.abort();
        self.released = true;
        release(self.conn.clone(), &self.redis_key, &self.value).await
    }
}
