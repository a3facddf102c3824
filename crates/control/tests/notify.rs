//! Notifiers against local fake Telegram and webhook servers; dedup over a
//! simulated outage on the manual clock.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use control::notify::{
    sign, Alert, AlertKind, Alerter, Notifier, TelegramNotifier, WebhookNotifier, SIGNATURE_HEADER,
};
use control::telegram::TelegramBot;
use control::NotifyConfig;
use secrecy::SecretString;
use token_core::{Clock, Error};

fn bot(base: &str) -> TelegramBot {
    TelegramBot::new(
        base,
        SecretString::from(BOT_TOKEN.to_string()),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn reauth_alert(clock: &token_core::ManualClock) -> Alert {
    Alert {
        account: "etrade/production/main".parse().unwrap(),
        kind: AlertKind::ReauthorizationRequired,
        at: clock.now(),
        message: "a person must log in (credentials expired)".into(),
        url: Some("https://us.etrade.com/e/t/etws/authorize?key=k&token=t".into()),
        deadline: None,
        answer: None,
        resolves: vec![],
    }
}

#[tokio::test]
async fn telegram_sends_plain_text_with_the_url_to_the_configured_chat() {
    let (fake, base) = FakeTelegram::start().await;
    let clock = start_clock();
    TelegramNotifier::new(bot(&base), CHAT)
        .notify(&reauth_alert(&clock))
        .await
        .unwrap();
    let raw = lock(&fake.raw_sent)[0].clone();
    assert_eq!(raw["chat_id"], CHAT);
    assert_eq!(raw["disable_web_page_preview"], true);
    let text = raw["text"].as_str().unwrap();
    assert!(
        text.starts_with("⚠️ etrade/production/main: a person must log in"),
        "{text}"
    );
    assert!(
        text.ends_with("Open: https://us.etrade.com/e/t/etws/authorize?key=k&token=t"),
        "{text}"
    );
}

#[tokio::test]
async fn telegram_errors_never_reveal_the_bot_token() {
    let (_fake, base) = FakeTelegram::start().await;
    let clock = start_clock();
    let wrong = TelegramBot::new(
        &base,
        SecretString::from("999:WRONG-token".to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    let err = TelegramNotifier::new(wrong, CHAT)
        .notify(&reauth_alert(&clock))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "HTTP 404: Not Found");
    let dead = TelegramBot::new(
        &black_hole().await,
        SecretString::from(BOT_TOKEN.to_string()),
        Duration::from_millis(100),
    )
    .unwrap();
    let err = TelegramNotifier::new(dead, CHAT)
        .notify(&reauth_alert(&clock))
        .await;
    // The black hole never answers; the notifier's own timeout is the Alerter's job,
    // but a connect-level failure must not carry the URL either.
    if let Err(e) = err {
        assert!(!e.to_string().contains("TEST-bot-token"), "{e}");
    }
}

#[tokio::test]
async fn webhook_body_is_json_and_its_hmac_verifies() {
    let (fake, url) = FakeWebhook::start().await;
    let clock = start_clock();
    let secret = SecretString::from("whsec-test-key".to_string());
    WebhookNotifier::new(&url, secret.clone(), Duration::from_secs(5))
        .unwrap()
        .notify(&reauth_alert(&clock))
        .await
        .unwrap();
    let (headers, body) = lock(&fake.received)[0].clone();
    assert_eq!(headers["content-type"], "application/json");
    let sig = headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        sig,
        sign(&secret, &body),
        "receiver recomputes the same HMAC"
    );
    assert_ne!(sig, sign(&SecretString::from("other".to_string()), &body));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["source"], "broker-tokens");
    assert_eq!(json["account"], "etrade/production/main");
    assert_eq!(json["kind"], "reauthorization_required");
    assert_eq!(
        json["url"],
        "https://us.etrade.com/e/t/etws/authorize?key=k&token=t"
    );
    assert_eq!(json["at"], "2026-03-02T14:00:00Z");
    assert!(!String::from_utf8_lossy(&body).contains("whsec-test-key"));
}

fn alerter_for(
    notifiers: Vec<Arc<dyn Notifier>>,
    clock: &token_core::ManualClock,
    timeout_secs: u64,
) -> Alerter {
    let config = NotifyConfig {
        timeout_secs,
        ..NotifyConfig::default()
    };
    Alerter::new(notifiers, &config, Arc::new(clock.clone()))
}

/// Feeds every event of `acct` to `alerter` until the returned handle is dropped.
fn pump(acct: &FakeAccount, alerter: Alerter) -> tokio::task::JoinHandle<()> {
    let mut rx = acct.manager.subscribe();
    tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            alerter.handle(&e);
        }
    })
}

