//! `tokenctl demo`: a multi-day lifecycle of one E*TRADE, one FYERS, one
//! Schwab and one Kite account against the embedded simulator, in simulated
//! time.
//!
//! It lives in its own crate so `tokenctl` itself names no broker: the CLI
//! hands it a [`Render`] (its status table and event wording) and prints
//! what it writes.
//!
//! One [`ManualClock`] drives the simulator and the four managers. The driver
//! jumps the clock to whichever comes first: a manager's next maintenance
//! deadline or the next scripted moment (a person logging in, the bot
//! trading, the bot's host sleeping), so days pass in milliseconds and the
//! output is the same on every run.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, Duration, TimeZone, Utc};
use etrade::{Etrade, EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
use fyers::{Fyers, FyersConfig, FyersCreds, FyersProvider};
use kite::Kite;
use schwab::Schwab;
use secrecy::SecretString;
use thiserror::Error;
use token_core::{
    health_report, Broker, Clock, Environment, Event, HealthReport, ManagedAccount, ManualClock,
    MemoryStore, TokenManager, TokenState,
};
use tokio::sync::broadcast;

mod script;
mod weekly;

/// How the demo's lines are worded: the CLI's own status table and event
/// descriptions, so the demo reads like `tokenctl status` and `tokenctl run`.
pub trait Render {
    /// One line describing an event (no time, no account).
    fn describe_event(&self, event: &Event) -> String;
    /// The status table.
    fn status_table(&self, report: &HealthReport) -> String;
    /// `fresh`, `idle`, ... for a token state.
    fn state_name(&self, state: Option<TokenState>) -> &'static str;
}

/// `Tue 02 Jun 00:00 UTC = Mon 20:00 EDT`: UTC, then the broker's exchange time.
fn timeline_stamp(t: DateTime<Utc>, broker: &str) -> String {
    let zone = match broker {
        Etrade::NAME => Etrade::exchange_zone(),
        Fyers::NAME => Fyers::exchange_zone(),
        Schwab::NAME => Schwab::exchange_zone(),
        Kite::NAME => Kite::exchange_zone(),
        _ => chrono_tz::UTC,
    };
    format!(
        "{} UTC = {}",
        t.format("%a %d %b %H:%M"),
        t.with_timezone(&zone).format("%a %H:%M %Z")
    )
}

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Full simulated days (Monday onwards); the demo ends the morning after.
    pub days: u32,
    /// Real time to pause after each printed line, so a person can follow.
    pub pace: StdDuration,
    /// Refresh-token life in the simulator, in days (short, so its expiry
    /// warning and the re-login show within the demo).
    pub fyers_refresh_days: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            days: 3,
            pace: StdDuration::from_millis(40),
            fyers_refresh_days: 2,
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, Error)]
pub enum DemoError {
    /// The simulator did not start.
    #[error("could not start the simulator: {0}")]
    Sim(#[from] broker_sim::SimError),
    /// A library call failed where the demo expected success.
    #[error("{what}: {source}")]
    Step {
        /// Which step.
        what: &'static str,
        /// The error.
        #[source]
        source: token_core::Error,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

fn step(what: &'static str) -> impl FnOnce(token_core::Error) -> DemoError {
    move |source| DemoError::Step { what, source }
}

struct Demo<'r, W: Write> {
    out: W,
    render: &'r dyn Render,
    pace: StdDuration,
    clock: ManualClock,
    running: RunningSim,
    et: TokenManager<EtradeCredentials>,
    et_client: EtradeClient,
    fy: TokenManager<FyersCreds>,
    fy_provider: Arc<FyersProvider>,
    weekly: weekly::Weekly,
    events: Vec<broadcast::Receiver<Event>>,
    bot_calls: u32,
}

/// Runs the demo, writing the timeline and the final status table to `out`.
/// Returns the final health report.
pub async fn run<W: Write>(
    opts: &DemoOptions,
    render: &dyn Render,
    out: W,
) -> Result<HealthReport, DemoError> {
    // Monday 1 June 2026, 08:00 in Mumbai (02:30 UTC; Sunday 22:30 in New York).
    let start = Utc
        .with_ymd_and_hms(2026, 6, 1, 2, 30, 0)
        .single()
        .unwrap_or_else(Utc::now);
    // The Schwab login the demo starts with was made the Wednesday before
    // (08:30 New York), so its 7-day end falls on the demo's Wednesday.
    let schwab_login = Utc
        .with_ymd_and_hms(2026, 5, 27, 12, 30, 0)
        .single()
        .unwrap_or(start);
    let clock = ManualClock::new(schwab_login);
    let sim_config = SimConfig {
        fyers_refresh_token_days: opts.fyers_refresh_days,
        ..SimConfig::default()
    };
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone()).await?;
    let creds = running.credentials();
    let app_clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let store = Arc::new(MemoryStore::new());

    let et_config = EtradeConfig::new(
        Environment::Sandbox,
        creds.etrade_consumer_key.clone(),
        SecretString::from(creds.etrade_consumer_secret.clone()),
    )
    .with_base_url(&running.base_url)
    .map_err(step("E*TRADE settings"))?
    .with_timeout(StdDuration::from_secs(10));
    let et_key = et_config
        .account_key("demo")
        .map_err(step("E*TRADE account"))?;
    let et_provider = Arc::new(
        EtradeProvider::with_clock(et_config, app_clock.clone())
            .map_err(step("E*TRADE provider"))?,
    );
    let et = Etrade::manager(et_key, et_provider.clone())
        .store(store.clone())
        .clock(app_clock.clone())
        .build();

    let fy_config = FyersConfig::new(
        Environment::Sandbox,
        creds.fyers_client_id.clone(),
        SecretString::from(creds.fyers_secret_key.clone()),
        SecretString::from(creds.fyers_pin.clone()),
        creds.fyers_redirect_uri.clone(),
    )
    .with_base_url(&creds.fyers_base_url)
    .map_err(step("FYERS settings"))?;
    let fy_key = fy_config
        .account_key("demo")
        .map_err(step("FYERS account"))?;
    let fy_provider =
        Arc::new(FyersProvider::new(fy_config, app_clock.clone()).map_err(step("FYERS provider"))?);
    let weekly = weekly::Weekly::build(&running, app_clock.clone(), store.clone())?;
    let fy = Fyers::manager(fy_key, fy_provider.clone())
        .store(store)
        .clock(app_clock)
        // Warn one day ahead (the demo's refresh token lives two days); the
        // 08:45 schedule stays.
        .configure(|c| c.expiry_warnings = vec![Duration::days(1)])
        .build();

    let events = vec![
        et.subscribe(),
        fy.subscribe(),
        weekly.sc.subscribe(),
        weekly.kt.subscribe(),
    ];
    weekly.schwab_login(&running).await?;
    clock.set(start);
    let et_client = EtradeClient::new(et.clone(), et_provider);
    let mut demo = Demo {
        out,
        render,
        pace: opts.pace,
        clock,
        running,
        et,
        et_client,
        fy,
        fy_provider,
        weekly,
        events,
        bot_calls: 0,
    };
    demo.intro(opts)?;
    demo.line(
        schwab_login,
        "schwab",
        "a person logs in (the weekly login) and pastes the redirect URL",
    )?;
    demo.print_events()?;
    let end = demo.drive(start, opts.days).await?;
    let accounts: Vec<Arc<dyn ManagedAccount>> = vec![
        Arc::new(demo.et.clone()),
        Arc::new(demo.fy.clone()),
        Arc::new(demo.weekly.sc.clone()),
        Arc::new(demo.weekly.kt.clone()),
    ];
    let report = health_report(end, &accounts);
    writeln!(
        demo.out,
        "\nStatus at {} UTC:\n",
        end.format("%a %d %b %H:%M")
    )?;
    write!(demo.out, "{}", render.status_table(&report))?;
    writeln!(
        demo.out,
        "\n{} E*TRADE, {} FYERS, {} Schwab and {} Kite token calls reached the simulator \
         ({} Schwab refreshes not shown above); the bot made {} API calls.",
        demo.sim_calls_etrade(),
        demo.sim_calls_fyers(),
        demo.sim_calls(&[broker_sim::Endpoint::SchwabToken]),
        demo.sim_calls(&[
            broker_sim::Endpoint::KiteSessionToken,
            broker_sim::Endpoint::KiteLogout
        ]),
        demo.weekly.quiet_refreshes,
        demo.bot_calls
    )?;
    demo.running.shutdown().await;
    Ok(report)
}

impl<W: Write> Demo<'_, W> {
    fn intro(&mut self, opts: &DemoOptions) -> std::io::Result<()> {
        writeln!(
            self.out,
            "broker-tokens demo: {} simulated days against the embedded broker simulator at {}",
            opts.days, self.running.base_url
        )?;
        writeln!(
            self.out,
            "E*TRADE: dies at midnight New York, idles after 2 h. FYERS: access token until 06:00 IST, \
             refresh token for {} days (shortened for the demo).",
            opts.fyers_refresh_days
        )?;
        writeln!(
            self.out,
            "Schwab: access token for 30 min, refreshed silently for 7 days from the login. \
             Kite: dies at 06:00 IST; a person logs in every trading day."
        )?;
        writeln!(self.out, "Each line: UTC = the exchange's local time (New York for E*TRADE and Schwab, Mumbai for FYERS and Kite).\n")
    }

