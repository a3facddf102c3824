//! A [`TokenStore`](token_core::TokenStore) on Redis, for several replicas of
//! one bot that must share one broker session.
//!
//! - **Records** live under a configurable key prefix, one JSON string per
//!   account, written by one Lua script (so a reader sees the old record or
//!   the new one, never half of one), optionally with a server-side TTL past
//!   the record's hard expiry.
//! - **Renewal leases** (`SET lease owner NX PX ttl`, released by a
//!   compare-and-delete Lua script): one replica renews, the others wait and
//!   then find the renewed record when the manager re-reads the store. A
//!   crashed holder's lease simply runs out.
//! - **Change notifications** over Redis pub/sub: every save and delete
//!   publishes the account key, and [`TokenStore::changes`](token_core::TokenStore::changes)
//!   hands them to managers, whose maintenance loop reloads. When the
//!   subscription drops, it is re-established with backoff and every known
//!   account is announced (so managers reload whatever they missed), and
//!   while it stays down every known account is announced at a bounded
//!   interval.
//! - **Pending logins** ([`RedisPendingLogins`], from
//!   [`RedisStore::pending_logins`]): the one login in progress per account,
//!   at `{prefix}:login:{account}`, shared by every replica and tool.
//! - **Connection loss**: commands fail fast with
//!   [`StoreError::Backend`](token_core::StoreError::Backend); the manager keeps serving
//!   its still-valid token, retries with backoff and reports degraded health;
//!   the connection is re-established when Redis returns.
//! - **Credentials** come from the URL: `redis://user:password@host:6379/0`
//!   (ACL user, or `redis://:password@host` for `requirepass`), and
//!   `rediss://…` for TLS (feature `tls`, on by default). The URL is a
//!   secret: it never appears in `Debug` or errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), token_core::StoreError> {
//! use std::sync::Arc;
//! use token_store_redis::RedisStore;
//!
//! let store = RedisStore::builder("redis://bot:s3cret@127.0.0.1:6379/0")
//!     .prefix("mybot:tokens")
//!     .record_ttl_after_expiry(Some(std::time::Duration::from_secs(24 * 3600)))
//!     .connect()
//!     .await?;
//! let store: Arc<dyn token_core::TokenStore> = Arc::new(store);
//! // Give `store` to each TokenManager; every replica connects its own.
//! # let _ = store; Ok(()) }
//! ```

mod config;
mod keys;
mod lease;
mod notify;
mod pending;
mod scripts;
mod store;

pub use config::RedisStoreBuilder;
pub use lease::RedisLease;
pub use pending::RedisPendingLogins;
pub use store::RedisStore;
