//! `tokenctl demo`: a multi-day lifecycle of one E*TRADE and one FYERS
//! account against the embedded simulator, in simulated time.
//!
//! It lives in its own crate so `tokenctl` itself names no broker: the CLI
//! hands it a [`Render`] (its status table and event wording) and prints
//! what it writes.
//!
//! One [`ManualClock`] drives the simulator and both managers. The driver
//! jumps the clock to whichever comes first: a manager's next maintenance
//! deadline or the next scripted moment (a person logging in, the bot
//! trading, the bot's host sleeping), so days pass in milliseconds and the
//! output is the same on every run.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use etrade::{Etrade, EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
use fyers::{Fyers, FyersConfig, FyersCreds, FyersProvider};
use secrecy::SecretString;
use thiserror::Error;
use token_core::{
    health_report, Broker, Clock, Environment, Event, HealthReport, ManagedAccount, ManualClock,
    MemoryStore, TokenManager, TokenProvider, TokenState,
};
use tokio::sync::broadcast;

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
    let zone = if broker == Etrade::NAME {
        Etrade::exchange_zone()
    } else if broker == Fyers::NAME {
        Fyers::exchange_zone()
    } else {
        chrono_tz::UTC
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Etrade,
    Fyers,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    /// A person logs in if the account has no usable token.
    PersonLogin(Who),
    /// The bot makes an API call; `loud` ones are printed.
    BotCall(Who, bool),
    /// The bot's host goes to sleep: E*TRADE maintenance stops.
    HostSleeps,
    /// It wakes up and trades again.
    HostWakes,
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
    events: Vec<broadcast::Receiver<Event>>,
    bot_calls: u32,
}

