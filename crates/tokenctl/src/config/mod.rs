//! The `tokenctl` configuration file: a TOML list of accounts.
//!
//! ```toml
//! # Token files go here unless an account says otherwise (relative paths are
//! # relative to this file).
//! store = "tokens"
//!
//! [[account]]
//! broker = "etrade"
//! environment = "sandbox"            # or "production"
//! label = "main"
//! consumer_key = "your-consumer-key"
//! consumer_secret = { env = "ETRADE_CONSUMER_SECRET" }
//!
//! [[account]]
//! broker = "fyers"
//! environment = "production"
//! label = "desk"
//! client_id = "ABCD1234-100"
//! secret_key = { file = "/run/secrets/fyers_secret_key" }
//! pin = { env = "FYERS_PIN" }
//! redirect_uri = "http://127.0.0.1:8080/fyers/callback"
//! ```
//!
//! A person is asked to log in during the account's login window on its
//! exchange's trading days (the broker's default, e.g. `08:00-09:20
//! America/New_York Mon-Fri` for E*TRADE); `login_window = "none"` asks at
//! once. Holidays announced after this release are added per calendar:
//!
//! ```toml
//! [calendars.NYSE]
//! holidays = ["2027-01-04"]
//!
//! [[account]]
//! broker = "etrade"
//! label = "main"
//! login_window = "07:30-09:15 America/New_York Mon-Fri"
//! check_at = "07:45 America/New_York Mon-Fri"   # the pre-market check; "none": off
//! # ...
//! ```
//!
//! `broker`, `environment` (default `production`), `label`, `store`,
//! `login_window` and `check_at` are common to every account; the other fields belong to the broker and are
//! parsed by its bundle (see [`crate::Registry`]). Secrets are never written
//! in the file itself: each is `{ env = "VAR" }` or `{ file = "PATH" }`
//! (relative to this file) and is read only when a command needs it. The
//! optional `[control]` and `[notify]` tables are configured by the control
//! server and kept here as opaque TOML; `[proxy]` configures the local
//! signing proxy ([`crate::proxy::ProxyConfig`], read by [`Config::proxy_table`]).

mod error;
mod locate;
mod parse;
mod sink;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use token_core::AccountKey;

pub use error::{ConfigError, SelectError};
pub use locate::locate;
pub use sink::{OnExpiry, SinkKind, SinkSpec};
pub use store::StoreSpec;

use crate::registry::{AccountSettings, Overrides, Registry};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "TOKENCTL_CONFIG";

/// One configured account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// `broker/environment/label`.
    pub key: AccountKey,
    /// The directory of its file store; for a `.env` store, the file's
    /// directory, for Redis the config's `tokens` directory (where side
    /// files such as a pending login live).
    pub store: PathBuf,
    /// Which store holds its tokens.
    pub store_spec: StoreSpec,
    /// Its `.env` variables, for a `.env` store (default: a prefix from the key).
    pub env_mapping: Option<token_core::EnvMapping>,
    /// The files `tokenctl run` keeps up to date with its token.
    pub sinks: Vec<SinkSpec>,
    /// Its broker's settings, parsed by the broker's bundle.
    pub settings: Arc<dyn AccountSettings>,
    /// The line of its `[[account]]` table.
    pub line: usize,
    /// The config file's directory: relative secret files are read from here.
    pub base_dir: PathBuf,
    /// Its `login_window`, `check_at` and the `[calendars]` holidays,
    /// applied over its broker's defaults.
    pub overrides: Overrides,
}

/// A loaded configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The accounts, in file order.
    pub accounts: Vec<AccountConfig>,
    /// `[control]`: configured by the control server (kept opaque here).
    pub control: Option<toml::Value>,
    /// `[notify]`: configured by the control server (kept opaque here).
    pub notify: Option<toml::Value>,
    /// `[proxy]`: the local signing proxy (parsed by [`Config::proxy_table`]).
    pub proxy: Option<toml::Value>,
    /// The file's text, so the control tables are parsed with line numbers
    /// when they are used.
    pub(crate) text: String,
}

impl Config {
    /// Finds and loads the config file (see [`locate`]); accounts are parsed
    /// by the brokers in `registry`.
    pub fn load(flag: Option<&Path>, registry: &Registry) -> Result<Config, ConfigError> {
        let (path, origin) = locate(flag)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing { path, origin })
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Config::parse(&text, &path, registry)
    }

    /// Parses config text; `path` names the file in errors and anchors
    /// relative store and secret paths.
    ///
    /// ```
    /// let registry = tokenctl::Registry::new().register::<etrade::Etrade>();
    /// let text = r#"
    /// [[account]]
    /// broker = "etrade"
    /// label = "main"
    /// consumer_key = "k"
    /// consumer_secret = { env = "ETRADE_CONSUMER_SECRET" }
    /// "#;
    /// let config = tokenctl::config::Config::parse(text, "/etc/tokenctl.toml".as_ref(), &registry)?;
    /// assert_eq!(config.accounts[0].key.to_string(), "etrade/production/main");
    /// assert_eq!(config.accounts[0].store, std::path::Path::new("/etc/tokens"));
    /// # Ok::<(), tokenctl::config::ConfigError>(())
    /// ```
    pub fn parse(text: &str, path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
        parse::parse(text, path, registry)
    }

    /// The `[control]` and `[notify]` tables as the control server reads
    /// them, errors with file:line:column, relative secret files anchored at
    /// this file's directory, the webhook URL checked.
    pub fn control_tables(
        &self,
    ) -> Result<
        (
            Option<control::ControlConfig>,
            Option<control::NotifyConfig>,
        ),
        ConfigError,
    > {
        parse::control_tables(self)
    }

    /// The `[proxy]` table, errors with file:line:column, relative paths
    /// anchored at this file's directory.
    pub fn proxy_table(&self) -> Result<Option<crate::proxy::ProxyConfig>, ConfigError> {
        parse::proxy_table(self)
    }

    /// The account `selector` names: its label, or `broker/label`, or the
    /// full `broker/environment/label`.
    pub fn find(&self, selector: &str) -> Result<&AccountConfig, SelectError> {
        let matches: Vec<&AccountConfig> = self
            .accounts
            .iter()
            .filter(|a| {
                let k = &a.key;
                selector == k.to_string()
                    || selector == k.label()
                    || selector == format!("{}/{}", k.broker(), k.label())
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(SelectError::None {
                selector: selector.to_owned(),
                known: self.names(),
            }),
            _ => Err(SelectError::Ambiguous {
                selector: selector.to_owned(),
                candidates: matches
                    .iter()
                    .map(|a| a.key.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn names(&self) -> String {
        if self.accounts.is_empty() {
            return "none".into();
        }
        self.accounts
            .iter()
            .map(|a| a.key.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
