//! The brokers `tokenctl` knows: a [`Registry`] of broker bundles.
//!
//! Each [`Broker`] is registered with one line; from then on its
//! `[[account]]` tables are parsed by its settings type, its accounts are
//! built with its provider and defaults, and its times are shown in its
//! exchange's zone. Nothing else in `tokenctl` names a broker.
//!
//! ```
//! # use token_core::Broker;
//! let registry = tokenctl::Registry::new().register::<etrade::Etrade>();
//! assert_eq!(registry.names(), vec!["etrade"]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;
use token_core::store::PendingLogins;
use token_core::{
    Broker, BuildContext, BuildError, Capabilities, LoginWindow, ManagerConfig, Payload,
    RenewalReason, Schedule, TokenProvider, TokenStore,
};

use crate::accounts::{Account, Mode};

/// The registered brokers, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    brokers: Vec<Arc<dyn BrokerEntry>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Registry").field(&self.names()).finish()
    }
}

impl Registry {
    /// No brokers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds broker `B` (replacing one registered under the same name).
    pub fn register<B: Broker>(mut self) -> Self {
        self.brokers.retain(|b| b.name() != B::NAME);
        self.brokers.push(Arc::new(Entry::<B>(PhantomData)));
        self
    }

    /// The broker registered as `name`.
    pub fn get(&self, name: &str) -> Option<&dyn BrokerEntry> {
        self.brokers
            .iter()
            .find(|b| b.name() == name)
            .map(|b| b.as_ref())
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.brokers.iter().map(|b| b.name()).collect()
    }

    /// The exchange time zone of `broker`; UTC for an unknown one.
    pub fn zone(&self, broker: &str) -> Tz {
        self.get(broker).map_or(chrono_tz::UTC, |b| b.zone())
    }

    /// How `broker` says "renewed" in a timeline.
    pub fn describe_renewal(&self, broker: &str, reason: RenewalReason) -> String {
        match self.get(broker) {
            Some(b) => b.describe_renewal(reason),
            None => format!("renewed: {reason}"),
        }
    }

    /// How people write `broker` (its registered display name, else as given).
    pub fn display_name<'a>(&'a self, broker: &'a str) -> &'a str {
        self.get(broker).map_or(broker, |b| b.display_name())
    }
}

/// One registered broker, type-erased: what `tokenctl` asks of a
/// [`Broker`] bundle.
pub trait BrokerEntry: Send + Sync {
    /// [`Broker::NAME`].
    fn name(&self) -> &'static str;
    /// [`Broker::DISPLAY_NAME`].
    fn display_name(&self) -> &'static str;
    /// [`Broker::exchange_zone`].
    fn zone(&self) -> Tz;
    /// [`Broker::describe_renewal`].
    fn describe_renewal(&self, reason: RenewalReason) -> String;
    /// [`Broker::sink_fields`].
    fn sink_fields(&self) -> Vec<(&'static str, &'static str)>;
    /// Parses one account's settings (the `[[account]]` table without the
    /// common fields); errors keep the table's spans.
    fn parse_settings(
        &self,
        table: toml::de::ValueDeserializer<'_>,
    ) -> Result<Arc<dyn AccountSettings>, toml::de::Error>;
}

/// What a configuration changes in a bundle's manager settings for one
/// account: its login window, and holidays added to its exchange calendar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `login_window = "..."`: `Some(None)` for `"none"` (ask at once);
    /// `None` keeps the bundle's window.
    pub login_window: Option<Option<LoginWindow>>,
    /// `[calendars.NAME] holidays`, by upper-case calendar name.
    pub holidays: BTreeMap<String, Vec<NaiveDate>>,
    /// `check_at = "..."`: `Some(None)` for `"none"` (no pre-market
    /// check); `None` keeps the bundle's.
    pub check_at: Option<Option<Schedule>>,
}

