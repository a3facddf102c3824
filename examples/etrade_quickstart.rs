//! E*TRADE in five steps, against the embedded simulator: log in, make a
//! signed API call, renew, and read the account's status.
//!
//! ```sh
//! cargo run --example etrade_quickstart
//! ```
//!
//! Against the real broker, drop the simulator, use `Environment::Production`
//! (or `Sandbox`) with your consumer key, and let a person open the URL.

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{TimeZone, Utc};
use etrade::{Etrade, EtradeClient, EtradeConfig, EtradeProvider};
use secrecy::SecretString;
use token_core::{Broker, Environment, HealthStatus, ManualClock};

/// What the example did, for its test.
#[derive(Debug)]
pub struct Outcome {
    /// HTTP status of the signed quote request.
    pub quote_status: u16,
    /// `renew_access_token` calls the broker saw.
    pub renewals: u64,
    /// The account's health at the end.
    pub status: HealthStatus,
}

pub async fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    // 1. A broker to talk to: the simulator on 127.0.0.1, on a clock we control
    //    (Thursday 5 March 2026, 09:00 in New York).
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone()).await?;
    let demo = sim.credentials();

    // 2. Configure the adapter and a manager for one account.
    let config = EtradeConfig::new(
        Environment::Sandbox,
        demo.etrade_consumer_key.clone(),
        SecretString::from(demo.etrade_consumer_secret.clone()),
    )
    .with_base_url(&sim.base_url)?;
    let key = config.account_key("main")?;
    let provider = Arc::new(EtradeProvider::with_clock(config, Arc::new(clock.clone()))?);
    // E*TRADE's defaults (midnight New York, 2 h idle) come with the bundle;
    // tokens stay in memory here (`.file_store(dir)?` in production).
    let manager = Etrade::manager(key, provider.clone())
        .clock(Arc::new(clock.clone()))
        .build();

    // 3. Log in: a person opens the URL and types the verifier. Here the
    //    simulator plays the person.
    let request = manager.begin_authorization().await?;
    println!("open: {}", request.url);
    let token = url_param(&request.url, "token").ok_or("authorize URL without token")?;
    let verifier = sim.sim.approve_etrade(&token)?;
    manager
        .complete_authorization(&SecretString::from(verifier))
        .await?;
    println!("logged in as {}", manager.key());

    // 4. A signed API call; the client renews and retries by itself if the
    //    token went idle.
    let client = EtradeClient::new(manager.clone(), provider);
    let quote = client.get("/v1/market/quote/AAPL.json").await?;
    println!("GET /v1/market/quote/AAPL -> {}", quote.status);

    // 5. Renew explicitly (normally the maintenance task does this when needed).
    manager.renew_now().await?;
    let health = manager.health();
    println!(
        "status: {:?}, expires {:?}, idle at {:?}",
        health.status, health.expires_at, health.idle_at
    );
    Ok(Outcome {
        quote_status: quote.status.as_u16(),
        renewals: sim.sim.calls(Endpoint::EtradeRenew),
        status: health.status,
    })
}

fn url_param(url: &str, name: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let value = url.query_pairs().find(|(k, _)| k == name)?.1;
    Some(value.into_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}