#[tokio::test]
async fn a_long_broker_outage_yields_one_alert_and_one_recovered() {
    let (fake, base) = FakeTelegram::start().await;
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let alerter = alerter_for(
        vec![Arc::new(TelegramNotifier::new(bot(&base), CHAT))],
        &clock,
        5,
    );
    let _pump = pump(&acct, alerter);
    // The broker is down for a while: the next 5 keep-alives fail (retried
    // with backoff), the 6th gets through.
    acct.provider
        .fail_probes((0..5).map(|_| Error::transient("503 Service Unavailable")));
    acct.run_for(12).await;
    assert!(
        acct.provider.probes() >= 6,
        "the outage was retried: {}",
        acct.provider.probes()
    );
    assert!(acct.manager.token().is_ok(), "and it recovered");
    wait_for("two messages", || fake.count() >= 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let texts = fake.texts();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[0].contains("3 renewal failures in a row (transient): transient failure: 503"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("recovered"), "{}", texts[1]);
}

#[tokio::test]
async fn failures_below_the_threshold_and_their_recovery_stay_quiet() {
    let (fake, base) = FakeTelegram::start().await;
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let alerter = alerter_for(
        vec![Arc::new(TelegramNotifier::new(bot(&base), CHAT))],
        &clock,
        5,
    );
    let _pump = pump(&acct, alerter);
    acct.provider
        .fail_probes([Error::transient("blip"), Error::transient("blip")]);
    acct.run_for(4).await;
    assert!(
        acct.provider.probes() >= 3,
        "two blips, then a good keep-alive"
    );
    assert!(acct.manager.health().consecutive_failures == 0);
    acct.manager.report_rejection("token_rejected").await;
    wait_for("the re-authorization alert", || fake.count() >= 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let texts = fake.texts();
    assert_eq!(
        texts.len(),
        1,
        "no alert for 2 blips, one for the rejection: {texts:#?}"
    );
    assert!(
        texts[0].contains("Open: https://fake.invalid/authorize"),
        "{}",
        texts[0]
    );
}

#[tokio::test]
async fn a_dead_notifier_endpoint_does_not_stall_renewal_or_other_notifiers() {
    let (fake, base) = FakeTelegram::start().await;
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let dead = TelegramBot::new(
        &black_hole().await,
        SecretString::from(BOT_TOKEN.to_string()),
        Duration::from_secs(60),
    )
    .unwrap();
    let (hook, hook_url) = FakeWebhook::start().await;
    drop(hook);
    let alerter = alerter_for(
        vec![
            Arc::new(TelegramNotifier::new(dead, CHAT)),
            Arc::new(
                WebhookNotifier::new(
                    "http://127.0.0.1:9/nothing-listens",
                    SecretString::from("k".to_string()),
                    Duration::from_secs(60),
                )
                .unwrap(),
            ),
            Arc::new(TelegramNotifier::new(bot(&base), CHAT)),
        ],
        &clock,
        60,
    );
    let _ = hook_url;
    let _pump = pump(&acct, alerter);
    acct.provider
        .fail_probes((0..8).map(|_| Error::transient("503")));
    acct.provider
        .fail_renewals((0..8).map(|_| Error::transient("503")));
    let started = Instant::now();
    acct.run_for(12).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "upkeep took {took:?} with a dead notifier"
    );
    assert!(acct.provider.probes() + acct.provider.renewals() > 16);
    assert!(
        acct.manager.token().is_ok(),
        "renewal went on and recovered"
    );
    wait_for("the live notifier's two messages", || fake.count() >= 2).await;
}

fn key() -> token_core::AccountKey {
    "fake/sandbox/a".parse().unwrap()
}

/// Three renewal failures in a row, now: one outage (the threshold is 3).
fn outage(alerter: &Alerter, clock: &token_core::ManualClock) {
    for _ in 0..3 {
        alerter.handle(&token_core::Event::RenewalFailed {
            key: key(),
            at: clock.now(),
            kind: token_core::ErrorKind::Transient,
            error: "503 Service Unavailable".into(),
            retry_at: None,
            took_ms: 3,
        });
    }
}

fn recovery(alerter: &Alerter, clock: &token_core::ManualClock) {
    alerter.handle(&token_core::Event::Recovered {
        key: key(),
        at: clock.now(),
    });
}

/// Lets delivery tasks run, then reads what was delivered.
async fn settled(recorder: &Recorder) -> Vec<AlertKind> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    recorder.kinds()
}

