//! A logged-in E*TRADE account against broker-sim on loopback, all on one
//! ManualClock.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, TimeZone, Utc};
use etrade::{EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
use token_core::{
    AccountKey, Clock, Environment, Event, ManagerConfig, ManualClock, MemoryStore, Metadata,
    Record, TokenManager, TokenStore,
};
use tokio::sync::broadcast;

pub struct Env {
    pub running: RunningSim,
    pub sim: BrokerSim,
    pub clock: ManualClock,
    pub provider: Arc<EtradeProvider>,
    pub manager: TokenManager<EtradeCredentials>,
    pub client: EtradeClient,
    pub events: broadcast::Receiver<Event>,
}

/// New York local time on a date, as UTC.
pub fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    token_core::testing::local(chrono_tz::America::New_York, y, m, d, h, mi)
}

pub fn config_for(running: &RunningSim, env: Environment) -> EtradeConfig {
    let c = running.credentials();
    EtradeConfig::new(env, c.etrade_consumer_key, c.etrade_consumer_secret.into())
        .with_base_url(&running.base_url)
        .expect("loopback URL is allowed")
        .with_timeout(StdDuration::from_secs(5))
}

pub async fn setup_at(at: DateTime<Utc>, sim_config: SimConfig) -> Env {
    let clock = ManualClock::new(at);
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone())
        .await
        .expect("simulator starts");
    let config = config_for(&running, Environment::Sandbox);
    build(
        running,
        clock.clone(),
        Arc::new(clock),
        config,
        Arc::new(MemoryStore::new()),
    )
}

/// `app_clock` drives the provider and manager (it may differ from the simulator's).
pub fn build(
    running: RunningSim,
    clock: ManualClock,
    app_clock: Arc<dyn Clock>,
    config: EtradeConfig,
    store: Arc<dyn TokenStore>,
) -> Env {
    let key = config.account_key("main").expect("valid key");
    let provider =
        Arc::new(EtradeProvider::with_clock(config, app_clock.clone()).expect("provider"));
    let manager = TokenManager::new(
        key,
        provider.clone(),
        store,
        Arc::new(etrade::default_policy()),
        app_clock,
        ManagerConfig::default(),
    );
    let events = manager.subscribe();
    let client = EtradeClient::new(manager.clone(), provider.clone());
    let sim = running.sim.clone();
    Env {
        running,
        sim,
        clock,
        provider,
        manager,
        client,
        events,
    }
}

pub async fn setup() -> Env {
    setup_at(ny(2026, 3, 5, 9, 0), SimConfig::default()).await
}

/// The request token in an authorize URL.
pub fn request_token_of(url: &str) -> String {
    url::Url::parse(url)
        .expect("authorize URL parses")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("authorize URL carries token")
}

impl Env {
    /// The whole interactive login, with the simulator playing the person.
    pub async fn login(&self) {
        let req = self
            .manager
            .begin_authorization()
            .await
            .expect("request token");
        let verifier = self
            .sim
            .approve_etrade(&request_token_of(&req.url))
            .expect("approve");
        self.manager
            .complete_authorization(&verifier.into())
            .await
            .expect("access token");
    }

    /// Runs maintenance passes, jumping the clock to each wake-up, until `end`.
    pub async fn maintain_until(&self, end: DateTime<Utc>) {
        loop {
            let next = self.manager.maintain().await;
            match next {
                Some(t) if t <= end && t > self.clock.now() => self.clock.set(t),
                _ => break,
            }
        }
        if self.clock.now() < end {
            self.clock.set(end);
        }
    }

    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    pub async fn quote(&self) -> Result<etrade::ApiResponse, etrade::EtradeError> {
        self.client
            .get("/v1/market/quote/AAPL,MSFT.json?detailFlag=ALL&requireEarningsDate=true")
            .await
    }
}

/// Whether a person was asked to log in, with a URL to open.
pub fn asks_for_login(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::ReauthorizationRequired { url: Some(_), .. }))
}

/// A provider for a server that is not broker-sim (e.g. a `CannedServer`),
/// on a manual clock at 2026-03-06 14:30 UTC.
pub fn offline_provider(base: &str, consumer_secret: &str) -> EtradeProvider {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap());
    let config = EtradeConfig::new(
        Environment::Sandbox,
        "consumer-key",
        consumer_secret.to_string().into(),
    )
    .with_base_url(base)
    .expect("loopback URL is allowed")
    .with_timeout(StdDuration::from_secs(5));
    EtradeProvider::with_clock(config, Arc::new(clock)).expect("provider")
}

/// A record issued half an hour before [`offline_provider`]'s clock.
pub fn offline_record(token: &str, token_secret: &str) -> Record<EtradeCredentials> {
    Record::new(
        AccountKey::new("etrade", Environment::Sandbox, "main").expect("valid key"),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 3, 6, 14, 0, 0).unwrap()),
        EtradeCredentials::new(token.to_string().into(), token_secret.to_string().into()),
    )
}

pub fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.name()).collect()
}
