//! Phone re-authorization against a fake Telegram server and broker-sim,
//! for both brokers; plus the console channel.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::{TimeZone, Utc};
use common::*;
use control::reauth::{
    reauthorize, ConsoleChannel, LoopbackChannel, ReauthChannel, ReauthError, ReauthPrompt,
    Reauthorizer, TelegramChannel,
};
use control::telegram::TelegramBot;
use control::{NotifyConfig, SecretSource, Server, TelegramConfig};
use secrecy::SecretString;
use token_core::{ManagedAccount, ManualClock, TokenManager};

/// The URL in the last message that holds one.
fn last_url(fake: &FakeTelegram) -> String {
    fake.texts()
        .iter()
        .rev()
        .find_map(|t| {
            t.split_whitespace()
                .find(|w| w.starts_with("http"))
                .map(str::to_owned)
        })
        .expect("a message with a URL")
}

struct Phone {
    fake: Arc<FakeTelegram>,
    _background: control::Background,
    _dir: tempfile::TempDir,
}

/// A control server whose Telegram notifier and re-authorization channel
/// talk to a fake Bot API.
async fn phone(accounts: Vec<Arc<dyn ManagedAccount>>, clock: &ManualClock) -> Phone {
    let (fake, base) = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, value).unwrap();
        SecretSource::File(p)
    };
    let control = control_config(dir.path(), "ctl-dae88736028b439f2ae369fe5eb1a19f87cc8156");
    let notify = NotifyConfig {
        telegram: Some(TelegramConfig {
            bot_token: write("bot", BOT_TOKEN),
            chat_id: CHAT,
            base_url: base,
            reauth: true,
            poll_secs: 1,
        }),
        ..NotifyConfig::default()
    };
    let server = Server::new(accounts, &control, Arc::new(clock.clone()))
        .unwrap()
        .with_notify(&notify)
        .unwrap();
    Phone {
        fake,
        _background: server.start(),
        _dir: dir,
    }
}

async fn etrade_setup() -> (
    ManualClock,
    RunningSim,
    TokenManager<etrade::EtradeCredentials>,
) {
    // Thursday 2026-03-05 09:00 New York.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let manager = etrade_manager(&running, &clock);
    (clock, running, manager)
}

#[tokio::test]
async fn etrade_login_from_a_phone_with_the_verifier() {
    let (_clock, running, manager) = etrade_setup().await;
    let phone = phone(vec![Arc::new(manager.clone())], &_clock).await;
    manager.maintain().await; // no credentials: a person is needed
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    let sent = lock(&phone.fake.sent)[0].clone();
    assert_eq!(sent.0, CHAT);
    assert!(
        sent.1.contains("etrade/sandbox/main needs a login"),
        "{}",
        sent.1
    );
    assert!(
        sent.1.contains("reply with the verifier code"),
        "{}",
        sent.1
    );
    let url = last_url(&phone.fake);
    let verifier = running.sim.approve_etrade(&query(&url, "token")).unwrap();
    phone.fake.incoming(CHAT, &format!("  {verifier} "));
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok(), "the token is live");
    assert!(!manager.health().reauthorization_required);
    let texts = phone.fake.texts();
    assert_eq!(texts.len(), 2, "one prompt, one confirmation: {texts:#?}");
    assert!(
        texts.iter().all(|t| !t.contains(&verifier)),
        "the verifier is never echoed"
    );
}

#[tokio::test]
async fn a_reply_from_another_chat_is_ignored() {
    let (clock, running, manager) = etrade_setup().await;
    let phone = phone(vec![Arc::new(manager.clone())], &clock).await;
    manager.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    let verifier = running
        .sim
        .approve_etrade(&query(&last_url(&phone.fake), "token"))
        .unwrap();
    let stranger = phone.fake.incoming(777, &verifier);
    wait_for("the stranger's message to be consumed", || {
        phone
            .fake
            .confirmed
            .load(std::sync::atomic::Ordering::SeqCst)
            > stranger
    })
    .await;
    assert!(
        manager.token().is_err(),
        "a message from another chat completed nothing"
    );
    assert!(
        lock(&phone.fake.sent).iter().all(|(chat, _)| *chat == CHAT),
        "nothing is ever sent to another chat"
    );
    phone.fake.incoming(CHAT, &verifier);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok());
}

