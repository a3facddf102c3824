//! Broker bundles: everything a tool needs to know about one broker, in one
//! place.
//!
//! A [`Broker`] names its payload, its settings (parsed from configuration,
//! secrets named by [`SecretSource`], never inline), how to build its
//! provider from them, its default policy and manager settings and its
//! exchange time zone. Tools such as `tokenctl` and the control server are
//! written against this trait, so adding a broker to them is one
//! registration line; a bot gets a [`ManagerBuilder`]
//! with the right defaults from [`Broker::manager`].

mod request;
mod secret;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono_tz::Tz;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::builder::ManagerBuilder;
use crate::calendar::{Exchange, TradingCalendar};
use crate::clock::Clock;
use crate::error::Error;
use crate::events::RenewalReason;
use crate::key::{AccountKey, Environment};
use crate::login_window::LoginWindow;
use crate::manager::ManagerConfig;
use crate::notice::Notice;
use crate::policy::ExpiryPolicy;
use crate::provider::TokenProvider;
use crate::record::Payload;
use crate::schedule::Schedule;

pub use request::{ApiRequest, AuthHeader, RequestAuth};
pub use secret::{loose_permissions, SecretError, SecretSource, INLINE_SECRET_REFUSED};

/// One broker, bundled: see the [module docs](self).
///
/// Implemented by a zero-sized marker type in the broker's crate (e.g.
/// `etrade::Etrade`, `fyers::Fyers`).
pub trait Broker: Send + Sync + 'static {
    /// The short name used in account keys and in `broker = "..."`.
    const NAME: &'static str;
    /// How people write the broker's name, e.g. `E*TRADE`.
    const DISPLAY_NAME: &'static str;

    /// What the store keeps for an account.
    type Payload: Payload;
    /// One account's settings as written in a configuration file (a
    /// `[[account]]` table without `broker`, `environment`, `label` and
    /// `store`). Secrets are [`SecretSource`]s; unknown fields should be
    /// refused (`#[serde(deny_unknown_fields)]`).
    type Settings: DeserializeOwned + fmt::Debug + Send + Sync + 'static;
    /// The broker's provider.
    type Provider: TokenProvider<Self::Payload> + 'static;

    /// The exchange the broker trades on ([`calendar::NYSE`](crate::calendar::NYSE),
    /// [`calendar::NSE`](crate::calendar::NSE)): its zone, calendar, login
    /// window and check time are the defaults below. `None` (the default):
    /// UTC, every weekday, asked at once, no check.
    fn exchange() -> Option<&'static Exchange> {
        None
    }

    /// The exchange's time zone (for people: when things happen locally):
    /// [`Broker::exchange`]'s, else UTC.
    fn exchange_zone() -> Tz {
        Self::exchange().map_or(Tz::UTC, |e| e.zone)
    }

    /// The expiry policy accounts of this broker use unless told otherwise.
    fn default_policy() -> Arc<dyn ExpiryPolicy>;

    /// The manager settings (schedules, warnings) used unless told otherwise.
    fn default_manager_config() -> ManagerConfig;

    /// The manager settings for an account with these settings (e.g. no
    /// refresh schedule for a FYERS account with `refresh = "off"`).
    /// [`Broker::default_manager_config`] unless the bundle says otherwise.
    fn manager_config(settings: &Self::Settings) -> ManagerConfig {
        let _ = settings;
        Self::default_manager_config()
    }

    /// Builds the provider for one account from its settings, reading its
    /// secrets through `ctx`.
    fn provider(
        settings: &Self::Settings,
        ctx: &BuildContext,
    ) -> Result<Self::Provider, BuildError>;

    /// The loopback redirect URI a login of this account ends at, when the
    /// login can be captured by listening there (FYERS); `None` when a person
    /// types a code (E*TRADE).
    fn login_redirect_uri(settings: &Self::Settings) -> Option<String> {
        let _ = settings;
        None
    }

    /// The exchange's trading calendar by name (`"NYSE"`, `"NSE"`: see
    /// [`TradingCalendar::builtin`](crate::calendar::TradingCalendar::builtin)):
    /// no login prompt on its holidays. [`Broker::exchange`]'s by default.
    fn calendar() -> Option<&'static str> {
        Self::exchange().map(|e| e.calendar)
    }

    /// When a person is asked to log in unless configured otherwise (e.g.
    /// `08:00-09:20 America/New_York Mon-Fri`, before the open):
    /// [`Broker::exchange`]'s by default; `None` asks at once.
    fn login_window() -> Option<LoginWindow> {
        Self::exchange().and_then(Exchange::login_window)
    }

    /// When the pre-market check runs unless configured otherwise (e.g.
    /// `08:00 America/New_York Mon-Fri`), on [`Broker::calendar`]'s trading
    /// days: [`Broker::exchange`]'s by default; `None`: no check.
    fn check_at() -> Option<Schedule> {
        Self::exchange().and_then(Exchange::check_at)
    }

    /// Dated warnings about an account with these settings (e.g. an
    /// E*TRADE consumer key near its two-year end), handed to its manager as
    /// [`ManagerConfig::notices`]. None by default.
    fn notices(settings: &Self::Settings) -> Vec<Notice> {
        let _ = settings;
        Vec::new()
    }

    /// How a renewal reads in a timeline and in logs. `reason` is what
    /// triggered it; the words must say that, not guess from the token's
    /// state (an operator's refresh of an 11-minute-old token is "asked for
    /// by an operator", never "expired"). A bundle may add how it renews.
    /// The default reads `renewed: asked for by an operator` for
    /// [`RenewalReason::Operator`].
    fn describe_renewal(reason: RenewalReason) -> String {
        format!("renewed: {reason}")
    }

    /// The payload fields a bot needs, each with the environment variable
    /// name bots conventionally read it from (e.g. FYERS `access_token` in
    /// `FYERS_ACCESS_TOKEN`): what a sink writes unless configured
    /// otherwise. Empty (the default): every field, as `{NAME}_{FIELD}`
    /// upper-cased.
    fn sink_fields() -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// How the local signing proxy authenticates API requests for an
    /// account built with `provider` (see [`RequestAuth`]); `None` (the
    /// default): the proxy answers that this broker is not supported.
    fn request_auth(provider: &Arc<Self::Provider>) -> Option<Arc<dyn RequestAuth<Self::Payload>>> {
        let _ = provider;
        None
    }

    /// The account key of `label` in `environment` for this broker.
    fn account_key(environment: Environment, label: &str) -> Result<AccountKey, Error> {
        AccountKey::new(Self::NAME, environment, label).map_err(|e| Error::Config(e.to_string()))
    }

    /// A manager builder for `key` over `provider`, with this broker's
    /// default policy and manager settings, a memory store and the system
    /// clock until told otherwise.
    fn manager(
        key: AccountKey,
        provider: Arc<dyn TokenProvider<Self::Payload>>,
    ) -> ManagerBuilder<Self::Payload> {
        ManagerBuilder::new(key, provider)
            .policy(Self::default_policy())
            .config(Self::standard_manager_config())
    }

    /// `config` with the bundle's exchange rules: its [`Broker::calendar`],
    /// [`Broker::login_window`] and [`Broker::check_at`].
    fn with_exchange_rules(mut config: ManagerConfig) -> ManagerConfig {
        config.calendar = Self::calendar().and_then(TradingCalendar::builtin);
        config.login_window = Self::login_window();
        config.check_at = Self::check_at();
        config
    }

    /// [`Broker::default_manager_config`] with the bundle's exchange rules
    /// ([`Broker::with_exchange_rules`]): what [`Broker::manager`] starts from.
    fn standard_manager_config() -> ManagerConfig {
        Self::with_exchange_rules(Self::default_manager_config())
    }
}

