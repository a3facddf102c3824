//! A loopback simulator of the E*TRADE (OAuth 1.0a) and FYERS (API v3) auth
//! protocols, for testing token logic without the real brokers.
//!
//! It serves the brokers' wire protocols on `127.0.0.1` (see PROTOCOLS.md),
//! runs their token state machines on a controllable clock, counts calls per
//! endpoint and injects faults on demand. Start it in-process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), broker_sim::SimError> {
//! use chrono::{TimeZone, Utc};
//! use broker_sim::{BrokerSim, SimConfig};
//! use token_core::clock::ManualClock;
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap());
//! let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone()).await?;
//! let creds = running.credentials();
//! println!("E*TRADE at {}, FYERS at {}", creds.etrade_oauth_base_url, creds.fyers_base_url);
//! # Ok(()) }
//! ```
//!
//! The same controls exist over HTTP under `/__sim/` (see the `control`
//! module docs and the README).

#![warn(missing_docs)]

pub mod canned;
mod clock;
pub mod config;
mod control;
mod etrade;
pub mod faults;
mod fyers;
pub mod jwt;
mod kite;
pub mod oauth1;
mod responses;
mod schwab;
mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use token_core::clock::{Clock, ManualClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    DemoCredentials, EtradeErrorStyle, EtradeProblem, FyersAnswer, FyersAnswers, RateLimit,
    SimConfig, TimestampClock,
};
pub use faults::{Endpoint, Fault, FaultSpec, Rejection, Times};
pub use kite::settings::{KiteSimConfig, DEMO_KITE_API_SECRET};
pub use schwab::settings::SchwabSimConfig;

use crate::clock::SimClock;
use crate::faults::{Counters, FaultTable};
use crate::responses::FaultOutcome;
use crate::server::Conn;

/// Errors from the simulator's Rust API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Could not bind the listening socket.
    #[error("could not bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No such E*TRADE request token (never issued, or already exchanged).
    #[error("unknown E*TRADE request token")]
    UnknownRequestToken,
    /// The request token is older than its lifetime.
    #[error("E*TRADE request token expired")]
    RequestTokenExpired,
    /// The FYERS client id is not the configured one.
    #[error("unknown FYERS client_id")]
    UnknownClientId,
    /// The redirect URI differs from the registered one.
    #[error("redirect_uri does not match the registered one")]
    RedirectUriMismatch,
    /// The Kite api_key is not the configured one.
    #[error("unknown Kite api_key")]
    UnknownKiteApiKey,
}

/// A cheap, cloneable handle on a simulator's state: the Rust control API.
#[derive(Clone, Debug)]
pub struct BrokerSim {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Mutex<SimConfig>,
    clock: SimClock,
    etrade: Mutex<etrade::EtradeState>,
    fyers: Mutex<fyers::FyersState>,
    schwab: Mutex<schwab::SchwabState>,
    kite: Mutex<kite::KiteState>,
    faults: Mutex<FaultTable>,
    counters: Counters,
    /// Per key: (window start millis, requests in window).
    rate: Mutex<HashMap<String, (i64, u32)>>,
    base_url: OnceLock<String>,
}