#[tokio::test]
async fn a_stale_verifier_gets_a_fresh_url_and_the_fresh_one_works() {
    let (clock, running, manager) = etrade_setup().await;
    let phone = phone(vec![Arc::new(manager.clone())], &clock).await;
    manager.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    let first = last_url(&phone.fake);
    let old = running.sim.approve_etrade(&query(&first, "token")).unwrap();
    clock.advance(chrono::Duration::minutes(6)); // the request token lived 5
    phone.fake.incoming(CHAT, &old);
    wait_for("the fresh URL", || phone.fake.count() >= 2).await;
    let texts = phone.fake.texts();
    assert!(texts[1].contains("had expired"), "{}", texts[1]);
    let fresh = last_url(&phone.fake);
    assert_ne!(
        query(&fresh, "token"),
        query(&first, "token"),
        "a new request token"
    );
    assert!(manager.token().is_err());
    let verifier = running.sim.approve_etrade(&query(&fresh, "token")).unwrap();
    phone.fake.incoming(CHAT, &verifier);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok());
}

/// A FYERS account (no credentials yet) against broker-sim on a manual
/// clock set to Monday 2026-03-02 10:00 IST.
async fn fyers_setup(sim: SimConfig) -> (ManualClock, RunningSim, TokenManager<fyers::FyersCreds>) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(sim, clock.clone())
        .await
        .unwrap();
    let manager = fyers_manager(&running, &clock);
    (clock, running, manager)
}

#[tokio::test]
async fn fyers_login_from_a_phone_with_the_redirect_url() {
    let (clock, running, manager) = fyers_setup(SimConfig::default()).await;
    let c = running.credentials();
    let phone = phone(vec![Arc::new(manager.clone())], &clock).await;
    manager.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    assert!(
        phone.fake.texts()[0].contains("reply with the full URL"),
        "{}",
        phone.fake.texts()[0]
    );
    let login = last_url(&phone.fake);
    let redirect = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&login, "state"),
        )
        .unwrap();
    phone.fake.incoming(CHAT, &redirect);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok());
    // The same reply again is not used again: nothing is pending, no new login.
    phone.fake.incoming(CHAT, &redirect);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        running
            .sim
            .calls(broker_sim::Endpoint::FyersValidateAuthcode),
        1
    );
}

#[tokio::test]
async fn the_console_channel_drives_the_same_login() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let console = ConsoleChannel::new(&b"\n  CODE1  \n"[..], Vec::new());
    let answers = reauthorize(&acct.manager, &console, 3).await.unwrap();
    assert_eq!(answers, 1);
    assert!(acct.manager.token().is_ok());
    let (_, out) = console.into_inner();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(
            "fake/sandbox/a needs a login. Open:\nhttps://fake.invalid/authorize?request=0"
        ),
        "{out}"
    );
    assert!(out.contains("✅ fake/sandbox/a is authorized"), "{out}");
}

#[tokio::test]
async fn the_console_channel_reports_closed_input() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let console = ConsoleChannel::new(&b""[..], Vec::new());
    let err = reauthorize(&acct.manager, &console, 3).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "re-authorization channel failed: input closed"
    );
}

