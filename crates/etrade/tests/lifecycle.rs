//! End to end against broker-sim on loopback with one manual clock: login,
//! trading days, idle renewal, keep-alives, midnight expiry, DST, revoke,
//! concurrency.

mod common;

use std::sync::Arc;

use broker_sim::{Endpoint, SimConfig};
use chrono::{Duration, Utc};
use common::*;
use etrade::EtradeError;
use token_core::{Event, TokenStore, Unavailable};

fn reauth_url(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::ReauthorizationRequired { url, .. } => url.clone(),
        _ => None,
    })
}

/// One trading day: login at 09:00, steady use, idle with maintenance
/// (keep-alive), idle without maintenance (renewal on next use), then the
/// night: midnight expiry with a fresh authorize URL and no renew attempt.
async fn trading_day(env: &mut Env, (y, m, d): (i32, u32, u32)) {
    let calls = |e| env.sim.calls(e);
    let (renews0, probes0) = (
        calls(Endpoint::EtradeRenew),
        calls(Endpoint::EtradeAccountsList),
    );
    env.clock.set(ny(y, m, d, 9, 0));
    env.login().await;
    assert!(names(&env.drain()).contains(&"authorized"));

    // Steady use every 30 minutes: never a keep-alive.
    for i in 1..=4 {
        env.maintain_until(ny(y, m, d, 9, 0) + Duration::minutes(30 * i))
            .await;
        let r = env.quote().await.expect("quote during steady use");
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        env.sim.calls(Endpoint::EtradeAccountsList),
        probes0,
        "no keep-alive while in use"
    );

    // Idle from 11:00 with maintenance running: one keep-alive at 12:50.
    env.maintain_until(ny(y, m, d, 13, 0)).await;
    assert_eq!(env.sim.calls(Endpoint::EtradeAccountsList), probes0 + 1);
    let events = env.drain();
    assert_eq!(names(&events), vec!["keep_alive_sent"]);
    assert_eq!(
        events[0].clone(),
        Event::KeepAliveSent {
            key: env.manager.key().clone(),
            at: ny(y, m, d, 12, 50),
            reason: token_core::RenewalReason::KeepAlive,
        }
    );

    // Maintenance paused (engine asleep) until 15:30: the token went idle at 14:50.
    env.clock.set(ny(y, m, d, 15, 30));
    assert_eq!(env.manager.token().unwrap_err(), Unavailable::Idle);
    let r = env.quote().await.expect("quote after idling renews first");
    assert_eq!(r.status, 200);
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRenew),
        renews0 + 1,
        "exactly one renewal"
    );
    assert_eq!(names(&env.drain()), vec!["renewed"]);

    // The evening and the night.
    env.maintain_until(ny(y, m, d, 23, 59)).await;
    let renews_before_midnight = env.sim.calls(Endpoint::EtradeRenew);
    let request_tokens = env.sim.calls(Endpoint::EtradeRequestToken);
    let next_day = ny(y, m, d, 9, 0) + Duration::hours(23);
    env.maintain_until(next_day).await;
    let events = env.drain();
    let n = names(&events);
    assert!(n.contains(&"expiring_soon"), "{n:?}");
    assert!(n.contains(&"expired"), "{n:?}");
    let url = reauth_url(&events).expect("re-authorization event with a URL");
    assert!(url.contains("/e/t/etws/authorize?key="), "{url}");
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRenew),
        renews_before_midnight,
        "no renewal attempt after midnight"
    );
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRequestToken),
        request_tokens + 1,
        "a fresh authorize URL"
    );
    let expired_at = events.iter().find_map(|e| match e {
        Event::Expired { at, .. } => Some(*at),
        _ => None,
    });
    assert_eq!(
        expired_at,
        Some(etrade::next_midnight_new_york(ny(y, m, d, 9, 0)))
    );
    assert!(matches!(
        env.quote().await,
        Err(EtradeError::ReauthorizationRequired { .. })
    ));
}

#[tokio::test]
async fn three_trading_days_with_idle_renewal_midnight_expiry_and_morning_login() {
    let mut env = setup_at(ny(2026, 3, 5, 8, 0), SimConfig::default()).await;
    // Thu, Fri, and the Monday after the spring-forward weekend.
    for day in [(2026, 3, 5), (2026, 3, 6), (2026, 3, 9)] {
        trading_day(&mut env, day).await;
    }
    assert_eq!(env.sim.calls(Endpoint::EtradeAccessToken), 3);
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 3);
}

