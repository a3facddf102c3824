//! [`ManagerBuilder`]: a [`TokenManager`] in a few lines, with defaults.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::manager::{ManagerConfig, TokenManager};
use crate::policy::{ExpiryPolicy, ExplicitExpiry};
use crate::provider::TokenProvider;
use crate::record::Payload;
use crate::store::{FileStore, MemoryPendingLogins, MemoryStore, PendingLogins, TokenStore};

/// Builds a [`TokenManager`]. Unless told otherwise it keeps tokens in
/// memory ([`MemoryStore`]), reads the [`SystemClock`], trusts the expiry
/// the broker states ([`ExplicitExpiry`]) and uses
/// [`ManagerConfig::default`]. A broker bundle's
/// [`Broker::manager`](crate::Broker::manager) starts from the broker's own
/// policy and manager settings instead.
///
/// ```
/// use std::sync::Arc;
/// use token_core::{AccountKey, Capabilities, Environment, TokenManager, TokenProvider};
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Creds;
/// #[derive(Debug)]
/// struct Acme;
/// impl TokenProvider<Creds> for Acme {
///     fn broker(&self) -> &str { "acme" }
///     fn capabilities(&self) -> Capabilities { Capabilities::ALL }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = AccountKey::new("acme", Environment::Production, "main")?;
/// let dir = tempfile::tempdir()?;
/// let manager = TokenManager::builder(key, Arc::new(Acme))
///     .file_store(dir.path())?
///     .build();
/// assert!(manager.current().is_none());
/// # Ok(()) }
/// ```
#[must_use = "call .build() to get the manager"]
pub struct ManagerBuilder<P: Payload> {
    key: AccountKey,
    provider: Arc<dyn TokenProvider<P>>,
    store: Option<Arc<dyn TokenStore>>,
    policy: Option<Arc<dyn ExpiryPolicy>>,
    clock: Option<Arc<dyn Clock>>,
    config: Option<ManagerConfig>,
    pending: Option<Arc<dyn PendingLogins>>,
}

impl<P: Payload> std::fmt::Debug for ManagerBuilder<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("key", &self.key)
            .field("broker", &self.provider.broker())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<P: Payload> TokenManager<P> {
    /// A [`ManagerBuilder`] for `key` over `provider`.
    pub fn builder(key: AccountKey, provider: Arc<dyn TokenProvider<P>>) -> ManagerBuilder<P> {
        ManagerBuilder::new(key, provider)
    }
}

impl<P: Payload> ManagerBuilder<P> {
    /// A builder for `key` over `provider`, every other part defaulted.
    pub fn new(key: AccountKey, provider: Arc<dyn TokenProvider<P>>) -> Self {
        Self {
            key,
            provider,
            store: None,
            policy: None,
            clock: None,
            config: None,
            pending: None,
        }
    }

    /// Keeps tokens in `store`.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps tokens in a [`FileStore`] in `dir` (created if missing).
    pub fn file_store(self, dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = FileStore::open(dir)?;
        Ok(self.store(Arc::new(store)))
    }

    /// Decides freshness with `policy`.
    pub fn policy(mut self, policy: Arc<dyn ExpiryPolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Reads time from `clock` (e.g. a `ManualClock` in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Shares the pending login through `pending` (default: this process
    /// only, [`MemoryPendingLogins`]), so a login started by one process
    /// (a daemon's alert) can be finished by another (`tokenctl login`).
    pub fn pending_logins(mut self, pending: Arc<dyn PendingLogins>) -> Self {
        self.pending = Some(pending);
        self
    }

    /// Uses `config` (schedule, warnings, retries).
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Changes the manager settings in place, keeping the rest (e.g. a
    /// bundle's schedule while shortening its expiry warning).
    pub fn configure(mut self, edit: impl FnOnce(&mut ManagerConfig)) -> Self {
        let mut config = self.config.take().unwrap_or_default();
        edit(&mut config);
        self.config = Some(config);
        self
    }

    /// The manager.
    pub fn build(self) -> TokenManager<P> {
        TokenManager::with_pending_logins(
            self.key,
            self.provider,
            self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
            self.policy.unwrap_or_else(|| Arc::new(ExplicitExpiry)),
            self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            self.config.unwrap_or_default(),
            self.pending
                .unwrap_or_else(|| Arc::new(MemoryPendingLogins::new())),
        )
    }
}
