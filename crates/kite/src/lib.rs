//! Zerodha Kite Connect v3 adapter for broker-tokens.
//!
//! - [`KiteProvider`]: a [`token_core::TokenProvider`] for Kite: login URL
//!   (`/connect/login?v=3&api_key=`), completion from the pasted redirect URL
//!   (`request_token`, `status=success`), the session exchange
//!   (`POST /session/token` with the SHA-256 [`checksum`]), the
//!   `/user/profile` probe and logout (`DELETE /session/token`). There is no
//!   silent renewal: individual users get no refresh token, so a person logs
//!   in every trading day ([`KiteProvider`]'s capabilities say so).
//! - [`KiteCreds`]: the stored payload (access token redacted in `Debug`) and
//!   the `Authorization: token api_key:access_token` + `X-Kite-Version: 3`
//!   helper.
//! - [`expiry`]: the access token dies at the next 06:00 Asia/Kolkata;
//!   [`default_policy`] and [`default_manager_config`].
//! - [`Kite`]: the broker bundle for tools such as `tokenctl`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use token_core::{Broker, Environment};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = kite::KiteConfig::new(
//!     Environment::Production,
//!     "kiteapikey123",
//!     SecretString::from(std::env::var("KITE_API_SECRET")?),
//!     "http://127.0.0.1:8080/kite/callback",
//! );
//! let key = config.account_key("main")?;
//! let provider = Arc::new(kite::KiteProvider::new(config, Arc::new(token_core::SystemClock))?);
//! let manager = kite::Kite::manager(key, provider.clone()).file_store("tokens")?.build();
//! let creds = manager.ensure_fresh().await?;
//! let headers = creds.payload.headers(provider.api_key())?;
//! # let _ = headers; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod bundle;
mod config;
pub mod errors;
pub mod expiry;
mod provider;
pub mod redirect;
mod request_auth;

pub use bundle::{Kite, KiteSettings};
pub use config::{checksum, KiteConfig, PRODUCTION_BASE_URL, PRODUCTION_LOGIN_URL};
pub use errors::KiteErrorType;
pub use expiry::{default_manager_config, default_policy, login_schedule};
pub use provider::{KiteCreds, KiteProvider};
pub use request_auth::KiteRequestAuth;

/// The broker name in account keys: `kite`.
pub const BROKER: &str = "kite";

/// The API version header every Kite call carries: `X-Kite-Version: 3`.
pub const KITE_VERSION_HEADER: &str = "X-Kite-Version";
