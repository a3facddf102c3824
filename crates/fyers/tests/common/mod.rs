//! Shared set-up: a broker-sim on loopback and a FYERS manager sharing one
//! manual clock.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Kolkata;
use fyers::{FyersConfig, FyersCreds, FyersProvider};
use secrecy::{ExposeSecret, SecretString};
use token_core::{
    AccountKey, Credentials, Environment, Event, ManualClock, MemoryStore, StoreError,
    StoredRecord, TokenManager, TokenStore,
};

/// Monday 2026-03-02 10:00 IST.
pub fn monday_10_ist() -> DateTime<Utc> {
    ist(2026, 3, 2, 10, 0)
}

/// A local Asia/Kolkata time as UTC.
pub fn ist(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    token_core::testing::local(Kolkata, y, m, d, h, mi)
}

pub fn key() -> AccountKey {
    AccountKey::new("fyers", Environment::Production, "main").expect("valid key")
}

pub struct Env {
    pub clock: ManualClock,
    pub running: RunningSim,
    pub provider: Arc<FyersProvider>,
    pub manager: TokenManager<FyersCreds>,
    pub store: Arc<dyn TokenStore>,
}

impl Env {
    pub fn sim(&self) -> &BrokerSim {
        &self.running.sim
    }
}

/// The adapter's settings for a running simulator.
pub fn config_for(running: &RunningSim) -> FyersConfig {
    let c = running.credentials();
    FyersConfig::new(
        token_core::Environment::Production,
        c.fyers_client_id,
        SecretString::from(c.fyers_secret_key),
        SecretString::from(c.fyers_pin),
        c.fyers_redirect_uri,
    )
    .with_base_url(&c.fyers_base_url)
    .expect("the simulator listens on loopback")
}

pub async fn start_sim(sim_config: SimConfig, at: DateTime<Utc>) -> (ManualClock, RunningSim) {
    let clock = ManualClock::new(at);
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone())
        .await
        .expect("simulator starts");
    (clock, running)
}

/// A simulator, provider and manager with FYERS defaults, no login yet.
pub async fn start_with(
    sim_config: SimConfig,
    store: Arc<dyn TokenStore>,
    adjust: impl FnOnce(FyersConfig) -> FyersConfig,
) -> Env {
    let (clock, running) = start_sim(sim_config, monday_10_ist()).await;
    let provider = Arc::new(
        FyersProvider::new(adjust(config_for(&running)), Arc::new(clock.clone()))
            .expect("valid config"),
    );
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        Arc::new(fyers::default_policy()),
        Arc::new(clock.clone()),
        fyers::default_manager_config(),
    );
    Env {
        clock,
        running,
        provider,
        manager,
        store,
    }
}

pub async fn start() -> Env {
    start_with(SimConfig::default(), Arc::new(MemoryStore::new()), |c| c).await
}

/// The `state` query parameter of a login URL.
pub fn state_of(login_url: &str) -> String {
    url::Url::parse(login_url)
        .expect("login URL parses")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("login URL has a state")
}

/// What a person does: open the login URL, log in, paste the redirect URL.
pub async fn login(env: &Env) -> Credentials<FyersCreds> {
    let request = env.manager.begin_authorization().await.expect("login URL");
    let redirect = approve(env, &request.url);
    env.manager
        .complete_authorization(&redirect)
        .await
        .expect("login completes")
}

/// The simulator's redirect URL for a login URL.
pub fn approve(env: &Env, login_url: &str) -> SecretString {
    let c = env.running.credentials();
    SecretString::from(
        env.sim()
            .approve_fyers(
                &c.fyers_client_id,
                &c.fyers_redirect_uri,
                &state_of(login_url),
            )
            .expect("simulated login"),
    )
}

/// Drains every event received so far.
pub fn drain(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

pub fn access(creds: &FyersCreds) -> String {
    creds.access_token.expose_secret().to_string()
}

pub fn refresh(creds: &FyersCreds) -> String {
    creds
        .refresh_token
        .as_ref()
        .map(|r| r.expose_secret().to_string())
        .unwrap_or_default()
}

/// A store that fails the next N saves, then delegates; records every
/// refresh token it was asked to save.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub fail_next: AtomicU32,
    pub saved_refresh: Mutex<Vec<String>>,
    /// For each save: the refresh token the observed manager was serving.
    pub served_at_save: Mutex<Vec<Option<String>>>,
    observed: OnceLock<TokenManager<FyersCreds>>,
}

impl FlakyStore {
    /// Records what `manager` serves at each save.
    pub fn observe(&self, manager: TokenManager<FyersCreds>) {
        let _ = self.observed.set(manager);
    }
}

#[async_trait]
impl TokenStore for FlakyStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        self.inner.load(key).await
    }
    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::Backend("disk full (test)".into()));
        }
        if let Some(m) = self.observed.get() {
            let served = m.peek().ok().map(|c| refresh(&c.payload));
            self.served_at_save
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(served);
        }
        if let Some(r) = record.payload.get("refresh_token") {
            self.saved_refresh
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(r.expose_secret().to_string());
        }
        self.inner.save(record).await
    }
    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.inner.list().await
    }
}