#[tokio::test]
async fn old_chat_messages_are_never_taken_as_an_answer() {
    let (fake, base) = FakeTelegram::start().await;
    let bot = TelegramBot::new(
        &base,
        SecretString::from(BOT_TOKEN.to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    let channel = TelegramChannel::new(bot, CHAT, Duration::from_secs(1), Duration::from_secs(5));
    fake.incoming(CHAT, "stale paste from yesterday");
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let task = tokio::spawn(async move {
        let n = reauthorize(&acct.manager, &channel, 1).await;
        (n, acct)
    });
    wait_for("the prompt", || fake.count() >= 1).await;
    assert!(!task.is_finished(), "the old message was skipped");
    fake.incoming(CHAT, "fresh-code");
    let (n, acct) = task.await.unwrap();
    assert_eq!(n.unwrap(), 1);
    assert!(acct.manager.token().is_ok());
    let _: &dyn ReauthChannel = &ConsoleChannel::new(&b""[..], Vec::new());
}

/// Waits until a message containing `needle` was sent to the chat.
async fn wait_for_text(fake: &FakeTelegram, needle: &str) {
    wait_for(needle, || fake.texts().iter().any(|t| t.contains(needle))).await;
}

#[tokio::test]
async fn a_stale_fyers_redirect_gets_a_fresh_url_and_the_fresh_one_works() {
    let (clock, running, manager) = fyers_setup(SimConfig::default()).await;
    let c = running.credentials();
    let phone = phone(vec![Arc::new(manager.clone())], &clock).await;
    manager.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    let first = last_url(&phone.fake);
    let old = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&first, "state"),
        )
        .unwrap();
    // The person answers after the login request's lifetime (7 days).
    clock.advance(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    phone.fake.incoming(CHAT, &old);
    wait_for("the fresh URL", || phone.fake.count() >= 2).await;
    let texts = phone.fake.texts();
    assert!(
        texts[1].starts_with("⌛ That login request had expired. Here is a fresh one."),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("reply with the full URL"), "{}", texts[1]);
    let fresh = last_url(&phone.fake);
    assert_ne!(
        query(&fresh, "state"),
        query(&first, "state"),
        "a new login request"
    );
    assert_eq!(
        running
            .sim
            .calls(broker_sim::Endpoint::FyersValidateAuthcode),
        0,
        "the stale answer never reached the broker"
    );
    assert!(manager.token().is_err());
    assert!(texts.iter().all(|t| !t.contains(&old)), "never echoed");
    let redirect = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&fresh, "state"),
        )
        .unwrap();
    phone.fake.incoming(CHAT, &redirect);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok());
    assert!(!manager.health().reauthorization_required);
}

#[tokio::test]
async fn an_expired_fyers_auth_code_is_explained_and_logging_in_again_works() {
    let (clock, running, manager) = fyers_setup(SimConfig::default()).await;
    let c = running.credentials();
    let phone = phone(vec![Arc::new(manager.clone())], &clock).await;
    manager.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    let login = last_url(&phone.fake);
    let old = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&login, "state"),
        )
        .unwrap();
    // The login request is still valid, but the auth code (8 h) is not.
    clock.advance(chrono::Duration::hours(9));
    phone.fake.incoming(CHAT, &old);
    wait_for("the answer", || phone.fake.count() >= 2).await;
    let texts = phone.fake.texts();
    assert!(
        texts[1].starts_with("❌ That answer was not accepted"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("expired"), "{}", texts[1]);
    assert!(texts[1].contains("log in again"), "{}", texts[1]);
    assert!(texts.iter().all(|t| !t.contains(&old)), "never echoed");
    let again = last_url(&phone.fake);
    assert!(manager.token().is_err());
    let redirect = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&again, "state"),
        )
        .unwrap();
    phone.fake.incoming(CHAT, &redirect);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(manager.token().is_ok());
    assert_eq!(
        running
            .sim
            .calls(broker_sim::Endpoint::FyersValidateAuthcode),
        2,
        "the expired code and the new one"
    );
}

/// A free loopback port: bind port 0, note it, let it go.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// What the loopback channel showed, and what the "browser" saw.
#[derive(Default)]
struct Browser {
    shown: Mutex<Vec<String>>,
    pages: Mutex<Vec<(String, String)>>,
}

impl Browser {
    /// Records `text`; when it holds a URL, opens it like a browser would
    /// (following the login page's redirect to the loopback listener).
    fn show(self: &Arc<Self>, text: &str) {
        lock(&self.shown).push(text.to_string());
        let Some(url) = text.lines().find(|l| l.starts_with("http")) else {
            return;
        };
        let (me, url) = (self.clone(), url.to_string());
        tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let response = client.get(url).send().await.unwrap();
            let landed = response.url().to_string();
            let page = response.text().await.unwrap();
            lock(&me.pages).push((landed, page));
        });
    }
}

