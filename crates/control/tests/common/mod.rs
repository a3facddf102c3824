//! Shared test set-up: fake Telegram Bot API and webhook servers on
//! loopback, fake accounts on a manual clock, polling helpers, a loopback
//! `[control]` configuration.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use token_core::policy::{EarliestOf, ExplicitExpiry, IdleTimeout};
use token_core::testing::{FakeCreds, FakeProvider};
use token_core::{
    AccountKey, Clock, Environment, ManagedAccount, ManagerConfig, ManualClock, MemoryStore,
    TokenManager,
};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A loopback `[control]` configuration with default limits whose bearer
/// token `token` is read from a file written in `dir`.
pub fn control_config(dir: &std::path::Path, token: &str) -> control::ControlConfig {
    let path = dir.join("control-token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    control::ControlConfig {
        listen: control::config::DEFAULT_LISTEN,
        allow_remote: false,
        token: control::SecretSource::File(path),
        auth_health: true,
        auth_metrics: true,
        rate_limit: control::RateLimitConfig::default(),
        public_url: None,
    }
}

pub const BOT_TOKEN: &str = "123456:TEST-bot-token-SECRET";
pub const CHAT: i64 = 4242;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves `app` on 127.0.0.1:0 with connect info; returns its address.
pub async fn serve(app: Router) -> SocketAddr {
    serve_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), app)
}

/// Serves `app` on `listener` (bound beforehand, when its address must be
/// known first) with connect info; returns its address.
pub fn serve_on(listener: TcpListener, app: Router) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// Polls `cond` every 5 ms for up to 10 s of real time.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A fake Telegram Bot API: records `sendMessage`, serves scripted
/// `getUpdates` with long polling, and only answers the right bot token.
#[derive(Default)]
pub struct FakeTelegram {
    pub sent: Mutex<Vec<(i64, String)>>,
    pub raw_sent: Mutex<Vec<Value>>,
    updates: Mutex<Vec<Value>>,
    next_update: AtomicI64,
    /// The highest offset a client confirmed (all updates below it consumed).
    pub confirmed: AtomicI64,
    arrived: Notify,
}

impl FakeTelegram {
    pub async fn start() -> (Arc<Self>, String) {
        let fake = Arc::new(Self::default());
        fake.next_update.store(100, Ordering::SeqCst);
        let app = Router::new()
            .route("/{bot}/{method}", post(Self::handle))
            .with_state(fake.clone());
        let addr = serve(app).await;
        (fake, format!("http://{addr}"))
    }

    /// A person types `text` in chat `chat`; returns the update id.
    pub fn incoming(&self, chat: i64, text: &str) -> i64 {
        let id = self.next_update.fetch_add(1, Ordering::SeqCst);
        lock(&self.updates).push(json!({
            "update_id": id,
            "message": {"message_id": id * 10, "date": 0, "chat": {"id": chat, "type": "private"}, "text": text}
        }));
        self.arrived.notify_waiters();
        id
    }

    pub fn texts(&self) -> Vec<String> {
        lock(&self.sent).iter().map(|(_, t)| t.clone()).collect()
    }

    pub fn count(&self) -> usize {
        lock(&self.sent).len()
    }

    async fn handle(
        State(fake): State<Arc<Self>>,
        Path((bot, method)): Path<(String, String)>,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        if bot != format!("bot{BOT_TOKEN}") {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
            );
        }
        match method.as_str() {
            "sendMessage" => {
                let chat = body["chat_id"].as_i64().unwrap_or_default();
                let text = body["text"].as_str().unwrap_or_default().to_string();
                let n = {
                    let mut sent = lock(&fake.sent);
                    sent.push((chat, text));
                    sent.len()
                };
                lock(&fake.raw_sent).push(body);
                (
                    StatusCode::OK,
                    Json(
                        json!({"ok": true, "result": {"message_id": n, "date": 0, "chat": {"id": chat}}}),
                    ),
                )
            }
            "getUpdates" => {
                let offset = body["offset"].as_i64().unwrap_or(0);
                let poll = body["timeout"].as_u64().unwrap_or(0).min(2);
                fake.confirmed.fetch_max(offset, Ordering::SeqCst);
                let pending = || -> Vec<Value> {
                    let mut ups = lock(&fake.updates);
                    ups.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    ups.clone()
                };
                let mut out = pending();
                if out.is_empty() && poll > 0 {
                    let arrived = fake.arrived.notified();
                    let _ = tokio::time::timeout(Duration::from_secs(poll), arrived).await;
                    out = pending();
                }
                (StatusCode::OK, Json(json!({"ok": true, "result": out})))
            }
            _ => (
                StatusCode::NOT_FOUND,
                Json(json!({"ok": false, "description": "no such method"})),
            ),
        }
    }
}

/// A fake webhook receiver: records headers and raw bodies.
#[derive(Default)]
pub struct FakeWebhook {
    pub received: Mutex<Vec<(HeaderMap, Bytes)>>,
}

