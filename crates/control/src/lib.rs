//! Running broker-tokens unattended.
//!
//! - [`Server`]: the HTTP control surface (`GET /health`, `GET /metrics`,
//!   `POST /refresh`, `POST /keepalive`) with bearer-token auth compared in
//!   constant time and per-client rate limits; embeddable as an axum
//!   [`Router`](axum::Router) or run with one call ([`Server::serve`],
//!   [`serve`]).
//! - [`metrics`]: Prometheus text (renewals, failures by kind, renewal
//!   latency, seconds to expiry and to refresh-token expiry per account).
//! - [`notify`]: one [`Notifier`](notify::Notifier) trait; log, Telegram and
//!   HMAC-signed webhook notifiers; an [`Alerter`](notify::Alerter) that
//!   turns token-core events into deduplicated, rate-limited alerts without
//!   ever holding up token upkeep.
//! - [`reauth`]: phone re-authorization over Telegram (or a console, or the
//!   FYERS loopback listener) behind one [`ReauthChannel`](reauth::ReauthChannel) trait.
//! - [`ControlConfig`] / [`NotifyConfig`]: the `[control]` and `[notify]`
//!   tables of the tokenctl TOML; secrets are named, never inlined.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod http;
pub mod metrics;
pub mod notify;
pub mod reauth;
mod secret;
mod server;
pub mod telegram;

pub use config::{ControlConfig, NotifyConfig, RateLimitConfig, TelegramConfig, WebhookConfig};
pub use http::{BearerToken, RateLimiter};
pub use secret::{SecretError, SecretSource};
pub use server::{
    serve, Background, ControlError, Server, REAUTH_ANSWER_TIMEOUT, REAUTH_MAX_ATTEMPTS,
};