#[tokio::test]
async fn fyers_login_through_the_loopback_channel_with_a_browser() {
    let redirect_uri = format!("http://127.0.0.1:{}/fyers/callback", free_port());
    let (clock, running, manager) = fyers_setup(SimConfig {
        fyers_redirect_uri: redirect_uri.clone(),
        ..SimConfig::default()
    })
    .await;
    let browser = Arc::new(Browser::default());
    let channel = {
        let b = browser.clone();
        LoopbackChannel::new(&redirect_uri, Duration::from_secs(10), move |t| b.show(t))
    };
    let dir = tempfile::tempdir().unwrap();
    let config = control_config(dir.path(), "ctl-38e7c161d934f90c8f436046b47411b814df7ca4");
    let server = Server::new(vec![Arc::new(manager.clone())], &config, Arc::new(clock))
        .unwrap()
        .with_reauth_channel(Arc::new(channel));
    let _background = server.start();
    manager.maintain().await; // no credentials: a person is needed
    wait_for("the confirmation", || {
        lock(&browser.shown)
            .iter()
            .any(|t| t.contains("✅ fyers/production/main is authorized"))
    })
    .await;
    assert!(manager.token().is_ok(), "the token is live");
    let health = manager.health();
    assert!(!health.reauthorization_required);
    assert_eq!(health.status, token_core::HealthStatus::Healthy);
    let shown = lock(&browser.shown).clone();
    assert!(
        shown[0].contains("fyers/production/main needs a login"),
        "{shown:#?}"
    );
    let pages = lock(&browser.pages).clone();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert!(
        pages[0].0.starts_with(&format!("{redirect_uri}?")),
        "the browser was sent to the loopback redirect: {}",
        pages[0].0
    );
    assert!(
        pages[0].1.contains("You can close this tab"),
        "{}",
        pages[0].1
    );
    let sim = &running.sim;
    assert_eq!(sim.calls(broker_sim::Endpoint::FyersGenerateAuthcode), 1);
    assert_eq!(sim.calls(broker_sim::Endpoint::FyersValidateAuthcode), 1);
}

#[tokio::test]
async fn the_loopback_channel_refuses_verifier_logins_and_times_out_alone() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let redirect_uri = format!("http://127.0.0.1:{}/cb", free_port());
    let channel = LoopbackChannel::new(&redirect_uri, Duration::from_millis(20), |_| {});
    let err = reauthorize(&acct.manager, &channel, 1).await.unwrap_err();
    assert!(
        matches!(err, ReauthError::Unsupported(token_core::Expects::Verifier)),
        "{err:?}"
    );
    let prompt = ReauthPrompt {
        account: acct.manager.key().clone(),
        url: "https://login.invalid/".into(),
        expects: token_core::Expects::RedirectUrl,
        instructions: String::new(),
        expires_at: None,
        note: None,
    };
    let err = channel.ask(&prompt).await.unwrap_err();
    assert!(matches!(err, ReauthError::Timeout(_)), "{err:?}");
    // The port is free again after the timeout: the next login can bind it.
    let err = channel.ask(&prompt).await.unwrap_err();
    assert!(matches!(err, ReauthError::Timeout(_)), "{err:?}");
}

#[test]
fn a_prompt_says_until_which_day_its_url_is_valid() {
    let prompt = ReauthPrompt {
        account: "fyers/production/main".parse().unwrap(),
        url: "https://api-t1.fyers.in/api/v3/generate-authcode?state=s".into(),
        expects: token_core::Expects::RedirectUrl,
        instructions: String::new(),
        // A FYERS login URL lives 7 days.
        expires_at: Some(Utc.with_ymd_and_hms(2026, 3, 9, 4, 30, 0).unwrap()),
        note: None,
    };
    assert!(
        prompt
            .text()
            .contains("(valid until 2026-03-09 04:30 UTC)\nOr answer from a shell: `echo CODE | tokenctl login fyers/production/main`."),
        "{}",
        prompt.text()
    );
}

