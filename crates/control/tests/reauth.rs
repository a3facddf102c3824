//! Phone re-authorization against a fake Telegram server and broker-sim,
//! for both brokers; plus the console channel.

mod common;

use std::sync::Arc;
use std::time::Duration;

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::{TimeZone, Utc};
use common::*;
use control::reauth::{reauthorize, ConsoleChannel, ReauthChannel, TelegramChannel};
use control::telegram::TelegramBot;
use control::{ControlConfig, NotifyConfig, SecretSource, Server, TelegramConfig};
use secrecy::SecretString;
use token_core::{ManagedAccount, ManagerConfig, ManualClock, MemoryStore, TokenManager};

fn query(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} missing in {url}"))
}

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
    let control = ControlConfig {
        listen: control::config::DEFAULT_LISTEN,
        token: write("control", "t"),
        auth_health: true,
        auth_metrics: true,
        rate_limit: Default::default(),
    };
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

async fn etrade_account(
    running: &RunningSim,
    clock: &ManualClock,
) -> TokenManager<etrade::EtradeCredentials> {
    let c = running.credentials();
    let config = etrade::EtradeConfig::new(
        token_core::Environment::Sandbox,
        c.etrade_consumer_key,
        c.etrade_consumer_secret.into(),
    )
    .with_base_url(&running.base_url)
    .unwrap()
    .with_timeout(Duration::from_secs(5));
    let key = config.account_key("main").unwrap();
    let provider =
        Arc::new(etrade::EtradeProvider::with_clock(config, Arc::new(clock.clone())).unwrap());
    TokenManager::new(
        key,
        provider,
        Arc::new(MemoryStore::new()),
        Arc::new(etrade::default_policy()),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    )
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
    let manager = etrade_account(&running, &clock).await;
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
    wait_for("the confirmation", || {
        phone
            .fake
            .texts()
            .iter()
            .any(|t| t.contains("is authorized"))
    })
    .await;
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
    wait_for("the confirmation", || {
        phone
            .fake
            .texts()
            .iter()
            .any(|t| t.contains("is authorized"))
    })
    .await;
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
    wait_for("the confirmation", || {
        phone
            .fake
            .texts()
            .iter()
            .any(|t| t.contains("is authorized"))
    })
    .await;
    assert!(manager.token().is_ok());
}

#[tokio::test]
async fn fyers_login_from_a_phone_with_the_redirect_url() {
    // Monday 2026-03-02 10:00 IST.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let c = running.credentials();
    let config = fyers::FyersConfig::new(
        c.fyers_client_id.clone(),
        SecretString::from(c.fyers_secret_key),
        SecretString::from(c.fyers_pin),
        c.fyers_redirect_uri.clone(),
    )
    .with_base_url(c.fyers_base_url);
    let provider = Arc::new(fyers::FyersProvider::new(config, Arc::new(clock.clone())).unwrap());
    let manager = TokenManager::new(
        "fyers/production/main".parse().unwrap(),
        provider,
        Arc::new(MemoryStore::new()),
        Arc::new(fyers::default_policy()),
        Arc::new(clock.clone()),
        fyers::default_manager_config(),
    );
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
    wait_for("the confirmation", || {
        phone
            .fake
            .texts()
            .iter()
            .any(|t| t.contains("is authorized"))
    })
    .await;
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
