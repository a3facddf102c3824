//! [`Server`]: the control surface, metrics, alerts and phone
//! re-authorization wired together; one call to run them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use token_core::{AccountKey, Clock, ManagedAccount};
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::config::{ControlConfig, NotifyConfig};
use crate::http::events_feed::EventLog;
use crate::http::{router, serve::serve_limited as serve_http, AppState, BearerToken};
use crate::http::{RouteLimits, ServeLimits, WeakTokenError};
use crate::metrics::Metrics;
use crate::notify::{
    Alerter, LogNotifier, Notifier, NotifyError, TelegramNotifier, WebhookNotifier,
};
use crate::reauth::{AnswerWays, ReauthChannel, Reauthorizer, TelegramChannel};
use crate::secret::SecretError;
use crate::telegram::TelegramBot;

/// How long a phone re-authorization waits for one answer.
pub const REAUTH_ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Answers accepted per re-authorization before giving up.
pub const REAUTH_MAX_ATTEMPTS: u32 = 5;

/// Why the server could not be built or run. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A secret could not be read.
    #[error("{what}: {source}")]
    Secret {
        /// Which setting.
        what: &'static str,
        /// Why.
        #[source]
        source: SecretError,
    },
    /// The control token could be guessed.
    #[error("control.token {source}")]
    WeakToken {
        /// Why.
        #[source]
        source: WeakTokenError,
    },
    /// A listen address that is not loopback, without `allow_remote`.
    #[error(
        "refusing to listen on {addr}: it is not a loopback address, and the control server \
         speaks plain HTTP, so its bearer token would cross the network in clear text. \
         Listen on 127.0.0.1 (the default), or put TLS in front and set `allow_remote = true` \
         in [control]"
    )]
    RemoteNotAllowed {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The `[notify]` table is refused as given (e.g. a plain-HTTP webhook
    /// to a host that is not loopback); the message says what to change.
    #[error("[notify]: {message}")]
    NotifyConfig {
        /// What is wrong and how to fix it (names a host, never a URL path).
        message: String,
    },
    /// A notifier is misconfigured.
    #[error("{what}: {source}")]
    Notifier {
        /// Which notifier.
        what: &'static str,
        /// Why.
        #[source]
        source: NotifyError,
    },
    /// Binding or serving failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// Where.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The control server for a set of accounts.
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn demo(accounts: Vec<Arc<dyn token_core::ManagedAccount>>) -> Result<(), control::ControlError> {
/// let config: control::ControlConfig = serde_json::from_str(r#"{"token":{"env":"CONTROL_TOKEN"}}"#).unwrap();
/// let listener = control::bind(&config).await?;
/// control::Server::new(accounts, &config, Arc::new(token_core::SystemClock))?
///     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
pub struct Server {
    accounts: Arc<[Arc<dyn ManagedAccount>]>,
    config: ControlConfig,
    token: BearerToken,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    notify: NotifyConfig,
    notifiers: Vec<Arc<dyn Notifier>>,
    reauth: Option<Arc<dyn ReauthChannel>>,
    serve_limits: ServeLimits,
    route_limits: RouteLimits,
    zones: HashMap<AccountKey, String>,
    events: Arc<EventLog>,
    /// Set by [`Server::serve`]: alerts then name the `/login` routes.
    serving_http: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("accounts", &self.accounts.len())
            .field("listen", &self.config.listen)
            .field("notifiers", &self.notifiers)
            .finish_non_exhaustive()
    }
}

/// The background tasks (event intake, alert delivery, re-authorization);
/// dropping it stops them.
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Server {
    /// Reads the bearer token named in `config` and refuses a weak one
    /// (shorter than 32 characters or predictable). No notifiers yet: add
    /// them with [`Server::with_notify`] / [`Server::with_notifier`].
    pub fn new(
        accounts: Vec<Arc<dyn ManagedAccount>>,
        config: &ControlConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ControlError> {
        let secret = config.token.read().map_err(|source| ControlError::Secret {
            what: "control.token",
            source,
        })?;
        let token = BearerToken::configured(&secret)
            .map_err(|source| ControlError::WeakToken { source })?;
        Ok(Self {
            accounts: accounts.into(),
            config: config.clone(),
            token,
            metrics: Metrics::new(),
            notify: NotifyConfig::default(),
            notifiers: Vec::new(),
            reauth: None,
            serve_limits: ServeLimits::default(),
            route_limits: RouteLimits::default(),
            zones: HashMap::new(),
            events: Arc::new(EventLog::new(clock.clone(), HashMap::new())),
            clock,
            serving_http: false,
        })
    }

    /// Connection cap and timeouts for [`Server::serve`] (default
    /// [`ServeLimits::default`]).
    pub fn with_serve_limits(mut self, limits: ServeLimits) -> Self {
        self.serve_limits = limits;
        self
    }

    /// Request budgets besides `[control] rate_limit` (default
    /// [`RouteLimits::default`]).
    pub fn with_route_limits(mut self, limits: RouteLimits) -> Self {
        self.route_limits = limits;
        self
    }

    /// Builds the notifiers in `notify` (log, Telegram, webhook) and, when
    /// `telegram.reauth` is set, phone re-authorization in the Telegram chat.
    /// Checks `notify` first ([`NotifyConfig::validate`]): a plain-HTTP
    /// webhook to a remote host is refused unless explicitly allowed.
    pub fn with_notify(mut self, notify: &NotifyConfig) -> Result<Self, ControlError> {
        notify
            .validate()
            .map_err(|message| ControlError::NotifyConfig { message })?;
        self.notify = notify.clone();
        if notify.log {
            self.notifiers.push(Arc::new(LogNotifier));
        }
        if let Some(t) = &notify.telegram {
            let token = t.bot_token.read().map_err(|source| ControlError::Secret {
                what: "notify.telegram.bot_token",
                source,
            })?;
            let bot = TelegramBot::new(&t.base_url, token, notify.timeout()).map_err(|source| {
                ControlError::Notifier {
                    what: "notify.telegram",
                    source,
                }
            })?;
            self.notifiers.push(Arc::new(
                TelegramNotifier::new(bot.clone(), t.chat_id).skip_reauthorization(t.reauth),
            ));
            if t.reauth {
                self.reauth = Some(Arc::new(TelegramChannel::new(
                    bot,
                    t.chat_id,
                    Duration::from_secs(t.poll_secs),
                    REAUTH_ANSWER_TIMEOUT,
                )));
            }
        }
        if let Some(w) = &notify.webhook {
            let secret = w.secret.read().map_err(|source| ControlError::Secret {
                what: "notify.webhook.secret",
                source,
            })?;
            let hook =
                WebhookNotifier::new(&w.url, secret, notify.timeout()).map_err(|source| {
                    ControlError::Notifier {
                        what: "notify.webhook",
                        source,
                    }
                })?;
            self.notifiers.push(Arc::new(hook));
        }
        Ok(self)
    }

    /// Names each account's exchange time zone (IANA, e.g.
    /// `America/New_York`), so the page shows its timeline in the
    /// exchange's local time beside UTC. Accounts not named show UTC only.
    ///
    /// Call before [`Server::router`] / [`Server::start`].
    pub fn with_zones(mut self, zones: impl IntoIterator<Item = (AccountKey, String)>) -> Self {
        self.zones.extend(zones);
        self.events = Arc::new(EventLog::new(self.clock.clone(), self.zones.clone()));
        self
    }

    /// Adds a notifier of your own.
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// Uses `channel` for re-authorization (replaces the Telegram one).
    pub fn with_reauth_channel(mut self, channel: Arc<dyn ReauthChannel>) -> Self {
        self.reauth = Some(channel);
        self
    }

    /// The metrics the server exposes (e.g. to time your own renewals).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The routes, to embed in your own axum service. Serve them with
    /// `into_make_service_with_connect_info::<SocketAddr>()` for per-client
    /// rate limits, and call [`Server::start`] for metrics and alerts.
    /// Connection caps, timeouts and the bounded shutdown are then yours to
    /// provide: [`Server::serve`] has them.
    pub fn router(&self) -> axum::Router {
        router(AppState::new(
            self.accounts.clone(),
            self.token.clone(),
            &self.config,
            self.route_limits,
            self.clock.clone(),
            self.metrics.clone(),
            self.events.clone(),
        ))
    }

    /// Starts the background work: every account's events feed the metrics,
    /// the alerter and the re-authorizer. Subscribes before returning, so no
    /// event raised afterwards is missed.
    pub fn start(&self) -> Background {
        let ways = AnswerWays {
            http: self.serving_http,
            telegram: self.reauth.is_some(),
        };
        let alerter = Alerter::answering(
            self.notifiers.clone(),
            &self.notify,
            self.clock.clone(),
            ways,
        );
        let mut tasks = Vec::new();
        let reauthorizer = self.reauth.clone().map(|channel| {
            let (r, task) = Reauthorizer::spawn(&self.accounts, channel, REAUTH_MAX_ATTEMPTS);
            tasks.push(task);
            r
        });
        for account in self.accounts.iter() {
            let mut rx = account.subscribe();
            let key = account.key().clone();
            let metrics = self.metrics.clone();
            let events = self.events.clone();
            let alerter = alerter.clone();
            let reauthorizer = reauthorizer.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(event) => {
                            metrics.record(&event);
                            events.record(&event);
                            alerter.handle(&event);
                            if let Some(r) = &reauthorizer {
                                r.handle(&event);
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(account = %key, missed = n, "control fell behind on events")
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            }));
        }
        Background { tasks }
    }

    /// Serves on `listener` until `shutdown` completes, with the background
    /// work running. This is the one call a daemon needs.
    ///
    /// Refuses a listener that is not on loopback unless `allow_remote` is
    /// set. Connections are capped and timed out ([`ServeLimits`]); after
    /// `shutdown`, open connections get [`ServeLimits::shutdown_grace`] and
    /// are then dropped, so this returns within that grace.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ControlError> {
        let local = listener.local_addr().map_err(|source| ControlError::Io {
            addr: "?".into(),
            source,
        })?;
        check_listen(local, self.config.allow_remote)?;
        self.serving_http = true;
        let _background = self.start();
        tracing::info!(
            addr = %local,
            accounts = self.accounts.len(),
            max_connections = self.serve_limits.max_connections,
            "control server listening"
        );
        serve_http(listener, self.router(), self.serve_limits, shutdown).await;
        Ok(())
    }
}

/// Refuses a non-loopback address unless `allow_remote`.
fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<(), ControlError> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(ControlError::RemoteNotAllowed { addr })
    }
}

