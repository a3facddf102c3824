//! Turning configured accounts into token managers.

use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;
use token_core::store::PendingLogins;
use token_core::{
    BuildContext, BuildError, Clock, ManagedAccount, Payload, StoreError, TokenManager, TokenStore,
};

use crate::config::{AccountConfig, ConfigError};

/// Errors building an account.
#[derive(Debug, Error)]
pub enum AccountError {
    /// A setting is missing.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store directory cannot be opened.
    #[error("account {account}: cannot open the token store: {source}")]
    Store {
        /// The account.
        account: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// A secret cannot be read, or the adapter refused the settings (e.g. a
    /// plain-HTTP production URL).
    #[error("account {account}: {source}")]
    Build {
        /// The account.
        account: String,
        /// Why.
        #[source]
        source: BuildError,
    },
}

/// Whether the account will talk to its broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// With the real provider: secrets are read.
    Online,
    /// Store and policy only (e.g. `status`): no secrets needed, no calls made.
    Offline,
}

/// A configured account, ready to use, whatever its broker.
#[derive(Clone)]
pub struct Account {
    managed: Arc<dyn ManagedAccount>,
    loader: Arc<dyn Load>,
    redirect_uri: Option<String>,
    store: Option<Arc<dyn TokenStore>>,
    proxy: Option<Arc<dyn crate::proxy::ProxyTarget>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("key", self.managed.key())
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

#[async_trait]
trait Load: Send + Sync {
    async fn load(&self) -> Result<bool, token_core::Error>;
    async fn reload_if_newer(&self) -> Result<bool, token_core::Error>;
}

#[async_trait]
impl<P: Payload> Load for TokenManager<P> {
    async fn load(&self) -> Result<bool, token_core::Error> {
        TokenManager::load(self).await
    }
    async fn reload_if_newer(&self) -> Result<bool, token_core::Error> {
        TokenManager::reload_if_newer(self).await
    }
}

impl Account {
    /// Wraps `manager`; `redirect_uri` is where its login ends, when a
    /// loopback listener can capture it.
    pub fn new<P: Payload>(manager: TokenManager<P>, redirect_uri: Option<String>) -> Self {
        Self {
            managed: Arc::new(manager.clone()),
            loader: Arc::new(manager),
            redirect_uri,
            store: None,
            proxy: None,
        }
    }

    /// Remembers how the local proxy forwards for the account.
    pub fn with_proxy(mut self, target: Arc<dyn crate::proxy::ProxyTarget>) -> Self {
        self.proxy = Some(target);
        self
    }

    /// How the local proxy forwards for the account; `None` offline or when
    /// its broker has no proxy support.
    pub fn proxy_target(&self) -> Option<Arc<dyn crate::proxy::ProxyTarget>> {
        self.proxy.clone()
    }

    /// Remembers the store the account was built over (sinks read it).
    pub fn with_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The store the account was built over, when known.
    pub fn store(&self) -> Option<Arc<dyn TokenStore>> {
        self.store.clone()
    }

    /// Builds the account's manager over its directory or `.env` store, on
    /// `clock`, with its broker's provider and defaults. A Redis store needs
    /// a connection: use [`Account::open`].
    pub fn build(
        cfg: &AccountConfig,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Result<Self, AccountError> {
        let opened = crate::stores::open_local(cfg)
            .and_then(|store| Ok((store, crate::stores::local_pending_logins(cfg)?)));
        let (store, pending) = opened.map_err(|source| AccountError::Store {
            account: cfg.key.to_string(),
            source,
        })?;
        Self::build_over(cfg, clock, mode, store, pending)
    }

    /// Like [`Account::build`], for every kind of store (connects to Redis).
    pub async fn open(
        cfg: &AccountConfig,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Result<Self, AccountError> {
        let (store, pending) = crate::stores::open_with_pending(cfg, clock.clone())
            .await
            .map_err(|source| AccountError::Store {
                account: cfg.key.to_string(),
                source,
            })?;
        Self::build_over(cfg, clock, mode, store, pending)
    }

    /// [`Account::open`], then loads the stored token, logging (not failing)
    /// when the store is empty or unreadable: `run` and `exec` start either way.
    pub async fn open_and_load(
        cfg: &AccountConfig,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Result<Self, AccountError> {
        let acct = Self::open(cfg, clock, mode).await?;
        let name = cfg.key.to_string();
        match acct.load().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(account = %name, "no token in the store: run `tokenctl login`")
            }
            Err(e) => tracing::error!(account = %name, error = %e, "cannot read the token store"),
        }
        Ok(acct)
    }

    /// Builds the account over an already opened `store`, sharing its
    /// pending login through `pending` (see [`crate::stores::open_with_pending`]).
    pub fn build_over(
        cfg: &AccountConfig,
        clock: Arc<dyn Clock>,
        mode: Mode,
        store: Arc<dyn TokenStore>,
        pending: Arc<dyn PendingLogins>,
    ) -> Result<Self, AccountError> {
        let name = cfg.key.to_string();
        let ctx = BuildContext::new(cfg.key.clone(), clock, &cfg.base_dir);
        let store_for_sinks = store.clone();
        cfg.settings
            .build(&ctx, store, pending, mode, &cfg.overrides)
            .map(|a| a.with_store(store_for_sinks))
            .map_err(|source| AccountError::Build {
                account: name,
                source,
            })
    }

    /// The account, type-erased.
    pub fn managed(&self) -> Arc<dyn ManagedAccount> {
        self.managed.clone()
    }

    /// Loads the stored record; true when one was found.
    pub async fn load(&self) -> Result<bool, token_core::Error> {
        self.loader.load().await
    }

    /// Re-reads the store when it holds a newer record than the manager
    /// (e.g. saved by `tokenctl login` in another process); true if so.
    pub async fn reload_if_newer(&self) -> Result<bool, token_core::Error> {
        self.loader.reload_if_newer().await
    }

    /// [`Account::reload_if_newer`], giving up after `within`: the manager
    /// may be mid-renewal, holding its renewal lock while it waits for the
    /// store's lease (minutes when another process renews). The pollers
    /// (`exec`, the sinks) compare the store themselves, so giving up only
    /// delays the manager's adoption until the next poll, never theirs.
    /// Failures are logged (no token values).
    pub async fn adopt_newer_within(&self, within: std::time::Duration) {
        match tokio::time::timeout(within, self.reload_if_newer()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(account = %self.managed.key(), error = %e, "cannot re-read the token store")
            }
            Err(_) => {
                tracing::debug!(account = %self.managed.key(), "manager busy renewing; adopting the stored record later")
            }
        }
    }

    /// The loopback redirect URI the login ends at, for a broker whose login
    /// ends in a redirect (built online only).
    pub fn login_redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }
}