#[tokio::test]
async fn expires_at_midnight_new_york_on_dst_change_night() {
    // Logged in Sunday 2026-03-08 10:00 EDT (the 23-hour day).
    let mut env = setup_at(ny(2026, 3, 8, 10, 0), SimConfig::default()).await;
    env.login().await;
    let midnight = Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap(); // 00:00 EDT
    env.maintain_until(midnight - Duration::minutes(1)).await;
    env.quote().await.expect("still alive at 23:59 EDT");
    env.maintain_until(midnight + Duration::hours(1)).await;
    let events = env.drain();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Expired { at, .. } if *at == midnight)),
        "{events:?}"
    );
    assert!(reauth_url(&events).is_some());
    // The simulator agrees: renew is refused after midnight (asked directly).
    let record = env.manager.peek().err();
    assert_eq!(record, Some(Unavailable::Expired));

    // Saturday 2026-03-07 evening EST: expires 00:00 EST = 05:00 UTC.
    let mut env = setup_at(ny(2026, 3, 7, 20, 0), SimConfig::default()).await;
    env.login().await;
    let midnight = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap();
    env.maintain_until(midnight + Duration::minutes(5)).await;
    assert!(env
        .drain()
        .iter()
        .any(|e| matches!(e, Event::Expired { at, .. } if *at == midnight)));
}

use chrono::TimeZone;

#[tokio::test]
async fn renews_once_when_fifty_callers_race_on_an_idle_token() {
    let env = setup().await;
    env.login().await;
    env.clock.advance(Duration::hours(3));
    let calls = (0..50).map(|_| {
        let client = env.client.clone();
        tokio::spawn(async move { client.get("/v1/accounts/list.json").await })
    });
    for r in futures::future::join_all(calls).await {
        let r = r
            .expect("task")
            .expect("call succeeds after the shared renewal");
        assert_eq!(r.status, 200);
    }
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(env.sim.calls(Endpoint::EtradeAccountsList), 50);
}

#[tokio::test]
async fn revoke_kills_the_token_at_the_broker_and_in_the_store() {
    let env = setup().await;
    env.login().await;
    let creds = env.manager.token().expect("token");
    env.manager.revoke().await.expect("revoke");
    assert_eq!(env.sim.calls(Endpoint::EtradeRevoke), 1);
    assert!(matches!(
        env.quote().await,
        Err(EtradeError::ReauthorizationRequired { .. })
    ));
    // The old pair is dead at the broker too.
    let url = url::Url::parse(&format!("{}/v1/accounts/list.json", env.running.base_url)).unwrap();
    let header = env
        .provider
        .signer()
        .sign("GET", &url, None, &creds.payload)
        .unwrap();
    let status = env
        .provider
        .http()
        .get(url)
        .header("Authorization", header)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_token_revoked_elsewhere_raises_reauthorization_with_a_url() {
    let mut env = setup().await;
    env.login().await;
    let creds = env.manager.token().expect("token");
    // Someone revokes the pair behind our back.
    use token_core::TokenProvider;
    let record = (*creds).clone();
    env.provider.revoke(&record).await.expect("revoke");
    env.drain();
    let err = env.quote().await.unwrap_err();
    assert!(
        matches!(err, EtradeError::ReauthorizationRequired { .. }),
        "{err:?}"
    );
    assert!(reauth_url(&env.drain()).is_some());
}

#[tokio::test]
async fn sandbox_and_production_accounts_live_side_by_side() {
    let clock = token_core::ManualClock::new(ny(2026, 3, 5, 9, 0));
    let prod_config = SimConfig {
        etrade_consumer_key: "PRODKEY".into(),
        etrade_consumer_secret: "PRODSECRET".into(),
        ..SimConfig::default()
    };
    let sandbox_sim =
        broker_sim::BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
            .await
            .unwrap();
    let prod_sim = broker_sim::BrokerSim::start_with_manual_clock(prod_config, clock.clone())
        .await
        .unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(token_core::MemoryStore::new());
    let sb_config = config_for(&sandbox_sim, token_core::Environment::Sandbox);
    let pr_config = config_for(&prod_sim, token_core::Environment::Production);
    let sandbox = build(
        sandbox_sim,
        clock.clone(),
        Arc::new(clock.clone()),
        sb_config,
        store.clone(),
    );
    let prod = build(
        prod_sim,
        clock.clone(),
        Arc::new(clock.clone()),
        pr_config,
        store.clone(),
    );
    sandbox.login().await;
    prod.login().await;
    assert_ne!(sandbox.manager.key(), prod.manager.key());
    let mut keys = store.list().await.unwrap();
    keys.sort();
    assert_eq!(keys.len(), 2);
    assert_eq!(sandbox.quote().await.unwrap().status, 200);
    assert_eq!(prod.quote().await.unwrap().status, 200);
    assert_eq!(sandbox.sim.calls(Endpoint::EtradeQuote), 1);
    assert_eq!(prod.sim.calls(Endpoint::EtradeQuote), 1);
}
