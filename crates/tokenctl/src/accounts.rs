//! Turning configured accounts into token managers.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use etrade::{EtradeConfig, EtradeCredentials, EtradeProvider};
use fyers::{FyersConfig, FyersCreds, FyersProvider};
use thiserror::Error;
use token_core::{
    Capabilities, Clock, FileStore, ManagedAccount, Payload, StoreError, TokenManager,
    TokenProvider,
};

use crate::config::{AccountConfig, BrokerSettings, ConfigError};

/// Errors building an account.
#[derive(Debug, Error)]
pub enum AccountError {
    /// A secret or setting is missing.
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
    /// The adapter refused the settings (e.g. a plain-HTTP production URL).
    #[error("account {account}: {source}")]
    Adapter {
        /// The account.
        account: String,
        /// Why.
        #[source]
        source: token_core::Error,
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

/// A configured account, ready to use.
#[derive(Debug, Clone)]
pub enum Account {
    /// An E*TRADE account.
    Etrade {
        /// Its manager.
        manager: TokenManager<EtradeCredentials>,
        /// Its provider (`None` offline).
        provider: Option<Arc<EtradeProvider>>,
    },
    /// A FYERS account.
    Fyers {
        /// Its manager.
        manager: TokenManager<FyersCreds>,
        /// Its provider (`None` offline).
        provider: Option<Arc<FyersProvider>>,
    },
}

impl Account {
    /// Builds the account's manager over its file store, on `clock`.
    pub fn build(
        cfg: &AccountConfig,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Result<Self, AccountError> {
        let name = cfg.key.to_string();
        let store =
            Arc::new(
                FileStore::open(&cfg.store).map_err(|source| AccountError::Store {
                    account: name.clone(),
                    source,
                })?,
            );
        let adapter = |source| AccountError::Adapter {
            account: name.clone(),
            source,
        };
        match &cfg.broker {
            BrokerSettings::Etrade(s) => {
                let provider = match mode {
                    Mode::Offline => None,
                    Mode::Online => {
                        let secret = s.consumer_secret.resolve(&name, "consumer_secret")?;
                        let mut c =
                            EtradeConfig::new(cfg.key.environment(), &s.consumer_key, secret)
                                .with_timeout(StdDuration::from_secs(30));
                        if let Some(u) = &s.base_url {
                            c = c.with_base_url(u).map_err(adapter)?;
                        }
                        if let Some(u) = &s.oauth_base_url {
                            c = c.with_oauth_base_url(u).map_err(adapter)?;
                        }
                        if let Some(u) = &s.api_base_url {
                            c = c.with_api_base_url(u).map_err(adapter)?;
                        }
                        if let Some(u) = &s.authorize_url {
                            c = c.with_authorize_url(u).map_err(adapter)?;
                        }
                        Some(Arc::new(
                            EtradeProvider::with_clock(c, clock.clone()).map_err(adapter)?,
                        ))
                    }
                };
                let dyn_provider: Arc<dyn TokenProvider<EtradeCredentials>> = match &provider {
                    Some(p) => p.clone(),
                    None => Arc::new(Offline(etrade::BROKER)),
                };
                let manager = TokenManager::new(
                    cfg.key.clone(),
                    dyn_provider,
                    store,
                    Arc::new(etrade::default_policy()),
                    clock,
                    token_core::ManagerConfig::default(),
                );
                Ok(Account::Etrade { manager, provider })
            }
            BrokerSettings::Fyers(s) => {
                let provider = match mode {
                    Mode::Offline => None,
                    Mode::Online => {
                        let secret = s.secret_key.resolve(&name, "secret_key")?;
                        let pin = s.pin.resolve(&name, "pin")?;
                        let mut c = FyersConfig::new(&s.client_id, secret, pin, &s.redirect_uri);
                        if let Some(u) = &s.base_url {
                            c = c.with_base_url(u);
                        }
                        Some(Arc::new(
                            FyersProvider::new(c, clock.clone()).map_err(adapter)?,
                        ))
                    }
                };
                let dyn_provider: Arc<dyn TokenProvider<FyersCreds>> = match &provider {
                    Some(p) => p.clone(),
                    None => Arc::new(Offline("fyers")),
                };
                let manager = TokenManager::new(
                    cfg.key.clone(),
                    dyn_provider,
                    store,
                    Arc::new(fyers::default_policy()),
                    clock,
                    fyers::default_manager_config(),
                );
                Ok(Account::Fyers { manager, provider })
            }
        }
    }

    /// The account, type-erased.
    pub fn managed(&self) -> Arc<dyn ManagedAccount> {
        match self {
            Account::Etrade { manager, .. } => Arc::new(manager.clone()),
            Account::Fyers { manager, .. } => Arc::new(manager.clone()),
        }
    }

    /// Loads the stored record; true when one was found.
    pub async fn load(&self) -> Result<bool, token_core::Error> {
        match self {
            Account::Etrade { manager, .. } => manager.load().await,
            Account::Fyers { manager, .. } => manager.load().await,
        }
    }
}

/// A provider that can do nothing: `status` reads the store and evaluates
/// the policy without contacting the broker or needing its secrets.
#[derive(Debug)]
struct Offline(&'static str);

impl<P: Payload> TokenProvider<P> for Offline {
    fn broker(&self) -> &str {
        self.0
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            authorize: false,
            renew: false,
            probe: false,
            revoke: false,
        }
    }
}
