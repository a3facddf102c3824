//! Two simulated weeks on the manual clock against broker-sim: refreshes
//! every 25 minutes (by the maintenance loop, and on use by a bot alone),
//! the warnings a day and two hours before the 7-day end, the weekly
//! login from the "re-authorization required" URL, a login elsewhere that
//! revokes the refresh token; and rotated refresh tokens saved before use.

mod common;

use std::sync::Arc;

use broker_sim::{Endpoint, SimConfig};
use chrono::{DateTime, Duration, Utc};
use common::*;
use secrecy::SecretString;
use token_core::{Clock, Event, HealthStatus, MemoryStore, TokenProvider};

/// Runs maintenance passes until `until`, jumping the clock to each next
/// wake (at most 10 minutes at a time, like a bot calling now and then).
/// Returns the events seen.
async fn run_until(
    env: &Env,
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
    until: DateTime<Utc>,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut passes = 0;
    while env.clock.now() < until {
        passes += 1;
        assert!(passes < 20_000, "maintenance loop did not progress");
        let now = env.clock.now();
        let next = env.manager.maintain().await;
        let step = next
            .filter(|t| *t > now)
            .unwrap_or(now + Duration::minutes(10))
            .min(now + Duration::minutes(10))
            .min(until);
        out.extend(drain(rx));
        env.clock.set(step);
    }
    out.extend(drain(rx));
    out
}

fn renewals(events: &[Event]) -> Vec<DateTime<Utc>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Renewed { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

fn warnings(events: &[Event]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ExpiringSoon { at, deadline, .. } => Some((*at, *deadline)),
            _ => None,
        })
        .collect()
}

fn reauth_url(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::ReauthorizationRequired { url, .. } => url.clone(),
        _ => None,
    })
}

#[tokio::test]
async fn two_weeks_of_refreshes_warnings_weekly_logins_and_a_login_elsewhere() {
    let env = start().await;
    let mut rx = env.manager.subscribe();
    let login_at = monday_8_ny();
    login(&env).await;

    // Week 1: a refresh every 25 minutes until the 7-day end.
    let end = login_at + Duration::days(7);
    let week1 = run_until(&env, &mut rx, end + Duration::minutes(30)).await;
    let r = renewals(&week1);
    assert!(r.len() > 390, "{} refreshes", r.len());
    for pair in r.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::minutes(25), "at {}", pair[1]);
    }
    assert!(*r.last().unwrap() < end);
    // Warned a day ahead and again two hours ahead, once each, for the
    // 7-day end.
    let warnings = warnings(&week1);
    assert_eq!(warnings[0], (end - Duration::days(1), end));
    assert_eq!(warnings[1], (end - Duration::hours(2), end));
    assert_eq!(warnings.iter().filter(|(_, d)| *d == end).count(), 2);
    // The last access token outlives the refresh token by minutes: its end
    // is the final deadline, announced too; nothing else is.
    assert!(
        warnings[2..]
            .iter()
            .all(|(at, d)| *at >= end && *d <= end + Duration::minutes(25)),
        "{warnings:?}"
    );
    // Then only a person can help: the URL to open comes with the alert.
    let url = reauth_url(&week1).expect("re-authorization required with a URL");
    assert!(
        url.contains("/v1/oauth/authorize?response_type=code"),
        "{url}"
    );
    assert!(env.manager.token().is_err());
    assert_eq!(env.manager.health().status, HealthStatus::Critical);

    // The weekly login, from that URL.
    let redirect = env.sim().approve_schwab_url(&url).unwrap();
    let second_login = env.clock.now();
    let creds = env
        .manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    assert_eq!(creds.payload.logged_in_at, second_login);
    assert!(env.manager.token().is_ok());

    // Three days later someone logs in elsewhere with the same app.
    run_until(&env, &mut rx, second_login + Duration::days(3)).await;
    let calls_before = env.sim().calls(Endpoint::SchwabToken);
    let other =
        schwab::SchwabProvider::new(config_for(&env.running), Arc::new(env.clock.clone())).unwrap();
    let req = other.start_authorization(&key()).await.unwrap();
    let redirect = env.sim().approve_schwab_url(&req.url).unwrap();
    other
        .complete_authorization(&req, &SecretString::from(redirect))
        .await
        .unwrap();
    let after = run_until(&env, &mut rx, env.clock.now() + Duration::hours(1)).await;
    let url = reauth_url(&after).expect("revoked refresh token -> log in");
    assert!(after.iter().any(|e| matches!(
        e,
        Event::RenewalFailed {
            kind: token_core::ErrorKind::Rejected,
            ..
        }
    )));
    // One refused refresh (plus the other program's login), never retried.
    assert_eq!(env.sim().calls(Endpoint::SchwabToken), calls_before + 2);
    let redirect = env.sim().approve_schwab_url(&url).unwrap();
    env.manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    let rest = run_until(&env, &mut rx, login_at + Duration::days(14)).await;
    assert!(renewals(&rest).len() > 100);
    assert_eq!(env.manager.health().status, HealthStatus::Healthy);
}