/// What a bundle gets to build one account's provider.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The account.
    pub key: AccountKey,
    /// The clock the provider must read time from.
    pub clock: Arc<dyn Clock>,
    /// Relative secret files are relative to this directory (the
    /// configuration file's).
    pub base_dir: PathBuf,
}

impl BuildContext {
    /// A context for `key` on `clock`, secrets relative to `base_dir`.
    pub fn new(key: AccountKey, clock: Arc<dyn Clock>, base_dir: impl AsRef<Path>) -> Self {
        Self {
            key,
            clock,
            base_dir: base_dir.as_ref().to_path_buf(),
        }
    }

    /// The account's environment.
    pub fn environment(&self) -> Environment {
        self.key.environment()
    }

    /// Reads the secret `field` names (`field` only labels errors).
    pub fn secret(
        &self,
        field: &'static str,
        source: &SecretSource,
    ) -> Result<SecretString, BuildError> {
        source
            .read_in(&self.base_dir)
            .map_err(|source| BuildError::Secret { field, source })
    }
}

/// Why a bundle could not build an account's provider. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A secret the settings name cannot be read.
    #[error("secret `{field}`: {source}")]
    Secret {
        /// The settings field, e.g. `consumer_secret`.
        field: &'static str,
        /// Why.
        #[source]
        source: SecretError,
    },
    /// The adapter refused the settings (e.g. a plain-HTTP production URL).
    #[error(transparent)]
    Invalid(#[from] Error),
}
