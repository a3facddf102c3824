//! Issue 13 items 3 and 5 against broker-sim on the manual clock: each cause
//! of a failure produces its remedy (fix the PIN, fix `redirect_uri`, wait,
//! log in), a refresh FYERS refuses for another reason than the PIN puts
//! the account in daily-login mode for that refresh token, `refresh = "off"`
//! never refreshes, and a renewal says what triggered it.

mod common;

use std::sync::Arc;

use broker_sim::{Endpoint, Fault, FyersAnswer, SimConfig, Times};
use chrono::Duration;
use common::*;
use fyers::{Fyers, RefreshMode};
use secrecy::SecretString;
use token_core::{
    Broker, Error, Event, HealthStatus, MemoryStore, Remedy, RenewalReason, TokenProvider,
};

const WRONG_PIN: &str = "S3cr3t-Pn7Qw-wrong-pin";

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::name).collect()
}

#[tokio::test]
async fn a_pin_naming_refusal_asks_to_fix_the_pin_not_to_log_in() {
    let env = start_with(
        SimConfig::default(),
        Arc::new(MemoryStore::new()),
        |mut c| {
            c.pin = SecretString::from(WRONG_PIN);
            c
        },
    )
    .await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    drain(&mut events);
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    let got = drain(&mut events);
    let remedies: Vec<&Remedy> = got
        .iter()
        .filter_map(|e| match e {
            Event::PersonActionRequired { remedy, .. } => Some(remedy),
            _ => None,
        })
        .collect();
    assert_eq!(remedies, [&Remedy::FixPin], "{:?}", names(&got));
    assert!(
        !names(&got).contains(&"reauthorization_required"),
        "{got:?}"
    );
    let health = env.manager.health();
    assert_eq!(health.remedy, Some(Remedy::FixPin));
    assert!(!health.reauthorization_required);
    assert!(
        health.reauthorization_url.is_none(),
        "no login URL for a PIN"
    );
    assert!(!format!("{health:?}").contains(WRONG_PIN));
    assert!(env.provider.pin_refused());
    // Never sent again, whoever asks.
    for h in 1..=24 {
        env.clock.set(ist(2026, 3, 3, 6, 0) + Duration::hours(h));
        env.manager.maintain().await;
        let err = env.manager.ensure_fresh().await.unwrap_err();
        assert_eq!(err.remedy(), Remedy::FixPin, "{err}");
    }
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
    // A new login clears the PIN suspicion (not only set_pin).
    login(&env).await;
    assert!(!env.provider.pin_refused());
    assert_eq!(env.manager.health().remedy, None);
}

#[tokio::test]
async fn a_generic_refusal_switches_to_daily_login_for_that_refresh_token_only() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    let first = login(&env).await;
    drain(&mut events);
    // FYERS's generic "could not authenticate" (-16), no PIN named: once.
    env.sim().inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::FyersAnswer(FyersAnswer::new(
            400,
            -16,
            "Could not authenticate the user",
        )),
        Times::N(1),
    );
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
    assert!(env.provider.daily_login());
    assert!(!env.provider.pin_refused(), "-16 alone is no PIN verdict");
    // Two days of passes and callers: a person is asked once, with the
    // explanation, and that refresh token is never sent again (the
    // simulator would now accept it).
    for h in 1..=48 {
        env.clock.set(ist(2026, 3, 3, 6, 0) + Duration::hours(h));
        env.manager.maintain().await;
        let _ = env.manager.ensure_fresh().await;
        let _ = env.manager.renew_now().await;
    }
    let got = drain(&mut events);
    let asks: Vec<&String> = got
        .iter()
        .filter_map(|e| match e {
            Event::ReauthorizationRequired { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(asks.len(), 1, "{asks:?}");
    assert!(asks[0].contains("daily-login mode"), "{}", asks[0]);
    assert!(!asks[0].contains("PIN"), "{}", asks[0]);
    assert_eq!(env.manager.health().remedy, Some(Remedy::LogIn));
    // Not even an operator clearing the manager's rejection, or another
    // manager asking the provider, sends that refresh token again.
    env.manager.clear_rejection();
    let _ = env.manager.renew_now().await;
    let err = env.provider.renew(&first).await.unwrap_err();
    assert_eq!(err.remedy(), Remedy::LogIn);
    assert_eq!(
        env.sim().calls(Endpoint::FyersValidateRefreshToken),
        1,
        "the refused refresh token was sent again"
    );
    // A login brings a new refresh token: refresh works again.
    let second = login(&env).await;
    assert_ne!(refresh(&second.payload), refresh(&first.payload));
    assert!(!env.provider.daily_login());
    env.clock.set(ist(2026, 3, 6, 6, 0));
    env.manager.maintain().await;
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 2);
    assert!(env.manager.token().is_ok());
    assert_eq!(env.manager.health().status, HealthStatus::Healthy);
}

#[tokio::test]
async fn refresh_off_never_calls_the_refresh_endpoint_and_plans_a_daily_login() {
    let env = start_with(SimConfig::default(), Arc::new(MemoryStore::new()), |c| {
        c.with_refresh(RefreshMode::Off)
    })
    .await;
    let mut events = env.manager.subscribe();
    let creds = login(&env).await;
    assert!(
        creds.payload.refresh_token.is_none(),
        "no unused refresh token kept"
    );
    assert!(!env.provider.capabilities().renew);
    assert!(env.provider.daily_login());
    let health = env.manager.health();
    assert_eq!(health.refresh_expires_at, None);
    assert_eq!(health.reauthorize_by, Some(ist(2026, 3, 3, 6, 0)));
    // Through the scheduled 08:45, the 06:00 end and an operator's request.
    for h in 0..48 {
        env.clock.set(ist(2026, 3, 2, 10, 0) + Duration::hours(h));
        env.manager.maintain().await;
    }
    let _ = env.manager.renew_now().await;
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 0);
    let got = drain(&mut events);
    assert!(!names(&got).contains(&"renewed"), "{got:?}");
    assert!(names(&got).contains(&"reauthorization_required"), "{got:?}");
    assert_eq!(env.manager.health().remedy, Some(Remedy::LogIn));
}