fn local(tz: Tz, date: chrono::NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    token_core::schedule::resolve_local(tz, date.and_hms_opt(h, m, 0).unwrap_or_default())
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
    let clock = ManualClock::new(start);
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
    let fy = Fyers::manager(fy_key, fy_provider.clone())
        .store(store)
        .clock(app_clock)
        // Warn one day ahead (the demo's refresh token lives two days); the
        // 08:45 schedule stays.
        .configure(|c| c.expiry_warning = Duration::days(1))
        .build();

    let events = vec![et.subscribe(), fy.subscribe()];
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
        events,
        bot_calls: 0,
    };
    demo.intro(opts)?;
    let end = demo.drive(start, opts.days).await?;
    let accounts: Vec<Arc<dyn ManagedAccount>> =
        vec![Arc::new(demo.et.clone()), Arc::new(demo.fy.clone())];
    let report = health_report(end, &accounts);
    writeln!(
        demo.out,
        "\nStatus at {} UTC:\n",
        end.format("%a %d %b %H:%M")
    )?;
    write!(demo.out, "{}", render.status_table(&report))?;
    writeln!(
        demo.out,
        "\n{} E*TRADE and {} FYERS token calls reached the simulator; the bot made {} API calls.",
        demo.sim_calls_etrade(),
        demo.sim_calls_fyers(),
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
        writeln!(self.out, "Each line: UTC = the exchange's local time (New York for E*TRADE, Mumbai for FYERS).\n")
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
            let at = e.at();
            let broker = e.key().broker().to_owned();
            let text = self.render.describe_event(&e);
            self.line(at, &broker, &text)?;
        }
        Ok(())
    }

    fn script(start: DateTime<Utc>, days: u32) -> Vec<(DateTime<Utc>, Action)> {
        let ny = chrono_tz::America::New_York;
        let ist = chrono_tz::Asia::Kolkata;
        let first = start.with_timezone(&ist).date_naive();
        let mut s = Vec::new();
        for d in 0..=days {
            let date = first + Duration::days(i64::from(d));
            s.push((local(ist, date, 8, 50), Action::PersonLogin(Who::Fyers)));
            s.push((local(ist, date, 9, 15), Action::BotCall(Who::Fyers, true)));
            s.push((local(ist, date, 13, 0), Action::BotCall(Who::Fyers, false)));
            s.push((local(ny, date, 9, 0), Action::PersonLogin(Who::Etrade)));
            s.push((local(ny, date, 9, 30), Action::BotCall(Who::Etrade, true)));
            for m in [60, 90, 120] {
                s.push((
                    local(ny, date, 9, 0) + Duration::minutes(m),
                    Action::BotCall(Who::Etrade, false),
                ));
            }
            s.push((local(ny, date, 13, 0), Action::HostSleeps));
            s.push((local(ny, date, 20, 0), Action::HostWakes));
        }
        s.sort_by_key(|(t, _)| *t);
        s
    }

    /// Runs until the last morning's E*TRADE login; returns the end instant.
    async fn drive(&mut self, start: DateTime<Utc>, days: u32) -> Result<DateTime<Utc>, DemoError> {
        let first_ny = start
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive()
            + Duration::days(1);
        let end = local(
            chrono_tz::America::New_York,
            first_ny + Duration::days(i64::from(days)),
            9,
            5,
        );
        let mut script = Self::script(start, days)
            .into_iter()
            .filter(|(t, _)| *t <= end)
            .peekable();
        let mut host_awake = true;
        let mut et_next = self.et.maintain().await;
        let mut fy_next = self.fy.maintain().await;
        self.print_events()?;
        loop {
            let now = self.clock.now();
            let action_at = script.peek().map(|(t, _)| *t);
            let et_due = et_next.filter(|_| host_awake);
            let next = [action_at, et_due, fy_next].into_iter().flatten().min();
            let Some(t) = next.filter(|t| *t <= end) else {
                break;
            };
            self.clock.set(t.max(now));
            if action_at == Some(t) {
                if let Some((_, action)) = script.next() {
                    match action {
                        Action::HostSleeps => host_awake = false,
                        Action::HostWakes => host_awake = true,
                        _ => {}
                    }
                    self.act(t, action).await?;
                    if let Action::HostWakes = action {
                        self.act(t, Action::BotCall(Who::Etrade, true)).await?;
                    }
                }
            }
            // Maintenance at this instant, for whatever is due (or changed).
            if host_awake {
                et_next = self.et.maintain().await;
            }
            fy_next = self.fy.maintain().await;
            self.print_events()?;
        }
        self.clock.set(end);
        Ok(end)
    }

    async fn act(&mut self, at: DateTime<Utc>, action: Action) -> Result<(), DemoError> {
        match action {
            Action::PersonLogin(Who::Etrade) if self.et.token().is_err() => {
                let req = self
                    .et
                    .begin_authorization()
                    .await
                    .map_err(step("E*TRADE request token"))?;
                let token = request_token(&req.url);
                let verifier = self.running.sim.approve_etrade(&token).map_err(|e| {
                    step("E*TRADE approval")(token_core::Error::Config(e.to_string()))
                })?;
                self.line(
                    at,
                    "etrade",
                    "a person opens the authorize page, logs in and types the verifier",
                )?;
                self.et
                    .complete_authorization(&SecretString::from(verifier))
                    .await
                    .map_err(step("E*TRADE access token"))?;
            }
            Action::PersonLogin(Who::Fyers) if self.fy.token().is_err() => {
                let req = self
                    .fy
                    .begin_authorization()
                    .await
                    .map_err(step("FYERS login URL"))?;
                let state = query_param(&req.url, "state");
                let c = self.running.credentials();
                let redirect = self
                    .running
                    .sim
                    .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
                    .map_err(|e| {
                        step("FYERS approval")(token_core::Error::Config(e.to_string()))
                    })?;
                self.line(
                    at,
                    "fyers",
                    "a person opens the login URL, logs in; the redirect is captured",
                )?;
                self.fy
                    .complete_authorization(&SecretString::from(redirect))
                    .await
                    .map_err(step("FYERS auth code exchange"))?;
            }
            Action::PersonLogin(_) => {}
            Action::BotCall(Who::Etrade, loud) => {
                self.bot_calls += 1;
                let text = match self.et_client.get("/v1/market/quote/AAPL.json").await {
                    Ok(r) => format!(
                        "bot: GET /v1/market/quote/AAPL (signed) -> HTTP {}",
                        r.status
                    ),
                    Err(e) => format!("bot: quote failed ({e}); trading paused"),
                };
                self.print_events()?;
                if loud || !text.contains("HTTP 200") {
                    self.line(at, "etrade", &text)?;
                }
            }
            Action::BotCall(Who::Fyers, loud) => {
                self.bot_calls += 1;
                let text = match self.fy.ensure_fresh().await {
                    Ok(creds) => match self.fy_provider.probe(&creds).await {
                        Ok(()) => {
                            "bot: GET /profile with `Authorization: client_id:access_token` -> ok"
                                .to_owned()
                        }
                        Err(e) => format!("bot: API call failed ({e})"),
                    },
                    Err(e) => format!("bot: no usable token ({e}); trading paused"),
                };
                self.print_events()?;
                if loud || !text.ends_with("-> ok") {
                    self.line(at, "fyers", &text)?;
                }
            }
            Action::HostSleeps => {
                self.line(
                    at,
                    "etrade",
                    "the bot's host sleeps: no calls, no maintenance",
                )?;
            }
            Action::HostWakes => {
                let state = self.render.state_name(self.et.evaluate().map(|e| e.state));
                self.line(at, "etrade", &format!("the host wakes; token is {state}"))?;
            }
        }
        Ok(())
    }
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default()
}

fn request_token(url: &str) -> String {
    query_param(url, "token")
}
