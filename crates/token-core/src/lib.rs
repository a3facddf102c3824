//! token-core: the broker-agnostic heart of broker-tokens.
//!
//! A [`TokenManager`] owns one account's credentials. It reads time from a
//! [`Clock`], talks to the broker through a [`TokenProvider`], persists
//! through a [`TokenStore`] and decides what to do with an
//! [`ExpiryPolicy`]. Adapters (`etrade`, `fyers`)
//! supply providers, payload types and default policies, bundled as a
//! [`Broker`]; [`TokenManager::builder`] and [`Broker::manager`] assemble a
//! manager with defaults.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod builder;
pub mod bundle;
pub mod calendar;
pub mod clock;
pub mod error;
pub mod events;
pub mod health;
pub mod key;
pub mod login_window;
pub mod loopback;
pub mod manager;
pub mod net;
pub mod notice;
pub mod policy;
pub mod provider;
pub mod record;
pub mod remedy;
pub mod retry;
pub mod retry_after;
pub mod schedule;
pub mod store;
pub mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use builder::ManagerBuilder;
pub use bundle::{Broker, BuildContext, BuildError, SecretError, SecretSource};
pub use calendar::TradingCalendar;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, KeyError, StoreError, Unavailable};
pub use events::{Event, RenewalReason};
pub use health::{AccountHealth, HealthReport, HealthStatus, PersonAction};
pub use key::{AccountKey, Environment};
pub use login_window::LoginWindow;
pub use manager::{
    health_report, Credentials, LoginRequest, MaintenanceHandle, ManagedAccount, ManagerConfig,
    RetryPolicy, TokenManager, TokenRef,
};
pub use notice::Notice;
pub use policy::{ExpiryPolicy, TokenState};
pub use provider::{AuthorizationRequest, Capabilities, Expects, TokenProvider};
pub use record::{
    serde_secret, Metadata, Payload, Record, SecretFields, StoredRecord, SCHEMA_VERSION,
};
pub use remedy::Remedy;
pub use schedule::Schedule;
pub use store::{
    EnvFileStore, EnvMapping, FileStore, Lease, MemoryStore, OwnerClaims, OwnerInfo, TokenStore,
    TokenStoreExt,
};
