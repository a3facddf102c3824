//! The daily login over a simulated week, one per broker, against
//! broker-sim on the manual clock (issue 13, "Done when").
//!
//! The account is maintained as the daemon does it: a manager with the
//! broker's standard configuration (login window, exchange calendar) over a
//! store and pending logins in a temporary directory, the control server
//! (routes, alerter, Telegram re-authorization against a fake Bot API) on
//! its events, and a second "CLI" manager over the same directory, as
//! `tokenctl login` opens it. Each trading day the token dies, nobody is
//! asked before the login window opens, one prompt comes at the opening,
//! and the person answers through a different entry point each day: the
//! CLI on stdin, the control server's `/login` routes, Telegram, the
//! redirect (FYERS: captured at `/callback`; E*TRADE: the pasted callback
//! URL), and one day late, after the window closed. A holiday and the
//! weekend bring no prompt at all.

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use chrono_tz::Asia::Kolkata;
use chrono_tz::Tz;
use common::{control_config, lock, query, wait_for, FakeTelegram, BOT_TOKEN, CHAT};
use control::reauth::{reauthorize, ConsoleChannel};
use control::{
    Background, ControlConfig, NotifyConfig, RateLimitConfig, SecretSource, Server, TelegramConfig,
};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use token_core::store::DirPendingLogins;
use token_core::testing::{local, maintain_until};
use token_core::{
    Broker, Clock, Event, FileStore, HealthStatus, ManualClock, Payload, TokenManager, TokenStore,
};
use tokio::sync::broadcast::Receiver;

const TOKEN: &str = "ctl-9f3b7a1c5e2d48b6a0c4e8f1d3b5a7c9e2f4d6b8";

/// What a day's prompt said: when, which reminder, which URL.
type Prompt = (DateTime<Utc>, u32, String);

/// One account maintained like the daemon, plus the person's entry points.
struct Week<P: Payload> {
    zone: Tz,
    clock: ManualClock,
    sim: RunningSim,
    daemon: TokenManager<P>,
    /// `tokenctl login`: another manager over the same directory.
    cli: TokenManager<P>,
    events: Receiver<Event>,
    telegram: Arc<FakeTelegram>,
    base: String,
    http: reqwest::Client,
    _background: Background,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// The daemon's manager and the CLI's over one directory (store and
/// pending logins), both built by `make`.
async fn week<P: Payload>(
    zone: Tz,
    clock: ManualClock,
    sim: RunningSim,
    make: impl Fn(&RunningSim, &ManualClock, &std::path::Path) -> TokenManager<P>,
    public_url: Option<&str>,
) -> Week<P> {
    let dir = tempfile::tempdir().unwrap();
    let daemon = make(&sim, &clock, dir.path());
    let cli = make(&sim, &clock, dir.path());
    let events = daemon.subscribe();
    let (telegram, telegram_base) = FakeTelegram::start().await;
    let ctl = tempfile::tempdir().unwrap();
    let bot = ctl.path().join("bot");
    std::fs::write(&bot, BOT_TOKEN).unwrap();
    let config = ControlConfig {
        rate_limit: RateLimitConfig {
            burst: 100,
            per_minute: 100,
        },
        public_url: public_url.map(str::to_owned),
        ..control_config(ctl.path(), TOKEN)
    };
    let notify = NotifyConfig {
        telegram: Some(TelegramConfig {
            bot_token: SecretSource::File(bot),
            chat_id: CHAT,
            base_url: telegram_base,
            reauth: true,
            poll_secs: 1,
        }),
        ..NotifyConfig::default()
    };
    let server = Server::new(
        vec![Arc::new(daemon.clone())],
        &config,
        Arc::new(clock.clone()),
    )
    .unwrap()
    .with_notify(&notify)
    .unwrap();
    let addr = common::serve(server.router()).await;
    let background = server.start();
    Week {
        zone,
        clock,
        sim,
        daemon,
        cli,
        events,
        telegram,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _background: background,
        _dirs: (dir, ctl),
    }
}

/// The manager configuration the daemon uses, looking for another
/// process's login every minute (the default 5 s only lengthens the
/// simulated week; prompts are timed by the window).
fn daemon_config<B: Broker>() -> token_core::ManagerConfig {
    let mut config = B::standard_manager_config();
    config.reauth_poll = Duration::minutes(1);
    config
}

impl<P: Payload> Week<P> {
    fn at(&self, y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        local(self.zone, y, m, d, h, mi)
    }

