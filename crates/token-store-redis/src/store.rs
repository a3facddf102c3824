//! The store itself: records, index, leases and notifications on Redis.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use token_core::record::check_version;
use token_core::store::Lease;
use token_core::{AccountKey, Clock, StoreError, StoredRecord, TokenStore, SCHEMA_VERSION};
use tokio::sync::{broadcast, watch};

use crate::config::{redacted_url, scrub, RedisStoreBuilder};
use crate::keys::KeySpace;
use crate::lease::{new_owner_id, RedisLease};
use crate::notify::{self, Shared};
use crate::scripts;

/// A [`TokenStore`] on Redis; see the [crate docs](crate). Cheap to clone
/// (clones share the connection and the subscription).
///
/// ```no_run
/// # async fn demo() -> Result<(), token_core::StoreError> {
/// use token_core::TokenStore;
/// let store = token_store_redis::RedisStore::connect("redis://127.0.0.1:6379").await?;
/// for key in store.list().await? {
///     println!("{key}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    keys: KeySpace,
    url: SecretString,
    record_ttl_after_expiry: Option<Duration>,
    clock: Arc<dyn Clock>,
    lease_ttl: Option<Duration>,
    shared: Arc<Shared>,
    /// Dropping it stops the subscription task.
    _stop: watch::Sender<()>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &redacted_url(self.inner.url.expose_secret()))
            .field("prefix", &self.inner.keys.prefix())
            .field("notifications_connected", &self.notifications_connected())
            .finish_non_exhaustive()
    }
}

/// Failures that mean "the connection is gone", worth one immediate retry
/// on the connection manager's fresh connection.
fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

