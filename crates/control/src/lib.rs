//! Running broker-tokens unattended.
//!
//! - [`Server`]: the HTTP control surface (`GET /health`, `GET /metrics`,
//!   `POST /refresh`, `POST /keepalive`, `POST /login/{account}[/complete]`,
//!   `GET /callback/{broker}/{environment}/{label}`) with bearer-token auth compared in
//!   constant time, a refusal of weak tokens, rate limits on every route
//!   that other callers' failures cannot spend, a connection cap, timeouts
//!   and a bounded shutdown; loopback only unless `allow_remote`;
//!   embeddable as an axum [`Router`](axum::Router) or run with one call
//!   ([`Server::serve`], [`serve`]).
//! - A page at `/` for the person who keeps the bots alive: sign in with the
//!   control token (session cookie + CSRF protection), every account's
//!   health updated live, renew / keep-alive / log-in buttons, and each
//!   account's last 24 h of events (`GET /events`) in the exchange's time
//!   and UTC. Embedded assets, no CDN.
//! - [`raise_nofile_limit`]: a daemon's first call, so sockets cannot starve
//!   the token work of file descriptors.
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
mod nofile;
pub mod notify;
pub mod reauth;
mod secret;
mod server;
pub mod telegram;

pub use config::{ControlConfig, NotifyConfig, RateLimitConfig, TelegramConfig, WebhookConfig};
pub use http::{
    serve_limited, Accept, BearerToken, RateLimiter, RouteLimits, ServeLimits, WeakTokenError,
    DEFAULT_CONNECTION_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_SLOTS, EVENTS_PER_ACCOUNT, MIN_TOKEN_CHARS, TIMELINE_SPAN,
};
pub use nofile::{nofile_limit, raise_nofile_limit, NofileLimit};
pub use secret::{SecretError, SecretSource};
pub use server::{
    bind, serve, Background, ControlError, Server, REAUTH_ANSWER_TIMEOUT, REAUTH_MAX_ATTEMPTS,
};