#[tokio::test]
async fn rotation_saves_the_new_refresh_token_before_the_access_token_is_handed_out() {
    let store = Arc::new(FlakyStore::default());
    let mut sim = SimConfig::default();
    sim.schwab.rotation = true;
    let env = start_with(sim, store.clone()).await;
    store.observe(env.manager.clone());
    let first = login(&env).await;
    let mut previous = first.clone();
    for round in 1..=6 {
        // Forced while the current token is still good: the manager keeps
        // serving it until the rotated one is saved.
        env.clock.advance(Duration::minutes(20));
        let due = env.manager.renew_now().await.expect("refresh");
        assert_ne!(
            refresh(&due.payload),
            refresh(&previous.payload),
            "round {round}"
        );
        assert_eq!(
            store.saved_refresh.lock().unwrap().last().cloned(),
            Some(refresh(&due.payload)),
            "the rotated refresh token was saved"
        );
        assert_eq!(
            store
                .served_at_save
                .lock()
                .unwrap()
                .last()
                .cloned()
                .flatten(),
            Some(refresh(&previous.payload)),
            "round {round}: new credentials were handed out before being saved"
        );
        // The rotated-away refresh token is dead at the broker.
        let err = env.provider.renew(&previous).await.unwrap_err();
        assert_eq!(err.kind(), token_core::ErrorKind::Rejected, "{err}");
        assert_eq!(due.payload.logged_in_at, first.payload.logged_in_at);
        assert_eq!(due.meta.refresh_expires_at, first.meta.refresh_expires_at);
        previous = due;
    }
    // A refresh when due (past the 25-minute point) is saved too.
    env.clock.advance(Duration::minutes(26));
    let due = env.manager.ensure_fresh().await.expect("refresh when due");
    assert_eq!(
        store.saved_refresh.lock().unwrap().last().cloned(),
        Some(refresh(&due.payload))
    );
}

#[tokio::test]
async fn a_memory_store_manager_serves_a_token_with_minutes_left() {
    let env = start_with(SimConfig::default(), Arc::new(MemoryStore::new())).await;
    login(&env).await;
    env.clock.advance(Duration::minutes(26));
    let c = env.manager.ensure_fresh().await.unwrap();
    assert!(c.meta.expires_at.unwrap() - env.clock.now() >= Duration::minutes(29));
    env.provider.probe(&c).await.unwrap();
}

#[tokio::test]
async fn a_manager_started_after_the_first_warning_time_warns_once_then_again_two_hours_ahead() {
    let env = start().await;
    let mut rx = env.manager.subscribe();
    let login_at = monday_8_ny();
    login(&env).await;
    let end = login_at + Duration::days(7);
    // Not running for six days and a half (the process was down): the first
    // pass is past the day-ahead time and warns once for it, late.
    env.clock.set(end - Duration::hours(12));
    let events = run_until(&env, &mut rx, end - Duration::hours(1)).await;
    let w = warnings(&events);
    assert_eq!(
        w,
        vec![
            (end - Duration::hours(12), end),
            (end - Duration::hours(2), end)
        ]
    );
}

#[tokio::test]
async fn a_bot_alone_gets_a_refreshed_token_every_half_hour_while_it_uses_it() {
    let env = start().await;
    login(&env).await;
    let before = env.sim().calls(Endpoint::SchwabToken);
    // No maintenance loop: a bot asks for the token every 3 minutes over a
    // 6.5-hour trading session.
    let session_end = env.clock.now() + Duration::minutes(390);
    let mut tokens = std::collections::BTreeSet::new();
    let mut served = 0;
    while env.clock.now() < session_end {
        let c = env
            .manager
            .ensure_fresh()
            .await
            .expect("token while in use");
        let left = c.meta.expires_at.unwrap() - env.clock.now();
        assert!(left > Duration::minutes(4), "served with {left} left");
        env.provider.probe(&c).await.expect("the broker accepts it");
        tokens.insert(access(&c.payload));
        served += 1;
        env.clock.advance(Duration::minutes(3));
    }
    let refreshes = env.sim().calls(Endpoint::SchwabToken) - before;
    // One refresh per access life, never one per use: at the first use
    // past the 25-minute point (27 min with uses every 3), 14 in 390 min.
    assert_eq!(served, 130);
    assert_eq!(refreshes, 14);
    assert_eq!(tokens.len() as u64, refreshes + 1);
}