impl FakeWebhook {
    pub async fn start() -> (Arc<Self>, String) {
        let fake = Arc::new(Self::default());
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State(f): State<Arc<Self>>, headers: HeaderMap, body: Bytes| async move {
                        lock(&f.received).push((headers, body));
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(fake.clone());
        let addr = serve(app).await;
        (fake, format!("http://{addr}/hook"))
    }
}

/// A TCP endpoint that accepts connections and never answers.
pub async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

/// A fake-provider account on a manual clock (2 h idle policy).
pub struct FakeAccount {
    pub clock: ManualClock,
    pub provider: Arc<FakeProvider>,
    pub manager: TokenManager<FakeCreds>,
}

impl FakeAccount {
    pub fn new(label: &str, clock: &ManualClock) -> Self {
        let key = AccountKey::new("fake", Environment::Sandbox, label).unwrap();
        let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
        let config = ManagerConfig {
            retry: token_core::RetryPolicy {
                initial: chrono::Duration::seconds(30),
                max: chrono::Duration::minutes(5),
                jitter: 0.0,
            },
            ..ManagerConfig::default()
        };
        let manager = TokenManager::new(
            key,
            provider.clone(),
            Arc::new(MemoryStore::new()),
            Arc::new(
                EarliestOf::new()
                    .with(IdleTimeout::new(
                        chrono::Duration::hours(2),
                        chrono::Duration::minutes(10),
                    ))
                    .with(ExplicitExpiry),
            ),
            Arc::new(clock.clone()),
            config,
        );
        Self {
            clock: clock.clone(),
            provider,
            manager,
        }
    }

    pub async fn logged_in(label: &str, clock: &ManualClock) -> Self {
        let a = Self::new(label, clock);
        a.manager
            .install_authorized(a.provider.issue(a.manager.key()))
            .await
            .unwrap();
        a
    }

    pub fn erased(&self) -> Arc<dyn ManagedAccount> {
        Arc::new(self.manager.clone())
    }

    /// Runs maintenance passes, jumping the clock to each wake-up, until `hours` passed.
    pub async fn run_for(&self, hours: i64) {
        let end = self.clock.now() + chrono::Duration::hours(hours);
        loop {
            match self.manager.maintain().await {
                Some(t) if t <= end && t > self.clock.now() => self.clock.set(t),
                _ => break,
            }
        }
        if self.clock.now() < end {
            self.clock.set(end);
        }
    }
}

/// The configuration of broker-sim's E*TRADE sandbox application.
pub fn sim_etrade_config(running: &broker_sim::RunningSim) -> etrade::EtradeConfig {
    let c = running.credentials();
    etrade::EtradeConfig::new(
        Environment::Sandbox,
        c.etrade_consumer_key,
        c.etrade_consumer_secret.into(),
    )
    .with_base_url(&running.base_url)
    .unwrap()
}

/// The configuration of broker-sim's FYERS production application.
pub fn sim_fyers_config(running: &broker_sim::RunningSim) -> fyers::FyersConfig {
    let c = running.credentials();
    fyers::FyersConfig::new(
        Environment::Production,
        c.fyers_client_id.clone(),
        secrecy::SecretString::from(c.fyers_secret_key),
        secrecy::SecretString::from(c.fyers_pin),
        c.fyers_redirect_uri.clone(),
    )
    .with_base_url(&c.fyers_base_url)
    .unwrap()
}

/// An E*TRADE sandbox account `main` (no credentials yet) against
/// broker-sim, on `clock`, in memory.
pub fn etrade_manager(
    running: &broker_sim::RunningSim,
    clock: &ManualClock,
) -> TokenManager<etrade::EtradeCredentials> {
    let config = sim_etrade_config(running).with_timeout(Duration::from_secs(5));
    let key = config.account_key("main").unwrap();
    let provider = etrade::EtradeProvider::with_clock(config, Arc::new(clock.clone())).unwrap();
    TokenManager::new(
        key,
        Arc::new(provider),
        Arc::new(MemoryStore::new()),
        Arc::new(etrade::default_policy()),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    )
}

/// A FYERS production account `main` (no credentials yet) against
/// broker-sim, on `clock`, in memory.
pub fn fyers_manager(
    running: &broker_sim::RunningSim,
    clock: &ManualClock,
) -> TokenManager<fyers::FyersCreds> {
    let config = sim_fyers_config(running);
    let provider = fyers::FyersProvider::new(config, Arc::new(clock.clone())).unwrap();
    TokenManager::new(
        "fyers/production/main".parse().unwrap(),
        Arc::new(provider),
        Arc::new(MemoryStore::new()),
        Arc::new(fyers::default_policy()),
        Arc::new(clock.clone()),
        fyers::default_manager_config(),
    )
}

/// The query parameter `name` of `url` (panics when it has none).
pub fn query(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} missing in {url}"))
}

pub fn start_clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap())
}

/// Keeps every alert it is given.
#[derive(Debug, Default)]
pub struct Recorder {
    pub got: std::sync::Mutex<Vec<control::notify::Alert>>,
}

#[async_trait::async_trait]
impl control::notify::Notifier for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn notify(
        &self,
        alert: &control::notify::Alert,
    ) -> Result<(), control::notify::NotifyError> {
        lock(&self.got).push(alert.clone());
        Ok(())
    }
}

impl Recorder {
    pub fn kinds(&self) -> Vec<control::notify::AlertKind> {
        lock(&self.got).iter().map(|a| a.kind).collect()
    }
}

/// An alerter feeding a [`Recorder`], with `quiet_secs` before "recovered".
pub fn recorded(
    clock: &token_core::ManualClock,
    quiet_secs: u64,
) -> (control::notify::Alerter, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let config = control::NotifyConfig {
        recovery_quiet_secs: quiet_secs,
        ..control::NotifyConfig::default()
    };
    let alerter =
        control::notify::Alerter::new(vec![recorder.clone()], &config, Arc::new(clock.clone()));
    (alerter, recorder)
}