#[tokio::test]
async fn recovered_is_sent_only_after_the_quiet_period_on_the_clock() {
    let clock = start_clock();
    assert_eq!(NotifyConfig::default().recovery_quiet_secs, 120);
    let (alerter, recorder) = recorded(&clock, NotifyConfig::default().recovery_quiet_secs);
    outage(&alerter, &clock);
    wait_for("the outage alert", || recorder.kinds().len() == 1).await;
    let recovered_at = clock.now();
    recovery(&alerter, &clock);
    clock.wait_for_sleepers(1).await; // the quiet-period timer is armed
    clock.advance(chrono::Duration::seconds(119));
    assert_eq!(
        settled(&recorder).await,
        [AlertKind::RenewalFailures],
        "still quiet after 1 min 59 s"
    );
    clock.advance(chrono::Duration::seconds(1));
    wait_for("recovered", || recorder.kinds().len() == 2).await;
    let got = lock(&recorder.got).clone();
    assert_eq!(got[1].kind, AlertKind::Recovered);
    assert_eq!(got[1].at, recovered_at, "dated when it recovered");
    assert_eq!(got[1].resolves, [AlertKind::RenewalFailures]);
    assert_eq!(clock.sleepers(), 0, "no timer left behind");
}

#[tokio::test]
async fn a_problem_back_within_the_quiet_period_yields_no_second_alert_pair() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 120);
    outage(&alerter, &clock);
    // Flapping: healthy for a minute, failing again, healthy again, twice.
    for _ in 0..2 {
        recovery(&alerter, &clock);
        clock.wait_for_sleepers(1).await;
        clock.advance(chrono::Duration::seconds(60));
        outage(&alerter, &clock);
        wait_for("the pending recovered to be cancelled", || {
            clock.sleepers() == 0
        })
        .await;
        clock.advance(chrono::Duration::seconds(90)); // past the first deadline
    }
    assert_eq!(settled(&recorder).await, [AlertKind::RenewalFailures]);
    recovery(&alerter, &clock);
    clock.wait_for_sleepers(1).await;
    clock.advance(chrono::Duration::minutes(2));
    wait_for("recovered", || recorder.kinds().len() == 2).await;
    assert_eq!(
        settled(&recorder).await,
        [AlertKind::RenewalFailures, AlertKind::Recovered],
        "one alert and one recovered for the whole flapping spell"
    );
    // After a recovery that held, a new outage is a new episode.
    clock.advance(chrono::Duration::hours(1));
    outage(&alerter, &clock);
    wait_for("the new outage alert", || recorder.kinds().len() == 3).await;
    assert_eq!(recorder.kinds()[2], AlertKind::RenewalFailures);
}

#[tokio::test]
async fn a_zero_quiet_period_sends_recovered_at_once() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 0);
    outage(&alerter, &clock);
    recovery(&alerter, &clock);
    wait_for("recovered", || recorder.kinds().len() == 2).await;
    assert_eq!(clock.sleepers(), 0, "no timer");
    assert_eq!(
        recorder.kinds(),
        [AlertKind::RenewalFailures, AlertKind::Recovered]
    );
}

#[tokio::test]
async fn a_quiet_period_beyond_the_calendar_never_panics() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, u64::MAX);
    outage(&alerter, &clock);
    recovery(&alerter, &clock);
    clock.wait_for_sleepers(1).await;
    clock.advance(chrono::Duration::days(365 * 100));
    assert_eq!(settled(&recorder).await, [AlertKind::RenewalFailures]);
}

#[tokio::test]
async fn a_login_that_fails_again_within_the_quiet_period_is_alerted_again() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 120);
    let reauth = |at| token_core::Event::LoginRequested {
        key: key(),
        at,
        reason: "token rejected".into(),
        url: Some("https://fake.invalid/authorize?request=1".into()),
        reminder: 0,
        window_closes: None,
    };
    alerter.handle(&reauth(clock.now()));
    // A person logs in; a minute later the broker rejects the new token.
    alerter.handle(&token_core::Event::Authorized {
        key: key(),
        at: clock.now(),
    });
    clock.advance(chrono::Duration::seconds(60));
    alerter.handle(&reauth(clock.now()));
    wait_for("the second login alert", || recorder.kinds().len() == 2).await;
    assert_eq!(
        settled(&recorder).await,
        [
            AlertKind::ReauthorizationRequired,
            AlertKind::ReauthorizationRequired
        ],
        "the person hears that their login did not hold; no recovered in between"
    );
}

