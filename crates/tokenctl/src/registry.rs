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

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono_tz::Tz;
use serde::Deserialize;
use token_core::store::PendingLogins;
use token_core::{
    Broker, BuildContext, BuildError, Capabilities, Payload, RenewalReason, TokenProvider,
    TokenStore,
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

/// One account's parsed settings, type-erased.
pub trait AccountSettings: fmt::Debug + Send + Sync {
    /// Builds the account over `store`, its pending login shared through
    /// `pending`: with the broker's provider when `mode` is online (reading
    /// its secrets), with none offline.
    fn build(
        &self,
        ctx: &BuildContext,
        store: Arc<dyn TokenStore>,
        pending: Arc<dyn PendingLogins>,
        mode: Mode,
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
            .config(B::manager_config(&self.0))
            .configure(|c| c.notices.extend(B::notices(&self.0)))
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
