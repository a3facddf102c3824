//! FYERS: log in once, then let the manager re-mint the access token every
//! morning from the refresh token and the PIN, and build the
//! `Authorization: client_id:access_token` header for API calls.
//!
//! ```sh
//! cargo run --example fyers_daily_refresh
//! ```

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{Duration, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;
use fyers::{Fyers, FyersConfig, FyersProvider};
use secrecy::{ExposeSecret, SecretString};
use token_core::{Broker, Clock, Environment, Event, ManualClock, RenewalReason, TokenManager};

/// What the example did, for its test.
#[derive(Debug)]
pub struct Outcome {
    /// `validate-refresh-token` calls over the simulated days.
    pub refreshes: u64,
    /// `Renewed { reason: Scheduled }` events (the 08:45 IST refresh).
    pub scheduled_refreshes: usize,
    /// The header changed after the first refresh (a new access token).
    pub header_changed: bool,
    /// The header value starts with the client id and a colon.
    pub header_shape_ok: bool,
}

pub async fn run() -> Result<Outcome, Box<dyn std::error::Error>> {
    // Monday 2 March 2026, 08:00 in Mumbai.
    let start = Kolkata
        .with_ymd_and_hms(2026, 3, 2, 8, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let clock = ManualClock::new(start);
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone()).await?;
    let demo = sim.credentials();

    let config = FyersConfig::new(
        Environment::Production,
        demo.fyers_client_id.clone(),
        SecretString::from(demo.fyers_secret_key.clone()), // std::env::var("FYERS_SECRET_KEY")? in production
        SecretString::from(demo.fyers_pin.clone()),
        demo.fyers_redirect_uri.clone(),
    )
    .with_base_url(&demo.fyers_base_url)?;
    let config_key = config.account_key("main")?;
    let provider = Arc::new(FyersProvider::new(config, Arc::new(clock.clone()))?);
    let key = config_key;
    // The bundle's defaults: refresh 08:45 IST Mon-Fri, warn 3 days ahead.
    let manager = Fyers::manager(key, provider.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    let mut events = manager.subscribe();

    // Log in once: a person opens the URL; the browser lands on the redirect
    // URI (capture it with fyers::login_via_loopback, or paste it).
    let request = manager.begin_authorization().await?;
    let state = url::Url::parse(&request.url)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .ok_or("login URL without state")?;
    let redirect =
        sim.sim
            .approve_fyers(&demo.fyers_client_id, &demo.fyers_redirect_uri, &state)?;
    manager
        .complete_authorization(&SecretString::from(redirect))
        .await?;

    let header =
        |m: &TokenManager<fyers::FyersCreds>| -> Result<String, Box<dyn std::error::Error>> {
            let creds = m.token()?;
            // Send this as the Authorization header (it is secret: never log it).
            Ok(creds
                .payload
                .authorization(provider.client_id())
                .expose_secret()
                .to_owned())
        };
    let first = header(&manager)?;

    // Three days of maintenance: sleep until the next deadline, act, repeat.
    // (In a bot: `let _task = manager.spawn_maintenance();` on the system clock.)
    let end = start + Duration::days(3);
    while let Some(next) = manager.maintain().await.filter(|t| *t <= end) {
        clock.set(next);
    }
    let mut scheduled = 0;
    while let Ok(e) = events.try_recv() {
        if let Event::Renewed { at, reason, .. } = &e {
            scheduled += usize::from(*reason == RenewalReason::Scheduled);
            println!("{}  refreshed ({reason})", at.with_timezone(&Kolkata));
        }
    }
    let last = header(&manager)?;
    println!(
        "now {}: token usable, header ready",
        clock.now().with_timezone(&Kolkata)
    );
    Ok(Outcome {
        refreshes: sim.sim.calls(Endpoint::FyersValidateRefreshToken),
        scheduled_refreshes: scheduled,
        header_changed: first != last,
        header_shape_ok: last.starts_with(&format!("{}:", demo.fyers_client_id)),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}