impl RedisStore {
    /// Starts configuring a store for `url` (`redis://[user][:password@]host[:port][/db]`,
    /// `rediss://…` for TLS).
    pub fn builder(url: impl Into<SecretString>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// Connects with the default settings; see [`RedisStoreBuilder`].
    pub async fn connect(url: impl Into<SecretString>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    pub(crate) async fn connect_with(b: RedisStoreBuilder) -> Result<Self, StoreError> {
        let server = redacted_url(b.url.expose_secret());
        let client = redis::Client::open(b.url.expose_secret()).map_err(|e| {
            StoreError::Backend(format!(
                "invalid Redis URL for {server} ({:?}): expected redis://, rediss:// or unix://",
                e.kind()
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(b.connect_timeout))
            .set_response_timeout(Some(b.command_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(
            b.connect_timeout + b.command_timeout,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| {
            StoreError::Backend(format!("cannot connect to Redis at {server}: timed out"))
        })?
        .map_err(|e| {
            StoreError::Backend(scrub(
                format!("cannot connect to Redis at {server}: {e}"),
                &b.url,
            ))
        })?;
        let keys = KeySpace::new(b.prefix.clone());
        let shared = Shared::new();
        let (stop, stopped) = watch::channel(());
        let settings = notify::Settings {
            channel: keys.channel(),
            reload_interval: b.reload_interval,
            backoff_min: b.reconnect_min,
            backoff_max: b.reconnect_max,
            connect_timeout: b.connect_timeout,
        };
        notify::start(client, settings, shared.clone(), stopped)
            .await
            .map_err(|e| {
                StoreError::Backend(scrub(
                    format!("cannot subscribe to Redis notifications at {server}: {e}"),
                    &b.url,
                ))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                keys,
                url: b.url,
                record_ttl_after_expiry: b.record_ttl_after_expiry,
                clock: b.clock,
                lease_ttl: b.lease_ttl,
                shared,
                _stop: stop,
            }),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.inner.keys.prefix()
    }

    /// The Redis key that holds `key`'s record (for operators and tests).
    pub fn record_key(&self, key: &AccountKey) -> String {
        self.inner.keys.record(key)
    }

    /// The Redis key of `key`'s renewal lease.
    pub fn lease_key(&self, key: &AccountKey) -> String {
        self.inner.keys.lease(key)
    }

    /// Whether the change subscription is up right now.
    pub fn notifications_connected(&self) -> bool {
        self.inner.shared.is_connected()
    }

    /// How many times the change subscription was established (1 after
    /// connecting; each re-subscription after a loss adds one).
    pub fn subscriptions(&self) -> u64 {
        self.inner.shared.subscriptions()
    }

    /// How many synthetic notifications (one per known account, after a
    /// subscription loss or at the fallback interval) were sent.
    pub fn synthetic_notifications(&self) -> u64 {
        self.inner.shared.synthetic()
    }

    fn error(&self, op: &str, e: redis::RedisError) -> StoreError {
        StoreError::Backend(scrub(format!("redis {op} failed: {e}"), &self.inner.url))
    }

    /// Runs `f` on the connection; when the connection was lost, tries
    /// twice more after short pauses (the connection manager reconnects in
    /// between), so the first command after Redis returns does not fail.
    pub(crate) async fn run<T, F, Fut>(&self, op: &str, f: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut attempt = 0;
        loop {
            match f(self.inner.conn.clone()).await {
                Err(e) if is_connection_error(&e) && attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                other => return other.map_err(|e| self.error(op, e)),
            }
        }
    }

    /// The key names.
    pub(crate) fn keys(&self) -> &KeySpace {
        &self.inner.keys
    }

    /// The clock TTLs are computed on.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Takes the lease held in `redis_key` for `key`: `SET … NX PX ttl`,
    /// polled in token-core's lease-wait loop until `wait` has passed.
    pub(crate) async fn lease_at(
        &self,
        redis_key: String,
        key: &AccountKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Box<dyn Lease>, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let owner = new_owner_id();
        token_core::manager::wait_for_lease(key, wait, || {
            let (redis_key, owner) = (redis_key.clone(), owner.clone());
            async move {
                // Idempotent: if a lost reply hid our own success, the retry
                // finds our owner id and still counts it as taken.
                let taken: i64 = self
                    .run("lease", |mut c| {
                        let mut inv = scripts::ACQUIRE.prepare_invoke();
                        inv.key(&redis_key).arg(&owner).arg(ttl_ms);
                        async move { inv.invoke_async(&mut c).await }
                    })
                    .await?;
                Ok((taken == 1).then(|| {
                    Box::new(RedisLease {
                        conn: self.inner.conn.clone(),
                        redis_key,
                        owner,
                        account: key.clone(),
                    }) as Box<dyn Lease>
                }))
            }
        })
        .await
    }

    /// Milliseconds Redis should keep `record`, or 0 for no TTL.
    fn ttl_millis(&self, record: &StoredRecord) -> u64 {
        let Some(grace) = self.inner.record_ttl_after_expiry else {
            return 0;
        };
        let hard = [record.meta.expires_at, record.meta.refresh_expires_at]
            .into_iter()
            .flatten()
            .max();
        let Some(hard) = hard else { return 0 };
        let left = (hard - self.inner.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let ttl = (left + grace).max(grace);
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

fn parse(location: &str, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    token_core::record::parse_versioned(location, bytes)
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        let redis_key = self.inner.keys.record(key);
        let bytes: Option<Vec<u8>> = self
            .run("GET", |mut c| {
                let redis_key = redis_key.clone();
                async move { redis::cmd("GET").arg(redis_key).query_async(&mut c).await }
            })
            .await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let location = format!("redis key {redis_key}");
        let record = parse(&location, &bytes)?;
        if &record.key != key {
            return Err(StoreError::Corrupt {
                location,
                detail: format!("key holds the record of {}", record.key),
            });
        }
        self.inner.shared.remember(key);
        Ok(Some(record))
    }

    /// One Lua script: refuses to replace a record it cannot read
    /// ([`StoreError::WouldOverwrite`]), writes the new one (with its TTL),
    /// indexes it and publishes the account key.
    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let redis_key = self.inner.keys.record(&record.key);
        let location = format!("redis key {redis_key}");
        check_version(&location, record.schema_version)?;
        let json = serde_json::to_vec(record).map_err(|e| {
            StoreError::Payload(format!("cannot encode record: {:?}", e.classify()))
        })?;
        let ttl = self.ttl_millis(record);
        let member = record.key.to_string();
        let index = self.inner.keys.index();
        let channel = self.inner.keys.channel();
        let outcome: String = self
            .run("save", |mut c| {
                let mut inv = scripts::SAVE.prepare_invoke();
                inv.key(&redis_key)
                    .key(&index)
                    .arg(&json[..])
                    .arg(SCHEMA_VERSION)
                    .arg(ttl)
                    .arg(&member)
                    .arg(&channel);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        self.inner.shared.remember(&record.key);
        match outcome.as_str() {
            "ok" => Ok(()),
            "corrupt" => Err(StoreError::WouldOverwrite {
                location,
                reason: "the stored record is not valid JSON".into(),
            }),
            other => Err(StoreError::WouldOverwrite {
                location,
                reason: format!(
                    "the stored record has schema version {}; this library supports {SCHEMA_VERSION}",
                    other.trim_start_matches("version:")
                ),
            }),
        }
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let redis_key = self.inner.keys.record(key);
        let index = self.inner.keys.index();
        let channel = self.inner.keys.channel();
        let member = key.to_string();
        let n: i64 = self
            .run("delete", |mut c| {
                let mut inv = scripts::DELETE.prepare_invoke();
                inv.key(&redis_key).key(&index).arg(&member).arg(&channel);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        Ok(n > 0)
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        let index = self.inner.keys.index();
        let record_prefix = self.inner.keys.record_prefix();
        let members: Vec<String> = self
            .run("list", |mut c| {
                let mut inv = scripts::LIST.prepare_invoke();
                inv.key(&index).arg(&record_prefix);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        let mut keys: Vec<AccountKey> = members
            .iter()
            .filter_map(|m| m.parse::<AccountKey>().ok())
            .collect();
        keys.sort();
        for key in &keys {
            self.inner.shared.remember(key);
        }
        Ok(keys)
    }

    /// `SET {prefix}:lease:{account} {owner} NX PX {ttl}`, polled in
    /// token-core's lease-wait loop (`wait_for_lease`) until `wait` has passed. The TTL is
    /// the manager's unless [`RedisStoreBuilder::lease_ttl`] overrides it.
    async fn lease(
        &self,
        key: &AccountKey,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let ttl = self.inner.lease_ttl.unwrap_or(ttl);
        self.lease_at(self.inner.keys.lease(key), key, ttl, wait)
            .await
            .map(Some)
    }

    fn changes(&self) -> Option<broadcast::Receiver<AccountKey>> {
        Some(self.inner.shared.sender.subscribe())
    }
}
