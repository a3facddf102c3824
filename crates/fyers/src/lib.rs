//! FYERS API v3 adapter for broker-tokens.
//!
//! - [`FyersProvider`]: a [`token_core::TokenProvider`] for FYERS: login URL
//!   with a random `state`, completion from the redirect URL
//!   (`validate-authcode`), silent refresh with the PIN
//!   (`validate-refresh-token`), `/profile` probe, logout.
//! - [`FyersCreds`]: the stored payload (access + refresh token, redacted in
//!   `Debug`) and the `Authorization: client_id:access_token` helper.
//! - [`expiry`]: expiry read from the tokens' JWT `exp`, with the 06:00
//!   Asia/Kolkata fallback; [`default_policy`] and [`default_manager_config`]
//!   (refresh 08:45 IST Mon–Fri, warn 3 days before the refresh token dies).
//! - [`mod@env`]: compatibility with `.env` files holding `FYERS_ACCESS_TOKEN` /
//!   `FYERS_REFRESH_TOKEN`.
//! - [`Fyers`]: the broker bundle (settings from configuration, defaults,
//!   exchange time zone) for tools such as `tokenctl`.
//! - [`listener`]: a loopback listener that captures the login redirect.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use token_core::{Broker, Environment};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = fyers::FyersConfig::new(
//!     Environment::Production,
//!     "ABCD1234-100",
//!     SecretString::from(std::env::var("FYERS_SECRET_KEY")?),
//!     SecretString::from(std::env::var("FYERS_PIN")?),
//!     "http://127.0.0.1:8080/fyers/callback",
//! );
//! let key = config.account_key("main")?;
//! let provider = Arc::new(fyers::FyersProvider::new(config, Arc::new(token_core::SystemClock))?);
//! // The 08:45 IST refresh schedule and the refresh-token warning come with the bundle.
//! let manager = fyers::Fyers::manager(key, provider.clone())
//!     .file_store("tokens")?
//!     .build();
//! let _maintenance = manager.spawn_maintenance();
//! let creds = manager.ensure_fresh().await?;
//! let header = creds.payload.authorization(provider.client_id());
//! # let _ = header; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod bundle;
mod config;
pub mod env;
pub mod expiry;
pub mod jwt;
pub mod listener;
pub mod probe_limit;
mod provider;
pub mod redirect;
mod request_auth;

pub use bundle::{Fyers, FyersSettings};
pub use config::{app_id_hash, FyersConfig, RefreshMode, PRODUCTION_BASE_URL};
pub use expiry::{default_manager_config, default_policy, default_schedule};
pub use listener::{login_via_loopback, ListenerError, LoopbackListener};
pub use provider::{FyersCreds, FyersProvider};
pub use request_auth::FyersRequestAuth;

/// The broker name in account keys: `fyers`.
pub const BROKER: &str = "fyers";