#[tokio::test]
async fn webhook_urls_are_shown_by_origin_only() {
    let secret_url = "https://hooks.example.com/services/T0001/B0002/xoxSECRETpath?token=QSECRET";
    let hook = WebhookNotifier::new(
        secret_url,
        SecretString::from("k".to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    let config = control::WebhookConfig {
        url: secret_url.into(),
        secret: control::SecretSource::Env("WEBHOOK_KEY".into()),
    };
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, "value").unwrap();
        control::SecretSource::File(p)
    };
    let server = control::Server::new(
        vec![],
        &control_config(dir.path(), "ctl-8073e0f2bbc88d52ed6026976dd50c97ff780ebb"),
        Arc::new(start_clock()),
    )
    .unwrap()
    .with_notify(&NotifyConfig {
        webhook: Some(control::WebhookConfig {
            url: secret_url.into(),
            secret: file("hmac"),
        }),
        ..NotifyConfig::default()
    })
    .unwrap();
    for printed in [
        format!("{hook:?}"),
        format!("{config:?}"),
        format!("{server:?}"),
    ] {
        assert!(printed.contains("https://hooks.example.com/…"), "{printed}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(!printed.contains("T0001"), "{printed}");
    }
}

#[tokio::test]
async fn embedders_get_the_plain_http_webhook_refusal_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = control_config(dir.path(), "ctl-5b1e0c9a7d3f42e8b6a0c4d2e9f17a3b");
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "S3cr3t-Zq9vKx-hmac-4T7wQ").unwrap();
    let server = || control::Server::new(vec![], &config, Arc::new(start_clock())).unwrap();
    let notify = |url: &str, allow: bool| NotifyConfig {
        webhook: Some(control::WebhookConfig {
            url: url.into(),
            secret: control::SecretSource::File(hmac.clone()),
        }),
        allow_plain_http_webhook: allow,
        ..NotifyConfig::default()
    };
    let err = server()
        .with_notify(&notify("http://hooks.example.com/T0001/xoxSECRET", false))
        .unwrap_err();
    assert!(
        matches!(err, control::ControlError::NotifyConfig { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("allow_plain_http_webhook"), "{msg}");
    assert!(msg.contains("hooks.example.com"), "{msg}");
    assert!(!msg.contains("SECRET") && !msg.contains("T0001"), "{msg}");
    // Allowed explicitly, over HTTPS, or plain HTTP on loopback: accepted.
    assert!(server()
        .with_notify(&notify("http://hooks.example.com/x", true))
        .is_ok());
    assert!(server()
        .with_notify(&notify("https://hooks.example.com/x", false))
        .is_ok());
    assert!(server()
        .with_notify(&notify("http://127.0.0.1:9/x", false))
        .is_ok());
}

#[tokio::test]
async fn an_endless_bot_api_answer_is_refused_not_buffered() {
    use axum::body::{Body, Bytes};
    use futures::StreamExt;
    let app = axum::Router::new().fallback(|| async {
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        let endless = futures::stream::repeat(chunk).map(Ok::<_, std::convert::Infallible>);
        Body::from_stream(endless)
    });
    let base = format!("http://{}", serve(app).await);
    let err = TelegramNotifier::new(bot(&base), CHAT)
        .notify(&reauth_alert(&start_clock()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unexpected answer: answer larger than {} bytes",
            control::telegram::MAX_ANSWER_BYTES
        )
    );
}

#[tokio::test]
async fn huge_timeouts_and_poll_times_from_the_config_do_not_panic() {
    let (fake, base) = FakeTelegram::start().await;
    let forever = Duration::from_secs(u64::MAX);
    let bot = TelegramBot::new(&base, SecretString::from(BOT_TOKEN.to_string()), forever).unwrap();
    fake.incoming(CHAT, "hello");
    let updates = bot.get_updates(None, forever).await.unwrap();
    assert_eq!(updates.len(), 1);
    // The alerter's per-delivery timeout too.
    let clock = start_clock();
    let alerter = alerter_for(
        vec![Arc::new(TelegramNotifier::new(bot, CHAT))],
        &clock,
        u64::MAX,
    );
    alerter.handle(&token_core::Event::LoginRequested {
        key: key(),
        at: clock.now(),
        reason: "expired".into(),
        url: None,
        reminder: 0,
        window_closes: None,
    });
    wait_for("the alert", || fake.count() == 1).await;
}

#[tokio::test]
async fn each_warning_lead_is_alerted_once_and_a_repeat_is_not() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 0);
    let deadline = clock.now() + chrono::Duration::days(1);
    let warn = |at| token_core::Event::ExpiringSoon {
        key: key(),
        at,
        deadline,
    };
    // A day ahead (the same event twice: one alert), then two hours ahead.
    alerter.handle(&warn(clock.now()));
    alerter.handle(&warn(clock.now()));
    alerter.handle(&warn(deadline - chrono::Duration::hours(2)));
    assert_eq!(
        settled(&recorder).await,
        vec![AlertKind::ExpiringSoon, AlertKind::ExpiringSoon]
    );
    let texts: Vec<String> = lock(&recorder.got)
        .iter()
        .map(|a| a.message.clone())
        .collect();
    assert!(texts[0].contains("within 1 d"), "{texts:?}");
    assert!(texts[1].contains("within 2 h"), "{texts:?}");
}

