//! broker-tokens: keeps broker API tokens alive for automated trading systems.
//!
//! This facade re-exports the workspace crates so one dependency brings the
//! core, the adapters and what a bot touches every day; see the README for
//! the tour.
//!
//! - [`core`]: the broker-agnostic engine (`TokenManager`, stores, policies, clocks).
//! - [`etrade`]: E*TRADE OAuth 1.0a adapter; [`Etrade`] is its bundle.
//! - [`fyers`]: FYERS API v3 adapter; [`Fyers`] is its bundle.
//! - [`secrecy`]: the secret types credentials come in ([`ExposeSecret`]
//!   to use one).
//! - At the top level: the names a bot needs to build a manager
//!   ([`Broker::manager`], [`TokenManager::builder`]), read its token and
//!   follow its events.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The README's examples are compiled as doc tests so they cannot rot.
#![doc = ""]
#![doc = include_str!("../README.md")]

pub use etrade;
pub use fyers;
pub use secrecy;
pub use token_core as core;

pub use etrade::{Etrade, EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
pub use fyers::{Fyers, FyersConfig, FyersCreds, FyersProvider};
pub use secrecy::{ExposeSecret, SecretString};
pub use token_core::{
    AccountHealth, AccountKey, Broker, Clock, Credentials, Environment, Error, ErrorKind, Event,
    FileStore, HealthReport, HealthStatus, MaintenanceHandle, ManagerBuilder, ManagerConfig,
    MemoryStore, SecretSource, SystemClock, TokenManager, TokenStore, Unavailable,
};