impl Overrides {
    /// Applies these overrides to a bundle's `config`.
    ///
    /// ```
    /// use token_core::{Broker, TradingCalendar};
    /// let mut config = etrade::Etrade::standard_manager_config();
    /// let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap();
    /// let o = tokenctl::registry::Overrides {
    ///     login_window: Some(None),
    ///     holidays: [("NYSE".to_string(), vec![day])].into(),
    ///     check_at: Some(None),
    /// };
    /// o.apply(&mut config);
    /// assert!(config.login_window.is_none() && config.check_at.is_none());
    /// assert!(!config.calendar.unwrap().is_trading_day(day));
    /// ```
    pub fn apply(&self, config: &mut ManagerConfig) {
        if let Some(window) = self.login_window {
            config.login_window = window;
        }
        if let Some(check) = self.check_at {
            config.check_at = check;
        }
        if let Some(calendar) = config.calendar.take() {
            let extra = self.holidays.get(&calendar.name().to_ascii_uppercase());
            config.calendar = Some(match extra {
                Some(days) => Arc::new(days.iter().fold((*calendar).clone(), |c, d| {
                    c.with_holiday(*d, "closed (tokenctl configuration)")
                })),
                None => calendar,
            });
        }
    }
}

/// One account's parsed settings, type-erased.
pub trait AccountSettings: fmt::Debug + Send + Sync {
    /// Builds the account over `store`, its pending login shared through
    /// `pending`: with the broker's provider when `mode` is online (reading
    /// its secrets), with none offline; the bundle's manager settings changed
    /// by `overrides`.
    fn build(
        &self,
        ctx: &BuildContext,
        store: Arc<dyn TokenStore>,
        pending: Arc<dyn PendingLogins>,
        mode: Mode,
        overrides: &Overrides,
    ) -> Result<Account, BuildError>;
}

struct Entry<B>(PhantomData<fn() -> B>);

impl<B: Broker> BrokerEntry for Entry<B> {
    fn name(&self) -> &'static str {
        B::NAME
    }
    fn display_name(&self) -> &'static str {
        B::DISPLAY_NAME
    }
    fn zone(&self) -> Tz {
        B::exchange_zone()
    }
    fn describe_renewal(&self, reason: RenewalReason) -> String {
        B::describe_renewal(reason)
    }
    fn sink_fields(&self) -> Vec<(&'static str, &'static str)> {
        B::sink_fields()
    }
    fn parse_settings(
        &self,
        table: toml::de::ValueDeserializer<'_>,
    ) -> Result<Arc<dyn AccountSettings>, toml::de::Error> {
        let settings = B::Settings::deserialize(table)?;
        Ok(Arc::new(Settings::<B>(settings)))
    }
}

struct Settings<B: Broker>(B::Settings);

impl<B: Broker> fmt::Debug for Settings<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<B: Broker> AccountSettings for Settings<B> {
    fn build(
        &self,
        ctx: &BuildContext,
        store: Arc<dyn TokenStore>,
        pending: Arc<dyn PendingLogins>,
        mode: Mode,
        overrides: &Overrides,
    ) -> Result<Account, BuildError> {
        let (provider, auth): (Arc<dyn TokenProvider<B::Payload>>, _) = match mode {
            Mode::Online => {
                let p = Arc::new(B::provider(&self.0, ctx)?);
                let auth = B::request_auth(&p);
                (p, auth)
            }
            Mode::Offline => (Arc::new(Offline(B::NAME)), None),
        };
        let manager = B::manager(ctx.key.clone(), provider)
            .config(B::with_exchange_rules(B::manager_config(&self.0)))
            .configure(|c| {
                c.notices.extend(B::notices(&self.0));
                overrides.apply(c);
            })
            .store(store)
            .pending_logins(pending)
            .clock(ctx.clock.clone())
            .build();
        let redirect = match mode {
            Mode::Online => B::login_redirect_uri(&self.0),
            Mode::Offline => None,
        };
        let account = Account::new(manager.clone(), redirect);
        Ok(match auth {
            Some(auth) => account.with_proxy(Arc::new(crate::proxy::Target::new(manager, auth))),
            None => account,
        })
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