    fn sim_calls(&self, endpoints: &[broker_sim::Endpoint]) -> u64 {
        endpoints.iter().map(|e| self.running.sim.calls(*e)).sum()
    }

    fn sim_calls_etrade(&self) -> u64 {
        use broker_sim::Endpoint::*;
        [
            EtradeRequestToken,
            EtradeAccessToken,
            EtradeRenew,
            EtradeRevoke,
            EtradeAccountsList,
        ]
        .into_iter()
        .map(|e| self.running.sim.calls(e))
        .sum()
    }

    fn sim_calls_fyers(&self) -> u64 {
        use broker_sim::Endpoint::*;
        [FyersValidateAuthcode, FyersValidateRefreshToken]
            .into_iter()
            .map(|e| self.running.sim.calls(e))
            .sum()
    }

    fn line(&mut self, at: DateTime<Utc>, who: &str, text: &str) -> std::io::Result<()> {
        let label = match who {
            "etrade" => "E*TRADE",
            "fyers" => "FYERS  ",
            "schwab" => "Schwab ",
            "kite" => "Kite   ",
            other => other,
        };
        writeln!(self.out, "{}  {label}  {text}", timeline_stamp(at, who))?;
        self.out.flush()?;
        if !self.pace.is_zero() {
            std::thread::sleep(self.pace);
        }
        Ok(())
    }

    fn print_events(&mut self) -> std::io::Result<()> {
        let mut all = Vec::new();
        for rx in &mut self.events {
            while let Ok(e) = rx.try_recv() {
                all.push(e);
            }
        }
        for e in all {
            if !self.weekly.shown(&e) {
                continue;
            }
            let at = e.at();
            let broker = e.key().broker().to_owned();
            let mut text = self.render.describe_event(&e);
            text.push_str(weekly::note(&e));
            self.line(at, &broker, &text)?;
        }
        Ok(())
    }
}