/// Fails the first conversation (the person never answered), then answers.
struct AnswersSecondTime {
    asks: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl ReauthChannel for AnswersSecondTime {
    async fn ask(&self, _prompt: &ReauthPrompt) -> Result<SecretString, ReauthError> {
        let n = self.asks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            Err(ReauthError::Timeout(Duration::from_secs(1800)))
        } else {
            Ok(SecretString::from("CODE".to_string()))
        }
    }
    async fn tell(
        &self,
        _account: &token_core::AccountKey,
        _message: &str,
    ) -> Result<(), ReauthError> {
        Ok(())
    }
}

#[tokio::test]
async fn an_unanswered_conversation_is_asked_again_while_a_person_is_needed() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    acct.manager.maintain().await; // no credentials: a person must log in
    assert!(acct.manager.health().reauthorization_required);
    let channel = Arc::new(AnswersSecondTime {
        asks: std::sync::atomic::AtomicU32::new(0),
    });
    let (_handle, task) = Reauthorizer::spawn_with_retry(
        &[acct.erased()],
        channel.clone(),
        3,
        Duration::from_millis(5),
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while acct.manager.token().is_err() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("logged in on the second conversation");
    assert_eq!(channel.asks.load(std::sync::atomic::Ordering::SeqCst), 2);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_is_sent_the_login_another_process_started_and_its_answer_finishes_it() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Two processes over one store directory (memory stores: the login in
    // progress is what they share here).
    let process = || {
        TokenManager::builder(
            "etrade/sandbox/main".parse().unwrap(),
            Arc::new(provider_of(&running, &clock)),
        )
        .pending_logins(Arc::new(token_core::store::DirPendingLogins::new(
            dir.path(),
        )))
        .policy(Arc::new(etrade::default_policy()))
        .clock(Arc::new(clock.clone()))
        .build()
    };
    let (daemon, cli) = (process(), process());
    // `tokenctl login` started it first; then the daemon needs a person.
    let started = cli.begin_authorization().await.unwrap();
    let phone = phone(vec![Arc::new(daemon.clone())], &clock).await;
    daemon.maintain().await;
    wait_for("the login URL", || phone.fake.count() >= 1).await;
    assert_eq!(
        last_url(&phone.fake),
        started.url,
        "the one URL, not a second"
    );
    assert_eq!(running.sim.calls(Endpoint::EtradeRequestToken), 1);
    let verifier = running
        .sim
        .approve_etrade(&query(&started.url, "token"))
        .unwrap();
    phone.fake.incoming(CHAT, &verifier);
    wait_for_text(&phone.fake, "is authorized").await;
    assert!(daemon.token().is_ok());
    assert!(cli.pending_authorization().await.unwrap().is_none());
    assert_eq!(running.sim.calls(Endpoint::EtradeRequestToken), 1);
}

fn provider_of(running: &RunningSim, clock: &ManualClock) -> etrade::EtradeProvider {
    let config = common::sim_etrade_config(running);
    etrade::EtradeProvider::with_clock(config, Arc::new(clock.clone())).unwrap()
}

#[tokio::test]
async fn a_conversation_starts_at_the_login_prompt_not_when_the_need_arises() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let channel = Arc::new(AnswersSecondTime {
        asks: std::sync::atomic::AtomicU32::new(1), // answers at once
    });
    let (reauthorizer, task) = Reauthorizer::spawn_with_retry(
        &[acct.erased()],
        channel.clone(),
        3,
        Duration::from_millis(5),
    );
    let mut events = acct.manager.subscribe();
    acct.manager.maintain().await; // no credentials: a person must log in
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    let (need, prompt): (Vec<_>, Vec<_>) = seen
        .into_iter()
        .filter(|e| e.name() != "expired")
        .partition(|e| matches!(e, token_core::Event::ReauthorizationRequired { .. }));
    assert_eq!(need.len(), 1);
    for e in &need {
        reauthorizer.handle(e);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        channel.asks.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not asked on the raw need"
    );
    assert!(prompt
        .iter()
        .any(|e| matches!(e, token_core::Event::LoginRequested { reminder: 0, .. })));
    for e in &prompt {
        reauthorizer.handle(e);
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while acct.manager.token().is_err() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("logged in through the conversation the prompt started");
    assert_eq!(channel.asks.load(std::sync::atomic::Ordering::SeqCst), 2);
    task.abort();
}