/// Locks a mutex, recovering from poisoning: the guarded maps stay
/// consistent at every step.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A simulator serving on loopback. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSim {
    /// `http://127.0.0.1:PORT`: the E*TRADE OAuth and API host.
    pub base_url: String,
    /// The control handle.
    pub sim: BrokerSim,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSim {
    /// The E*TRADE OAuth host (`/oauth/...`, `/e/t/etws/authorize`).
    pub fn etrade_oauth_base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The E*TRADE API host (`/v1/...`).
    pub fn etrade_api_base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The FYERS API base, `{base_url}/api/v3`.
    pub fn fyers_base_url(&self) -> String {
        format!("{}/api/v3", self.base_url)
    }

    /// URLs and demo credentials for clients.
    pub fn credentials(&self) -> DemoCredentials {
        self.sim.credentials_for(&self.base_url)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl BrokerSim {
    /// Builds a simulator without serving it. With `manual = Some(clock)`
    /// (the same clock as `clock`), the control API moves that clock;
    /// otherwise it keeps an offset on top of `clock`.
    fn new(config: SimConfig, clock: Arc<dyn Clock>, manual: Option<ManualClock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: Mutex::new(config),
                clock: SimClock::new(clock, manual),
                etrade: Mutex::new(etrade::EtradeState::default()),
                fyers: Mutex::new(fyers::FyersState::default()),
                schwab: Mutex::new(schwab::SchwabState::default()),
                kite: Mutex::new(kite::KiteState::default()),
                faults: Mutex::new(FaultTable::default()),
                counters: Counters::default(),
                rate: Mutex::new(HashMap::new()),
                base_url: OnceLock::new(),
            }),
        }
    }

    /// Starts serving on `127.0.0.1:{config.port}` (0 = any free port) with
    /// time from `clock`. Advancing time through the simulator then moves an
    /// offset on top of `clock`, not `clock` itself: to share one movable
    /// clock with the code under test, use
    /// [`BrokerSim::start_with_manual_clock`].
    pub async fn start(config: SimConfig, clock: Arc<dyn Clock>) -> Result<RunningSim, SimError> {
        Self::serve(Self::new(config, clock, None)).await
    }

    /// Starts serving with time from `clock`; [`BrokerSim::advance`] and
    /// [`BrokerSim::set_time`] (and the HTTP clock controls) move that same
    /// clock, so everything sharing it moves together.
    pub async fn start_with_manual_clock(
        config: SimConfig,
        clock: ManualClock,
    ) -> Result<RunningSim, SimError> {
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        Self::serve(Self::new(config, shared, Some(clock))).await
    }

    async fn serve(sim: BrokerSim) -> Result<RunningSim, SimError> {
        let port = lock(&sim.inner.config).port;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| SimError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { port, source })?;
        let base_url = format!("http://{addr}");
        let _ = sim.inner.base_url.set(base_url.clone());
        let app = control::router(sim.clone()).into_make_service_with_connect_info::<Conn>();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(server::SimListener(listener), app).with_graceful_shutdown(
                async move {
                    let _ = rx.await;
                },
            );
            if let Err(e) = server.await {
                tracing::warn!("broker-sim server ended: {e}");
            }
        });
        Ok(RunningSim {
            base_url,
            sim,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// URLs and demo credentials for a simulator at `base_url`.
    pub fn credentials_for(&self, base_url: &str) -> DemoCredentials {
        let c = self.config();
        DemoCredentials {
            etrade_oauth_base_url: base_url.to_owned(),
            etrade_api_base_url: base_url.to_owned(),
            etrade_consumer_key: c.etrade_consumer_key,
            etrade_consumer_secret: c.etrade_consumer_secret,
            fyers_base_url: format!("{base_url}/api/v3"),
            fyers_client_id: c.fyers_client_id,
            fyers_secret_key: c.fyers_secret_key,
            fyers_pin: c.fyers_pin,
            fyers_redirect_uri: c.fyers_redirect_uri,
        }
    }

    /// A copy of the current settings.
    pub fn config(&self) -> SimConfig {
        lock(&self.inner.config).clone()
    }

    /// Changes settings in place (takes effect for the next request).
    pub fn update_config(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut lock(&self.inner.config));
    }

    /// FYERS rotation mode: refresh answers carry a new refresh token and
    /// the old one stops working.
    pub fn set_fyers_rotation(&self, on: bool) {
        self.update_config(|c| c.fyers_rotation = on);
    }

    /// FYERS "refresh disabled": every refresh is rejected with
    /// `fyers_answers.refresh_refused` (by default 400 / -501).
    pub fn set_fyers_refresh_disabled(&self, on: bool) {
        self.update_config(|c| c.fyers_refresh_disabled = on);
    }

    /// Checks E*TRADE `oauth_timestamp` against the simulated clock or
    /// the real one (see [`TimestampClock`]).
    pub fn set_etrade_timestamp_clock(&self, clock: TimestampClock) {
        self.update_config(|c| c.etrade_timestamp_clock = clock);
    }

    /// JSON, HTML or XML E*TRADE error bodies.
    pub fn set_etrade_error_style(&self, style: EtradeErrorStyle) {
        self.update_config(|c| c.etrade_error_style = style);
    }

    /// Per-key rate limit on the data endpoints (`None` = unlimited).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.update_config(|c| c.rate_limit = limit);
        lock(&self.inner.rate).clear();
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// True when the simulator moves a shared [`ManualClock`] (rather than
    /// an offset of its own).
    pub fn shares_manual_clock(&self) -> bool {
        self.inner.clock.is_manual()
    }

    /// Moves simulator time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    /// Sets simulator time to `to`.
    pub fn set_time(&self, to: DateTime<Utc>) {
        self.inner.clock.set(to);
    }

    /// Approves an E*TRADE request token as if a person had logged in, and
    /// returns the verifier they would have copied.
    pub fn approve_etrade(&self, request_token: &str) -> Result<String, SimError> {
        let ttl = self.config().etrade_request_token_ttl;
        lock(&self.inner.etrade).approve(request_token, self.now(), ttl)
    }

    /// Completes a FYERS login as if a person had, returning the full
    /// redirect URL (`{redirect_uri}?s=ok&code=200&auth_code=...&state=...`).
    pub fn approve_fyers(
        &self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
    ) -> Result<String, SimError> {
        let config = self.config();
        if client_id != config.fyers_client_id {
            return Err(SimError::UnknownClientId);
        }
        if redirect_uri != config.fyers_redirect_uri {
            return Err(SimError::RedirectUriMismatch);
        }
        let code = lock(&self.inner.fyers).issue_auth_code(&config, self.now());
        Ok(fyers::redirect_url(redirect_uri, &code, state))
    }

    /// Queues `fault` for the next `times` requests to `endpoint`. Several
    /// queued faults apply oldest first.
    pub fn inject_fault(&self, endpoint: Endpoint, fault: Fault, times: Times) {
        lock(&self.inner.faults).push(endpoint, fault, times);
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Requests received by `endpoint` (faulted ones included).
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.inner.counters.get(endpoint)
    }

    /// Sets every call counter to zero.
    pub fn reset_counters(&self) {
        self.inner.counters.reset();
    }

    /// Counts the request and applies a queued fault. `Some(response)`
    /// means answer with it instead of the real handler.
    async fn before(&self, endpoint: Endpoint, conn: &Conn) -> Option<Response> {
        self.inner.counters.hit(endpoint);
        let fault = lock(&self.inner.faults).take(endpoint)?;
        let style = self.config().etrade_error_style;
        match responses::render_fault(endpoint, fault, style) {
            FaultOutcome::Respond(r) => Some(r),
            FaultOutcome::Delay(d) => {
                tokio::time::sleep(d).await;
                None
            }
            FaultOutcome::Drop => {
                conn.kill();
                Some(Response::new(axum::body::Body::empty()))
            }
        }
    }

    /// Counts a request against `key`'s rate limit; false when over it.
    fn within_rate_limit(&self, key: &str) -> bool {
        let Some(limit) = self.config().rate_limit else {
            return true;
        };
        let now = self.now().timestamp_millis();
        let mut rate = lock(&self.inner.rate);
        let entry = rate.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= limit.window_millis || now < entry.0 {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit.max_requests
    }
}
