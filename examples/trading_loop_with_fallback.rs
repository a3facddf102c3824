//! A trading engine loop that listens to token events: it trades live while
//! the E*TRADE token is usable, switches to paper trading when the token dies
//! at midnight New York (the event carries the URL a person must open), and
//! switches back when the person has logged in again.
//!
//! ```sh
//! cargo run --example trading_loop_with_fallback
//! ```

use std::sync::Arc;

use broker_sim::{BrokerSim, SimConfig};
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::America::New_York;
use etrade::{Etrade, EtradeConfig, EtradeCredentials, EtradeProvider};
use secrecy::SecretString;
use token_core::{Broker, Clock, Environment, Event, ManualClock, TokenManager};

/// How the engine trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real orders.
    Live,
    /// Simulated fills only: no usable token.
    Paper,
}

/// Every switch, with its New York time, for the example's test.
pub type Switches = Vec<(DateTime<Utc>, Mode)>;

fn ny(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    New_York
        .with_ymd_and_hms(2026, 3, d, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub async fn run() -> Result<Switches, Box<dyn std::error::Error>> {
    let clock = ManualClock::new(ny(5, 8, 55));
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone()).await?;
    let demo = sim.credentials();
    let config = EtradeConfig::new(
        Environment::Sandbox,
        demo.etrade_consumer_key.clone(),
        SecretString::from(demo.etrade_consumer_secret.clone()),
    )
    .with_base_url(&sim.base_url)?;
    let key = config.account_key("engine")?;
    let provider = Arc::new(EtradeProvider::with_clock(config, Arc::new(clock.clone()))?);
    let manager: TokenManager<EtradeCredentials> = Etrade::manager(key, provider)
        .clock(Arc::new(clock.clone()))
        .build();
    let mut events = manager.subscribe();

    // The person's part: open the URL, type the verifier (the simulator approves).
    let login = |m: TokenManager<EtradeCredentials>, sim: broker_sim::BrokerSim| async move {
        let req = m.begin_authorization().await?;
        let token = url::Url::parse(&req.url)?
            .query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .ok_or("no request token in the URL")?;
        let verifier = sim.approve_etrade(&token)?;
        m.complete_authorization(&SecretString::from(verifier))
            .await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    };

    let mut mode = Mode::Paper;
    let mut switches: Switches = Vec::new();
    let mut switch = |to: Mode, at: DateTime<Utc>, why: &str| {
        if mode != to {
            mode = to;
            switches.push((at, to));
            println!(
                "{}  -> {to:?} ({why})",
                at.with_timezone(&New_York).format("%a %H:%M %Z")
            );
        }
    };

    // One engine tick every 15 simulated minutes from Thursday 09:00 to Friday 10:00.
    let mut tick = ny(5, 9, 0);
    while tick <= ny(6, 10, 0) {
        // Maintenance up to this tick (a bot would run manager.spawn_maintenance()).
        while let Some(next) = manager.maintain().await.filter(|t| *t <= tick) {
            clock.set(next.max(clock.now()));
        }
        clock.set(tick);
        manager.maintain().await;
        // A person logs in at 09:00 each morning the token is dead.
        if manager.token().is_err()
            && tick.with_timezone(&New_York).format("%H:%M").to_string() == "09:00"
        {
            login(manager.clone(), sim.sim.clone()).await?;
        }
        // React to events: the engine never polls the broker to find out.
        while let Ok(event) = events.try_recv() {
            match event {
                Event::ReauthorizationRequired { at, url, .. } => {
                    println!(
                        "   alert: a person must log in at {}",
                        url.unwrap_or_default()
                    );
                    switch(Mode::Paper, at, "token dead")
                }
                Event::Expired { at, .. } => switch(Mode::Paper, at, "token expired"),
                Event::Authorized { at, .. } | Event::Recovered { at, .. } => {
                    switch(Mode::Live, at, "token back")
                }
                _ => {}
            }
        }
        // The hot path, every tick: no lock, no await.
        match manager.token() {
            Ok(_creds) => {} // sign and send the order with the credentials
            Err(why) => switch(Mode::Paper, tick, &why.to_string()),
        }
        tick += Duration::minutes(15);
    }
    Ok(switches)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}