#[tokio::test]
async fn a_login_alert_names_the_account_what_to_bring_and_every_open_way_to_answer() {
    let clock = start_clock();
    let event = token_core::Event::LoginRequested {
        key: key(),
        at: clock.now(),
        reason: "credentials expired".into(),
        url: Some("https://broker.invalid/authorize?token=t".into()),
        reminder: 0,
        window_closes: None,
    };
    let texts = |ways: control::reauth::AnswerWays| {
        let recorder = Arc::new(Recorder::default());
        let alerter = Alerter::answering(
            vec![recorder.clone()],
            &NotifyConfig::default(),
            Arc::new(clock.clone()),
            ways,
        );
        alerter.handle(&event);
        async move {
            wait_for("the alert", || recorder.kinds().len() == 1).await;
            lock(&recorder.got)[0].text()
        }
    };
    let all = texts(control::reauth::AnswerWays {
        http: true,
        telegram: true,
    })
    .await;
    for part in [
        "fake/sandbox/a: a person must log in (credentials expired)",
        "Open: https://broker.invalid/authorize?token=t",
        "the verifier code shown after login, or the full URL",
        "`echo CODE | tokenctl login fake/sandbox/a`",
        "POST /login/fake/sandbox/a/complete",
        "reply to this message",
    ] {
        assert!(all.contains(part), "{part:?} missing from {all}");
    }
    // Only the ways that are open.
    let cli_only = texts(control::reauth::AnswerWays::default()).await;
    assert!(
        cli_only.contains("tokenctl login fake/sandbox/a"),
        "{cli_only}"
    );
    assert!(!cli_only.contains("POST /login"), "{cli_only}");
    assert!(!cli_only.contains("reply to this message"), "{cli_only}");
}

#[tokio::test]
async fn the_raw_need_is_not_a_prompt_login_requested_and_its_reminders_are() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 120);
    // 00:00 New York: the token died; the window opens at 08:00.
    alerter.handle(&token_core::Event::ReauthorizationRequired {
        key: key(),
        at: clock.now(),
        reason: "credentials expired".into(),
        url: Some("https://fake.invalid/authorize?request=1".into()),
    });
    let closes = clock.now() + chrono::Duration::hours(9);
    for reminder in 0..2 {
        clock.advance(chrono::Duration::minutes(20));
        alerter.handle(&token_core::Event::LoginRequested {
            key: key(),
            at: clock.now(),
            reason: "credentials expired".into(),
            url: Some("https://fake.invalid/authorize?request=2".into()),
            reminder,
            window_closes: Some(closes),
        });
    }
    wait_for("two prompts", || recorder.kinds().len() == 2).await;
    assert_eq!(
        settled(&recorder).await,
        [
            AlertKind::ReauthorizationRequired,
            AlertKind::ReauthorizationRequired
        ],
        "one alert per prompt, none for the raw need"
    );
}

#[tokio::test]
async fn a_missed_login_window_is_alerted_as_critical_and_the_login_resolves_it() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 0);
    let next = clock.now() + chrono::Duration::hours(23);
    alerter.handle(&token_core::Event::LoginWindowMissed {
        key: key(),
        at: clock.now(),
        next_window: Some(next),
    });
    wait_for("the missed-window alert", || recorder.kinds().len() == 1).await;
    let text = lock(&recorder.got)[0].text();
    assert!(text.contains("the account is critical"), "{text}");
    assert!(
        text.contains(&format!(
            "asked again at {}",
            next.format("%Y-%m-%d %H:%M UTC")
        )),
        "{text}"
    );
    assert!(text.contains("tokenctl login fake/sandbox/a"), "{text}");
    // The person logs in late: the recovery resolves the missed window.
    clock.advance(chrono::Duration::minutes(10));
    alerter.handle(&token_core::Event::Authorized {
        key: key(),
        at: clock.now(),
    });
    recovery(&alerter, &clock);
    wait_for("recovered", || recorder.kinds().len() == 2).await;
    assert_eq!(
        settled(&recorder).await,
        [AlertKind::LoginWindowMissed, AlertKind::Recovered]
    );
}