    async fn run_until(&self, until: DateTime<Utc>) {
        maintain_until(&self.daemon, &self.clock, until).await
    }

    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    /// The daemon's login prompts (alerts) since the last call.
    fn prompts(&mut self) -> Vec<Prompt> {
        self.drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::LoginRequested {
                    at, reminder, url, ..
                } => Some((at, reminder, url.expect("every prompt carries a URL"))),
                _ => None,
            })
            .collect()
    }

    /// Telegram messages that ask for a login.
    fn telegram_prompts(&self) -> Vec<String> {
        self.telegram
            .texts()
            .into_iter()
            .filter(|t| t.contains("needs a login"))
            .collect()
    }

    fn telegram_said(&self, what: &str) -> usize {
        self.telegram
            .texts()
            .iter()
            .filter(|t| t.contains(what))
            .count()
    }

    /// Nobody is asked before `open`; at `open` exactly one prompt, shown
    /// in the alert and on Telegram with the same URL, which is returned.
    async fn window_opens(&mut self, open: DateTime<Utc>) -> String {
        let on_phone = self.telegram_prompts().len();
        self.run_until(open - Duration::minutes(1)).await;
        let night = self.drain();
        assert!(
            !night
                .iter()
                .any(|e| matches!(e, Event::LoginRequested { .. })),
            "no prompt before {open}: {night:?}"
        );
        assert!(self.daemon.token().is_err(), "the token died overnight");
        assert_ne!(self.daemon.health().status, HealthStatus::Critical);
        assert_eq!(self.telegram_prompts().len(), on_phone);
        self.run_until(open).await;
        let prompts = self.prompts();
        assert_eq!(prompts.len(), 1, "one prompt at {open}: {prompts:?}");
        let (at, reminder, url) = prompts.into_iter().next().unwrap();
        assert_eq!((at, reminder), (open, 0));
        wait_for("the Telegram prompt", || {
            self.telegram_prompts().len() == on_phone + 1
        })
        .await;
        let phone = self.telegram_prompts().pop().unwrap();
        assert!(phone.contains(&url), "same URL on the phone: {phone}");
        url
    }

    /// The daemon adopts the login (a maintenance pass later), is healthy
    /// and serves a token; the Telegram conversation closed with `said`.
    async fn healthy_again(&mut self, said: &str, before: usize) {
        self.run_until(self.clock.now() + Duration::minutes(2))
            .await;
        let h = self.daemon.health();
        assert_eq!(h.status, HealthStatus::Healthy, "{h:?}");
        assert!(!h.reauthorization_required);
        assert!(!h.login_window_missed);
        assert!(self.daemon.token().is_ok(), "a token without restart");
        let texts = || format!("{:#?}", self.telegram.texts());
        wait_for("the Telegram conversation to close", || {
            self.telegram_said(said) == before + 1
        })
        .await;
        assert_eq!(self.telegram_said(said), before + 1, "{}", texts());
        assert_eq!(self.prompts(), vec![], "no prompt after the login");
    }

    /// `tokenctl login ACCOUNT` with `answer` piped on stdin: the library
    /// flow it runs, over the CLI's own manager. Returns what it printed.
    async fn cli_login(&self, answer: &str) -> String {
        let stdin = std::io::Cursor::new(format!("{answer}\n").into_bytes());
        let console = ConsoleChannel::new(stdin, Vec::new());
        assert_eq!(reauthorize(&self.cli, &console, 1).await.unwrap(), 1);
        String::from_utf8(console.into_inner().1).unwrap()
    }

    async fn post(&self, path: &str, body: Option<String>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /login/{account}`: the pending URL.
    async fn route_start(&self) -> String {
        let (status, json) = self
            .post(&format!("/login/{}", self.daemon.key()), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["replaced"], false, "{json}");
        json["url"].as_str().unwrap().to_owned()
    }

    /// `POST /login/{account}/complete` with `code` in the body.
    async fn route_complete(&self, code: &str) {
        let body = serde_json::json!({ "code": code }).to_string();
        let path = format!("/login/{}/complete", self.daemon.key());
        let (status, json) = self.post(&path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["authorized"], true, "{json}");
    }

    /// No prompt and no Telegram message until `until` (a holiday, a
    /// weekend); `minted` calls to `request` at the sim meanwhile.
    async fn quiet_until(&mut self, until: DateTime<Utc>, request: Endpoint, minted: u64) {
        let (texts, before) = (self.telegram.count(), self.sim.sim.calls(request));
        self.run_until(until).await;
        assert_eq!(self.prompts(), vec![], "no prompt until {until}");
        assert_eq!(self.telegram.count(), texts, "{:#?}", self.telegram.texts());
        assert_eq!(self.sim.sim.calls(request), before + minted);
    }

    /// A day answered late: the reminders at `reminders` (the rising
    /// cadence) until the window closes at `closes`, critical after it
    /// (`LoginWindowMissed`), no prompt while nobody answers. `new_urls`:
    /// each reminder replaced a stale request, and the open Telegram
    /// conversation sends the new URL (E*TRADE); else the URL stays and
    /// the phone is not asked again (FYERS).
    async fn missed(&mut self, reminders: &[DateTime<Utc>], closes: DateTime<Utc>, new_urls: bool) {
        let mut url = self.daemon.health().reauthorization_url.unwrap();
        for (n, at) in reminders.iter().enumerate() {
            let on_phone = self.telegram_prompts().len();
            self.run_until(*at).await;
            let prompts = self.prompts();
            assert_eq!(prompts.len(), 1, "{prompts:?}");
            let (when, reminder, new) = prompts.into_iter().next().unwrap();
            assert_eq!((when, reminder), (*at, n as u32 + 1));
            assert_eq!(new != url, new_urls, "reminder {reminder}: {new}");
            if new_urls {
                wait_for("the new URL on the phone", || {
                    self.telegram_prompts().len() == on_phone + 1
                })
                .await;
                let phone = self.telegram_prompts().pop().unwrap();
                assert!(phone.contains(&new), "{phone}");
                assert!(phone.contains("no longer works"), "{phone}");
            }
            url = new;
        }
        self.run_until(closes - Duration::minutes(1)).await;
        assert_eq!(self.prompts(), vec![], "no reminder after the last");
        assert_eq!(self.daemon.health().status, HealthStatus::Degraded);
        self.run_until(closes + Duration::minutes(1)).await;
        let missed = self.drain();
        assert!(
            missed.iter().any(|e| matches!(
                e,
                Event::LoginWindowMissed { at, .. } if *at == closes
            )),
            "{missed:?}"
        );
        let h = self.daemon.health();
        assert_eq!(h.status, HealthStatus::Critical);
        assert!(h.login_window_missed);
        self.run_until(closes + Duration::hours(2)).await;
        assert_eq!(self.prompts(), vec![], "no prompt after the window closed");
    }
}

fn etrade_manager(
    sim: &RunningSim,
    clock: &ManualClock,
    dir: &std::path::Path,
) -> TokenManager<etrade::EtradeCredentials> {
    let config = common::sim_etrade_config(sim);
    let provider =
        Arc::new(etrade::EtradeProvider::with_clock(config, Arc::new(clock.clone())).unwrap());
    let store: Arc<dyn TokenStore> = Arc::new(FileStore::open(dir).unwrap());
    TokenManager::builder("etrade/sandbox/main".parse().unwrap(), provider)
        .store(store)
        .pending_logins(Arc::new(DirPendingLogins::new(dir)))
        .policy(etrade::Etrade::default_policy())
        .config(daemon_config::<etrade::Etrade>())
        .clock(Arc::new(clock.clone()))
        .build()
}

fn fyers_manager(
    sim: &RunningSim,
    clock: &ManualClock,
    dir: &std::path::Path,
) -> TokenManager<fyers::FyersCreds> {
    let config = common::sim_fyers_config(sim).with_refresh(fyers::RefreshMode::Off);
    let provider = Arc::new(fyers::FyersProvider::new(config, Arc::new(clock.clone())).unwrap());
    TokenManager::builder("fyers/production/main".parse().unwrap(), provider)
        .store(Arc::new(FileStore::open(dir).unwrap()))
        .pending_logins(Arc::new(DirPendingLogins::new(dir)))
        .policy(fyers::Fyers::default_policy())
        .config(daemon_config::<fyers::Fyers>())
        .clock(Arc::new(clock.clone()))
        .build()
}

const ELSEWHERE: &str = "was logged in another way";
const BY_PHONE: &str = "is authorized";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etrade_week_with_christmas_answered_from_every_entry_point() {
    let start = local(New_York, 2026, 12, 18, 16, 0); // Friday 18 Dec
    let clock = ManualClock::new(start);
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let mut w = week(New_York, clock, sim, etrade_manager, None).await;
    let minted = |w: &Week<_>| w.sim.sim.calls(Endpoint::EtradeRequestToken);
    let approve = |w: &Week<_>, url: &str| w.sim.sim.approve_etrade(&query(url, "token")).unwrap();

    // Friday afternoon: a person logs in once by hand.
    let first = w.daemon.begin_authorization().await.unwrap();
    let verifier = approve(&w, &first.url);
    w.daemon
        .complete_authorization(&SecretString::from(verifier))
        .await
        .unwrap();
    assert_eq!(minted(&w), 1);
    w.drain();

    // The weekend: the token dies at 00:00 Saturday; nobody is asked. The
    // need, raised at 00:00, carries a URL (a request token) that nobody
    // is shown and that the window's prompt replaces (see the report).
    w.quiet_until(w.at(2026, 12, 21, 7, 0), Endpoint::EtradeRequestToken, 1)
        .await;

    // Monday 21: the CLI on stdin completes the login the prompt showed.
    let url = w.window_opens(w.at(2026, 12, 21, 8, 0)).await;
    assert_eq!(
        minted(&w),
        3,
        "one request token for the prompt and the phone"
    );
    w.clock.advance(Duration::minutes(2));
    let verifier = approve(&w, &url);
    let closed = w.telegram_said(ELSEWHERE);
    let printed = w.cli_login(&verifier).await;
    assert!(
        printed.contains(&url),
        "the CLI shows the same URL: {printed}"
    );
    assert!(!printed.contains(&verifier), "the verifier is never echoed");
    assert_eq!(minted(&w), 3, "the CLI minted no request token");
    w.healthy_again(ELSEWHERE, closed).await;

    // Tuesday 22: the control server returns the same URL and completes it.
    let url = w.window_opens(w.at(2026, 12, 22, 8, 0)).await;
    w.clock.advance(Duration::minutes(3));
    assert_eq!(w.route_start().await, url);
    let closed = w.telegram_said(ELSEWHERE);
    w.route_complete(&approve(&w, &url)).await;
    assert_eq!(
        minted(&w),
        3 + 2,
        "one at 00:00 with the need, one at 08:00"
    );
    w.healthy_again(ELSEWHERE, closed).await;

    // Wednesday 23: a reply to the Telegram prompt.
    let url = w.window_opens(w.at(2026, 12, 23, 8, 0)).await;
    w.clock.advance(Duration::minutes(1));
    let verifier = approve(&w, &url);
    let done = w.telegram_said(BY_PHONE);
    w.telegram.incoming(CHAT, &verifier);
    wait_for("the login from the phone", || w.daemon.token().is_ok()).await;
    assert_eq!(minted(&w), 5 + 2);
    w.healthy_again(BY_PHONE, done).await;

    // Thursday 24: the pasted callback URL (E*TRADE has no redirect capture).
    let url = w.window_opens(w.at(2026, 12, 24, 8, 0)).await;
    w.clock.advance(Duration::minutes(4));
    let token = query(&url, "token");
    let verifier = approve(&w, &url);
    let mut callback = url::Url::parse("https://bot.example.com/etrade/cb").unwrap();
    callback
        .query_pairs_mut()
        .append_pair("oauth_token", &token)
        .append_pair("oauth_verifier", &verifier);
    let closed = w.telegram_said(ELSEWHERE);
    w.route_complete(callback.as_str()).await;
    assert_eq!(minted(&w), 7 + 2);
    w.healthy_again(ELSEWHERE, closed).await;

    // Friday 25 (Christmas, NYSE closed) and the weekend: no prompt at all.
    assert_eq!(
        w.daemon.health().next_person_action.map(|a| a.at),
        Some(w.at(2026, 12, 28, 8, 0))
    );
    w.quiet_until(w.at(2026, 12, 28, 7, 0), Endpoint::EtradeRequestToken, 1)
        .await;

    // Monday 28: answered late. Reminders, critical at 09:20, then the CLI.
    w.window_opens(w.at(2026, 12, 28, 8, 0)).await;
    let day = |h, m| w.at(2026, 12, 28, h, m);
    let reminders = [
        day(8, 20),
        day(8, 40),
        day(8, 50),
        day(9, 0),
        day(9, 10),
        day(9, 15),
    ];
    w.missed(&reminders, day(9, 20), true).await;
    // Each prompt's URL was fresh: a request token per prompt (they last 5 minutes).
    assert_eq!(minted(&w), 10 + 7);
    let before = minted(&w);
    let late = w.cli.login_request().await.unwrap();
    assert!(late.replaced, "the last reminder's URL went stale");
    assert_eq!(minted(&w), before + 1);
    let verifier = approve(&w, &late.request.url);
    let closed = w.telegram_said(ELSEWHERE);
    let printed = w.cli_login(&verifier).await;
    assert!(printed.contains(&late.request.url), "{printed}");
    assert_eq!(minted(&w), before + 1);
    w.healthy_again(ELSEWHERE, closed).await;
    assert_eq!(
        w.sim.sim.calls(Endpoint::EtradeAccessToken),
        6,
        "one per login"
    );
    assert_eq!(
        w.telegram_prompts().len(),
        5 + 6,
        "one phone prompt per trading day, and the late day's six new URLs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fyers_week_with_an_nse_holiday_answered_from_every_entry_point() {
    let start = local(Kolkata, 2026, 11, 20, 16, 0); // Friday 20 Nov
    let clock = ManualClock::new(start);
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let mut w = week(
        Kolkata,
        clock,
        sim,
        fyers_manager,
        Some("https://tokens.example.com/"),
    )
    .await;
    let c = w.sim.credentials();
    let approve = |w: &Week<_>, url: &str| {
        w.sim
            .sim
            .approve_fyers(
                &c.fyers_client_id,
                &c.fyers_redirect_uri,
                &query(url, "state"),
            )
            .unwrap()
    };
    let validated = |w: &Week<_>| w.sim.sim.calls(Endpoint::FyersValidateAuthcode);

    // Friday afternoon: a person logs in once by hand.
    let first = w.daemon.begin_authorization().await.unwrap();
    let redirect = approve(&w, &first.url);
    w.daemon
        .complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    assert_eq!(validated(&w), 1);
    w.drain();

    // The weekend: the token dies at 06:00 Saturday; nobody is asked.
    w.quiet_until(w.at(2026, 11, 23, 7, 0), Endpoint::FyersValidateAuthcode, 0)
        .await;

    // Monday 23: the CLI on stdin, with the redirect URL the browser landed on.
    let url = w.window_opens(w.at(2026, 11, 23, 8, 0)).await;
    w.clock.advance(Duration::minutes(2));
    let redirect = approve(&w, &url);
    let closed = w.telegram_said(ELSEWHERE);
    let printed = w.cli_login(&redirect).await;
    assert!(
        printed.contains(&url),
        "the CLI shows the same URL: {printed}"
    );
    assert!(!printed.contains(&query(&redirect, "auth_code")));
    assert_eq!(validated(&w), 2);
    w.healthy_again(ELSEWHERE, closed).await;

    // Tuesday 24 (Guru Nanak Jayanti, NSE closed): no prompt at all.
    assert_eq!(
        w.daemon.health().next_person_action.map(|a| a.at),
        Some(w.at(2026, 11, 25, 8, 0))
    );
    w.quiet_until(w.at(2026, 11, 25, 7, 0), Endpoint::FyersValidateAuthcode, 0)
        .await;

    // Wednesday 25: the control server returns the same URL and completes it.
    let url = w.window_opens(w.at(2026, 11, 25, 8, 0)).await;
    w.clock.advance(Duration::minutes(3));
    assert_eq!(w.route_start().await, url);
    let closed = w.telegram_said(ELSEWHERE);
    w.route_complete(&approve(&w, &url)).await;
    assert_eq!(validated(&w), 3);
    w.healthy_again(ELSEWHERE, closed).await;

    // Thursday 26: a reply to the Telegram prompt.
    let url = w.window_opens(w.at(2026, 11, 26, 8, 0)).await;
    w.clock.advance(Duration::minutes(1));
    let redirect = approve(&w, &url);
    let done = w.telegram_said(BY_PHONE);
    w.telegram.incoming(CHAT, &redirect);
    wait_for("the login from the phone", || w.daemon.token().is_ok()).await;
    assert_eq!(validated(&w), 4);
    w.healthy_again(BY_PHONE, done).await;

    // Friday 27: the redirect captured at the control server.
    let url = w.window_opens(w.at(2026, 11, 27, 8, 0)).await;
    w.clock.advance(Duration::minutes(4));
    let redirect = approve(&w, &url);
    let captured = url::Url::parse(&redirect).unwrap();
    let closed = w.telegram_said(ELSEWHERE);
    let r = w
        .http
        .get(format!(
            "{}/callback/{}?{}",
            w.base,
            w.daemon.key(),
            captured.query().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("is logged in"), "{page}");
    assert_eq!(validated(&w), 5);
    w.healthy_again(ELSEWHERE, closed).await;

    // The weekend: no prompt at all.
    w.quiet_until(w.at(2026, 11, 30, 7, 0), Endpoint::FyersValidateAuthcode, 0)
        .await;

    // Monday 30: answered late. Reminders, critical at 09:00, then the CLI.
    let url = w.window_opens(w.at(2026, 11, 30, 8, 0)).await;
    let day = |h, m| w.at(2026, 11, 30, h, m);
    let reminders = [day(8, 20), day(8, 30), day(8, 40), day(8, 50), day(8, 55)];
    w.missed(&reminders, day(9, 0), false).await;
    let late = w.cli.login_request().await.unwrap();
    let redirect = approve(&w, &late.request.url);
    let closed = w.telegram_said(ELSEWHERE);
    let printed = w.cli_login(&redirect).await;
    assert!(printed.contains(&late.request.url), "{printed}");
    assert_eq!(
        late.request.url, url,
        "a FYERS login URL stays valid: the same one"
    );
    assert!(!late.replaced);
    assert_eq!(validated(&w), 6, "one per login");
    w.healthy_again(ELSEWHERE, closed).await;
    assert_eq!(
        w.sim.sim.calls(Endpoint::FyersValidateRefreshToken),
        0,
        "refresh = off"
    );
    assert_eq!(
        w.telegram_prompts().len(),
        5,
        "one phone prompt per trading day (reminders keep the URL)"
    );
    assert!(lock(&w.telegram.sent).iter().all(|(chat, _)| *chat == CHAT));
}
