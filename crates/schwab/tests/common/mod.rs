//! Shared set-up: a broker-sim on loopback and a Schwab manager sharing one
//! manual clock.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use schwab::{SchwabConfig, SchwabCreds, SchwabProvider};
use secrecy::{ExposeSecret, SecretString};
use token_core::{
    AccountKey, Credentials, Environment, Event, ManualClock, MemoryStore, StoreError,
    StoredRecord, TokenManager, TokenStore,
};

/// A local America/New_York time as UTC.
pub fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    New_York
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .expect("no gap")
        .with_timezone(&Utc)
}

/// Monday 2026-03-02 08:00 New York.
pub fn monday_8_ny() -> DateTime<Utc> {
    ny(2026, 3, 2, 8, 0)
}

pub fn key() -> AccountKey {
    AccountKey::new("schwab", Environment::Production, "main").expect("valid key")
}

pub struct Env {
    pub clock: ManualClock,
    pub running: RunningSim,
    pub provider: Arc<SchwabProvider>,
    pub manager: TokenManager<SchwabCreds>,
    pub store: Arc<dyn TokenStore>,
}

impl Env {
    pub fn sim(&self) -> &BrokerSim {
        &self.running.sim
    }
}

/// The adapter's settings for a running simulator.
pub fn config_for(running: &RunningSim) -> SchwabConfig {
    let c = running.sim.config().schwab;
    SchwabConfig::new(
        Environment::Production,
        c.app_key,
        SecretString::from(c.app_secret),
        c.callback_url,
    )
    .with_base_url(&running.schwab_base_url())
    .expect("the simulator listens on loopback")
}

pub async fn start_with(sim_config: SimConfig, store: Arc<dyn TokenStore>) -> Env {
    let clock = ManualClock::new(monday_8_ny());
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone())
        .await
        .expect("simulator starts");
    let provider = Arc::new(
        SchwabProvider::new(config_for(&running), Arc::new(clock.clone())).expect("valid config"),
    );
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        Arc::new(schwab::default_policy()),
        Arc::new(clock.clone()),
        schwab::default_manager_config(),
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
    start_with(SimConfig::default(), Arc::new(MemoryStore::new())).await
}

/// What a person does: open the login URL, log in, paste the redirect URL.
pub async fn login(env: &Env) -> Credentials<SchwabCreds> {
    let request = env.manager.begin_authorization().await.expect("login URL");
    let redirect = env.sim().approve_schwab_url(&request.url).expect("approve");
    env.manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .expect("login completes")
}

pub fn drain(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

pub fn access(c: &SchwabCreds) -> String {
    c.access_token.expose_secret().to_string()
}

pub fn refresh(c: &SchwabCreds) -> String {
    c.refresh_token.expose_secret().to_string()
}

/// A store that fails the next N saves, then delegates; records every
/// refresh token it was asked to save and what the manager served then.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub fail_next: AtomicU32,
    pub saved_refresh: Mutex<Vec<String>>,
    pub served_at_save: Mutex<Vec<Option<String>>>,
    observed: OnceLock<TokenManager<SchwabCreds>>,
}

impl FlakyStore {
    pub fn observe(&self, manager: TokenManager<SchwabCreds>) {
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
