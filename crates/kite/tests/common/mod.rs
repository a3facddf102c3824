//! Shared set-up: a broker-sim on loopback and a Kite manager sharing one
//! manual clock.
#![allow(dead_code)]

use std::sync::Arc;

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;
use kite::{KiteConfig, KiteCreds, KiteProvider};
use secrecy::SecretString;
use token_core::{AccountKey, Credentials, Environment, ManualClock, MemoryStore, TokenManager};

/// A local Asia/Kolkata time as UTC.
pub fn ist(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Kolkata
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .expect("IST has no gaps")
        .with_timezone(&Utc)
}

pub fn key() -> AccountKey {
    AccountKey::new("kite", Environment::Sandbox, "main").expect("valid key")
}

pub struct Env {
    pub clock: ManualClock,
    pub running: RunningSim,
    pub provider: Arc<KiteProvider>,
    pub manager: TokenManager<KiteCreds>,
}

impl Env {
    pub fn sim(&self) -> &BrokerSim {
        &self.running.sim
    }
}

/// The adapter's settings for a running simulator, with `secret`.
pub fn config_for(running: &RunningSim, secret: &str) -> KiteConfig {
    let k = running.sim.config().kite;
    KiteConfig::new(
        Environment::Sandbox,
        k.api_key,
        SecretString::from(secret.to_owned()),
        k.redirect_url,
    )
    .with_base_url(&running.base_url)
    .expect("the simulator listens on loopback")
}

/// Simulator + provider + manager at `at`, with the sim's own secret.
pub async fn start_at(sim_config: SimConfig, at: DateTime<Utc>) -> Env {
    let secret = sim_config.kite.api_secret.clone();
    start_with_secret(sim_config, at, &secret).await
}

pub async fn start_with_secret(sim_config: SimConfig, at: DateTime<Utc>, secret: &str) -> Env {
    let clock = ManualClock::new(at);
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone())
        .await
        .expect("simulator starts");
    let provider = Arc::new(
        KiteProvider::new(config_for(&running, secret), Arc::new(clock.clone()))
            .expect("valid config"),
    );
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(kite::default_policy()),
        Arc::new(clock.clone()),
        kite::default_manager_config(),
    );
    Env {
        clock,
        running,
        provider,
        manager,
    }
}

/// What a person does: open the login URL, log in (the simulator's
/// approval), paste the redirect URL.
pub async fn login(env: &Env) -> Credentials<KiteCreds> {
    let request = env.manager.begin_authorization().await.expect("login URL");
    assert!(
        request.url.contains("/connect/login?v=3&api_key="),
        "{}",
        request.url
    );
    let redirect = env
        .sim()
        .approve_kite(&env.sim().config().kite.api_key)
        .expect("approved");
    env.manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .expect("login completes")
}
