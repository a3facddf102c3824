//! E*TRADE adapter for broker-tokens: OAuth 1.0a login with an `oob`
//! verifier, silent renewal of idle tokens, expiry at midnight
//! America/New_York, and signing of the trading engine's own API calls.
//!
//! - [`EtradeConfig`]: consumer key/secret, sandbox or production hosts
//!   (OAuth host configurable separately), timeouts; HTTPS enforced except
//!   on loopback.
//! - [`EtradeProvider`]: the [`token_core::TokenProvider`].
//! - [`default_policy`]: midnight New York + 2 h idle with a keep-alive
//!   margin.
//! - [`Etrade`]: the broker bundle (settings from configuration, defaults,
//!   exchange time zone) for tools such as `tokenctl`.
//! - [`Signer`]: the `Authorization: OAuth ...` header for any request.
//! - [`EtradeClient`]: sign, send, track use, renew-and-retry on 401.
//!
//! ```no_run
//! use std::sync::Arc;
//! use etrade::{Etrade, EtradeClient, EtradeConfig, EtradeProvider};
//! use token_core::{Broker, Environment};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = EtradeConfig::new(Environment::Production, "KEY", "SECRET".to_string().into());
//! let key = config.account_key("main")?;
//! let provider = Arc::new(EtradeProvider::new(config)?);
//! let manager = Etrade::manager(key, provider.clone())
//!     .file_store("tokens")?
//!     .build();
//! let request = manager.begin_authorization().await?;
//! println!("open {} and type the code:", request.url);
//! # let code = String::new();
//! manager.complete_authorization(&code.into()).await?;
//! let _maintenance = manager.spawn_maintenance();
//! let client = EtradeClient::new(manager, provider);
//! let quote = client.get("/v1/market/quote/AAPL.json").await?;
//! println!("{}", quote.text());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bundle;
mod client;
mod config;
mod error;
mod key_age;
mod payload;
mod policy;
mod problem;
mod provider;
mod request_auth;
mod signer;
mod transport;
mod verifier;

pub use bundle::{Etrade, EtradeSettings};
pub use client::EtradeClient;
pub use config::{
    checked_url, EtradeConfig, DEFAULT_AUTHORIZE_URL, DEFAULT_OAUTH_URL, PRODUCTION_API_URL,
    SANDBOX_API_URL,
};
pub use error::EtradeError;
pub use key_age::{
    key_age_notice, key_age_warning, KeyAgeWarning, KEY_LIFETIME_MONTHS, KEY_WARNING_LEAD_DAYS,
};
pub use payload::EtradeCredentials;
pub use policy::{
    default_policy, next_midnight_new_york, PolicyConfig, DEFAULT_KEEPALIVE_MARGIN, IDLE_TIMEOUT,
};
pub use problem::unauthorized_reason;
pub use problem::{is_rate_limit_body, parse_oauth_problem, OAuthProblem};
pub use provider::{EtradeProvider, REQUEST_TOKEN_LIFETIME};
pub use request_auth::EtradeRequestAuth;
pub use signer::Signer;
pub use signer::{MAX_ACCEPTABLE_WINDOW_SECS, MAX_CLOCK_CORRECTION_SECS};
pub use transport::ApiResponse;

/// The broker name in account keys: `etrade`.
pub const BROKER: &str = "etrade";