#[tokio::test]
async fn a_refused_redirect_uri_asks_to_fix_redirect_uri() {
    let env = start_with(
        SimConfig::default(),
        Arc::new(MemoryStore::new()),
        |mut c| {
            c.redirect_uri = "http://127.0.0.1:9/not-registered".into();
            c
        },
    )
    .await;
    let mut events = env.manager.subscribe();
    let request = env.manager.begin_authorization().await.unwrap();
    // What FYERS answers that login URL with (the simulator checks the
    // redirect URI against the registered one).
    let answer: serde_json::Value = reqwest::get(&request.url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], -352, "{answer}");
    // The person pastes where the browser landed: the error redirect.
    let mut landed = url::Url::parse("http://127.0.0.1:9/not-registered").unwrap();
    landed
        .query_pairs_mut()
        .append_pair("s", "error")
        .append_pair("code", &answer["code"].to_string())
        .append_pair("message", answer["message"].as_str().unwrap())
        .append_pair("state", &state_of(&request.url));
    let err = env
        .manager
        .complete_authorization(&SecretString::from(landed.to_string()))
        .await
        .unwrap_err();
    let fix = Remedy::FixConfig {
        setting: "redirect_uri".into(),
    };
    assert_eq!(err.remedy(), fix, "{err}");
    assert_eq!(env.manager.health().remedy, Some(fix.clone()));
    let got = drain(&mut events);
    assert!(
        got.iter().any(|e| matches!(
            e,
            Event::PersonActionRequired { remedy, .. } if *remedy == fix
        )),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_says_wait_until_the_retry() {
    let env = start().await;
    login(&env).await;
    env.sim().inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::RateLimited {
            retry_after_secs: 120,
        },
        Times::N(1),
    );
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    let health = env.manager.health();
    match health.remedy {
        Some(Remedy::Wait { until: Some(t) }) => {
            assert!(t >= ist(2026, 3, 3, 6, 0) + Duration::seconds(120), "{t}")
        }
        other => panic!("expected wait with a time, got {other:?}"),
    }
    assert!(!health.reauthorization_required);
    let json = serde_json::to_value(&health).unwrap();
    assert_eq!(json["remedy"], "wait", "{json}");
    let back: token_core::AccountHealth = serde_json::from_value(json).unwrap();
    assert_eq!(back, health, "the health JSON reads back");
}

#[tokio::test]
async fn a_dead_refresh_token_asks_for_a_login_with_its_url() {
    let env = start().await;
    login(&env).await;
    // Past the refresh token's 15 days: only a person can help.
    env.clock.set(ist(2026, 3, 18, 6, 0));
    env.manager.maintain().await;
    let health = env.manager.health();
    assert_eq!(health.remedy, Some(Remedy::LogIn));
    assert!(health.reauthorization_required);
    assert!(health
        .reauthorization_url
        .is_some_and(|u| u.contains("generate-authcode")));
}

#[tokio::test]
async fn an_operator_refresh_at_noon_says_so_not_expired_or_idle() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    // Logged in at 11:49 IST; an operator asks for a refresh at noon.
    env.clock.set(ist(2026, 3, 2, 11, 49));
    login(&env).await;
    env.clock.set(ist(2026, 3, 2, 12, 0));
    env.manager.renew_now().await.unwrap();
    let reasons: Vec<RenewalReason> = drain(&mut events)
        .iter()
        .filter_map(|e| match e {
            Event::Renewed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [RenewalReason::Operator]);
    let line = Fyers::describe_renewal(reasons[0]);
    assert!(line.contains("asked for by an operator"), "{line}");
    for invented in ["expired", "idle", "06:00", "scheduled"] {
        assert!(!line.contains(invented), "{line}");
    }
    // What maintenance does is worded by its own trigger.
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    env.clock.set(ist(2026, 3, 3, 8, 45));
    env.manager.maintain().await;
    let reasons: Vec<RenewalReason> = drain(&mut events)
        .iter()
        .filter_map(|e| match e {
            Event::Renewed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [RenewalReason::Expired, RenewalReason::Scheduled]);
    assert!(Fyers::describe_renewal(RenewalReason::Expired).contains("expired"));
}

#[test]
fn errors_and_remedies_never_carry_the_pin() {
    let e = Error::PinRefused {
        reason: "validate-refresh-token: refresh refused (code -16: Invalid PIN)".into(),
    };
    assert!(!e.to_string().contains(WRONG_PIN));
    assert!(e.to_string().contains("fix the PIN"), "{e}");
}