/// Binds `config.listen`, refusing an address that is not loopback unless
/// `config.allow_remote` is set (the error says why).
pub async fn bind(config: &ControlConfig) -> Result<TcpListener, ControlError> {
    check_listen(config.listen, config.allow_remote)?;
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| ControlError::Io {
            addr: config.listen.to_string(),
            source,
        })
}

/// Binds `addr` (use [`ControlConfig::listen`], loopback by default) and
/// serves `accounts` with `notify`'s alerts until `shutdown`.
pub async fn serve(
    addr: SocketAddr,
    accounts: Vec<Arc<dyn ManagedAccount>>,
    config: &ControlConfig,
    notify: Option<&NotifyConfig>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let mut server = Server::new(accounts, config, clock)?;
    if let Some(n) = notify {
        server = server.with_notify(n)?;
    }
    let listener = bind(&ControlConfig {
        listen: addr,
        ..config.clone()
    })
    .await?;
    server.serve(listener, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_listens_without_the_opt_in() {
        for ok in ["127.0.0.1:9184", "127.8.9.10:1", "[::1]:9184"] {
            assert!(check_listen(ok.parse().unwrap(), false).is_ok(), "{ok}");
        }
        for remote in ["0.0.0.0:9184", "10.1.2.3:80", "[::]:9184"] {
            let addr: SocketAddr = remote.parse().unwrap();
            let err = check_listen(addr, false).unwrap_err();
            assert!(err.to_string().contains("plain HTTP"), "{err}");
            assert!(
                check_listen(addr, true).is_ok(),
                "{remote} with allow_remote"
            );
        }
    }
}
