//! Charles Schwab Trader API adapter for broker-tokens (OAuth 2.0,
//! authorization-code grant).
//!
//! - [`SchwabProvider`]: a [`token_core::TokenProvider`]: authorize URL with
//!   a random `state`, completion from the pasted redirect URL (the code
//!   ends in `@`, sent as `%40`), refresh at `POST /v1/oauth/token` (Basic
//!   auth, form body), `accountNumbers` probe. No revoke: Schwab has none.
//! - [`SchwabCreds`]: the stored payload (access + refresh token, redacted
//!   in `Debug`, and the original login time) and the
//!   `Authorization: Bearer` helper.
//! - [`expiry`]: the 30-minute access token refreshed 5 minutes early, the
//!   refresh token's fixed 7-day end; [`default_policy`],
//!   [`default_manager_config`] (warns a day before the 7-day end).
//! - [`problem`]: Schwab's error answers as a typed [`SchwabError`].
//! - [`Schwab`]: the broker bundle for tools such as `tokenctl`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use token_core::{Broker, Environment};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = schwab::SchwabConfig::new(
//!     Environment::Production,
//!     std::env::var("SCHWAB_APP_KEY")?,
//!     SecretString::from(std::env::var("SCHWAB_APP_SECRET")?),
//!     "https://127.0.0.1:8182/cb",
//! );
//! let key = config.account_key("main")?;
//! let provider = Arc::new(schwab::SchwabProvider::new(config, Arc::new(token_core::SystemClock))?);
//! let manager = schwab::Schwab::manager(key, provider).file_store("tokens")?.build();
//! let _maintenance = manager.spawn_maintenance();
//! let creds = manager.ensure_fresh().await?;
//! let header = creds.payload.authorization();
//! # let _ = header; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod bundle;
mod config;
pub mod expiry;
mod payload;
pub mod problem;
mod provider;
pub mod redirect;
mod request_auth;

pub use bundle::{Schwab, SchwabSettings};
pub use config::{SchwabConfig, PRODUCTION_BASE_URL};
pub use expiry::{default_manager_config, default_policy};
pub use payload::SchwabCreds;
pub use problem::SchwabError;
pub use provider::SchwabProvider;
pub use request_auth::SchwabRequestAuth;

/// The broker name in account keys: `schwab`.
pub const BROKER: &str = "schwab";
