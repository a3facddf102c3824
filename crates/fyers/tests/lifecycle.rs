//! End to end against broker-sim: login, weeks of daily refreshes, the
//! refresh token's death, rotation, refresh-disabled and wrong-PIN modes.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use broker_sim::{Endpoint, SimConfig};
use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use chrono_tz::Asia::Kolkata;
use common::*;
use secrecy::SecretString;
use token_core::policy::TokenState;
use token_core::{Clock, Error, Event, HealthStatus, TokenProvider, TokenStoreExt, Unavailable};

use fyers::FyersCreds;

#[tokio::test]
async fn login_yields_tokens_whose_expiry_comes_from_their_jwts() {
    let env = start().await;
    let creds = login(&env).await;
    assert_eq!(env.sim().calls(Endpoint::FyersValidateAuthcode), 1);
    // Issued Mon 10:00 IST: access ends Tue 06:00 IST, refresh 15 days on.
    assert_eq!(creds.meta.expires_at, Some(ist(2026, 3, 3, 6, 0)));
    assert_eq!(creds.meta.refresh_expires_at, Some(ist(2026, 3, 17, 6, 0)));
    assert!(creds.payload.refresh_token.is_some());
    // Saved, usable, accepted by the broker.
    let stored = env
        .store
        .load_typed::<FyersCreds>(&key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(access(&stored.payload), access(&creds.payload));
    let token = env.manager.token().expect("usable");
    env.provider.probe(&token).await.expect("profile works");
    assert_eq!(env.sim().calls(Endpoint::FyersProfile), 1);
}

#[tokio::test]
async fn login_url_carries_client_redirect_and_a_fresh_random_state() {
    let env = start().await;
    let a = env.provider.start_authorization(&key()).await.unwrap();
    let b = env.provider.start_authorization(&key()).await.unwrap();
    assert_ne!(state_of(&a.url), state_of(&b.url));
    assert_eq!(state_of(&a.url).len(), 32);
    let url = url::Url::parse(&a.url).unwrap();
    assert!(url.path().ends_with("/api/v3/generate-authcode"));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "SIMAPP0001-100");
    assert_eq!(q["redirect_uri"], "http://127.0.0.1/fyers/callback");
    assert_eq!(q["response_type"], "code");
    assert_eq!(a.expects, token_core::Expects::RedirectUrl);
}

#[tokio::test]
async fn a_redirect_with_another_state_or_an_error_is_rejected_without_exchange() {
    let env = start().await;
    let request = env.manager.begin_authorization().await.unwrap();
    let c = env.running.credentials();
    let foreign = env
        .sim()
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, "not-our-state")
        .unwrap();
    let err = env
        .manager
        .complete_authorization(&SecretString::from(foreign))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    let failed = format!(
        "{}?s=error&code=-352&message=Invalid%20app%20id&state={}",
        c.fyers_redirect_uri,
        state_of(&request.url)
    );
    let err = env
        .manager
        .complete_authorization(&SecretString::from(failed))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { ref reason } if reason.contains("-352")),
        "{err:?}"
    );
    assert_eq!(env.sim().calls(Endpoint::FyersValidateAuthcode), 0);
    // The right one still works.
    let good = approve(&env, &request.url);
    env.manager.complete_authorization(&good).await.unwrap();
    // And an auth code is single use: FYERS says -437, a person must log in.
    let again = env
        .provider
        .complete_authorization(&request, &good)
        .await
        .unwrap_err();
    assert!(
        matches!(again, Error::Rejected { ref reason } if reason.contains("-437")),
        "{again:?}"
    );
}

fn is_weekday(t: DateTime<Utc>) -> bool {
    !matches!(
        t.with_timezone(&Kolkata).weekday(),
        Weekday::Sat | Weekday::Sun
    )
}

/// The next 09:20 IST weekday "trading check" after `t`.
fn next_trading_check(t: DateTime<Utc>) -> DateTime<Utc> {
    let mut day = t.with_timezone(&Kolkata).date_naive();
    loop {
        let check = ist(day.year(), day.month(), day.day(), 9, 20);
        if check > t && is_weekday(check) {
            return check;
        }
        day = day.succ_opt().expect("date in range");
    }
}

#[tokio::test]
async fn twenty_days_of_weekday_refreshes_until_the_refresh_token_dies() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    let start = env.clock.now();
    let end = start + Duration::days(20);
    let refresh_dies = ist(2026, 3, 17, 6, 0);
    let mut seen: Vec<Event> = Vec::new();
    let mut trading_days = 0;
    loop {
        let next = env.manager.maintain().await;
        seen.extend(drain(&mut events));
        let now = env.clock.now();
        let check = next_trading_check(now);
        let t = next.map_or(check, |n| n.min(check));
        if t > end {
            break;
        }
        env.clock.set(t);
        if t == check {
            // The engine trades: before the refresh token dies every check
            // gets a token the broker accepts; after it, none.
            match env.manager.token() {
                Ok(creds) => {
                    assert!(
                        t < refresh_dies,
                        "token handed out at {t} after the refresh token died"
                    );
                    env.provider
                        .probe(&creds)
                        .await
                        .expect("broker accepts the token");
                    trading_days += 1;
                }
                Err(e) => {
                    assert!(t >= refresh_dies, "no token at {t}: {e:?}");
                    assert_eq!(e, Unavailable::Expired);
                }
            }
        }
    }
    // Tue 3 Mar .. Mon 16 Mar: 10 weekday checks with a live token.
    assert_eq!(trading_days, 10);

    let scheduled: Vec<DateTime<Utc>> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Renewed {
                at,
                scheduled: true,
                ..
            } => Some(*at),
            _ => None,
        })
        .collect();
    // Exactly one scheduled refresh per weekday at 08:45 IST, never at weekends.
    for at in &scheduled {
        let local = at.with_timezone(&Kolkata);
        assert_eq!(local.format("%H:%M").to_string(), "08:45", "{at}");
        assert!(is_weekday(*at), "scheduled refresh on a weekend: {at}");
    }
    let days: BTreeSet<_> = scheduled
        .iter()
        .map(|t| t.with_timezone(&Kolkata).date_naive())
        .collect();
    assert_eq!(days.len(), scheduled.len(), "one scheduled refresh per day");
    assert_eq!(scheduled.len(), 10, "Tue 3 .. Mon 16 March: 10 weekdays");
    // Expired access tokens (06:00 IST every day) are re-minted at once too.
    let unscheduled = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Renewed {
                    scheduled: false,
                    ..
                }
            )
        })
        .count();
    assert_eq!(unscheduled, 14, "06:00 IST Tue 3 .. Mon 16 March");

    // Warned once, three days ahead of the refresh token's death.
    let warnings: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::ExpiringSoon { at, deadline, .. } => Some((*at, *deadline)),
            _ => None,
        })
        .collect();
    assert_eq!(warnings, vec![(ist(2026, 3, 14, 6, 0), refresh_dies)]);

    // Then "a person must log in", with the login URL.
    let expired_at = seen.iter().find_map(|e| match e {
        Event::Expired { at, .. } => Some(*at),
        _ => None,
    });
    assert_eq!(expired_at, Some(refresh_dies));
    let reauth: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::ReauthorizationRequired { at, url, .. } => Some((*at, url.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(reauth.len(), 1, "{reauth:?}");
    assert_eq!(reauth[0].0, refresh_dies);
    let url = reauth[0].1.clone().expect("login URL in the event");
    assert!(url.starts_with(&env.running.fyers_base_url()), "{url}");
    assert!(url.contains("generate-authcode"));
    // No refresh was attempted with the dead refresh token.
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 24);
    let health = env.manager.health();
    assert_eq!(health.status, HealthStatus::Critical);
    assert!(health.reauthorization_required);
    assert_eq!(health.state, Some(TokenState::Expired));

    // A person logs in with the URL from the event: back to work.
    let redirect = approve(&env, &url);
    env.manager.complete_authorization(&redirect).await.unwrap();
    assert!(env.manager.token().is_ok());
    assert_eq!(env.manager.health().status, HealthStatus::Healthy);
}

#[tokio::test]
async fn rotation_saves_the_new_refresh_token_before_the_access_token_is_handed_out() {
    let store = Arc::new(FlakyStore::default());
    let env = start_with(SimConfig::default(), store.clone(), |c| c).await;
    env.sim().set_fyers_rotation(true);
    store.observe(env.manager.clone());
    let first = login(&env).await;
    let mut previous = first.clone();
    // A week: each day the expired access token is re-minted at 06:00 IST
    // and a refresh is forced at noon (while the morning token is still
    // served). Every refresh rotates, every rotated token is saved before
    // it is served, and the refresh token's life moves forward.
    for day in 1..=7 {
        env.clock.set(ist(2026, 3, 2 + day, 6, 0));
        let morning = env.manager.ensure_fresh().await.expect("06:00 refresh");
        assert_ne!(
            refresh(&morning.payload),
            refresh(&previous.payload),
            "day {day}"
        );
        assert_eq!(
            store.saved_refresh.lock().unwrap().last().cloned(),
            Some(refresh(&morning.payload)),
            "the rotated refresh token was saved"
        );
        // The old refresh token is dead at the broker.
        let err = fyers::FyersProvider::new(config_for(&env.running), Arc::new(env.clock.clone()))
            .unwrap()
            .renew(&previous)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Rejected { .. }), "{err:?}");

        env.clock.set(ist(2026, 3, 2 + day, 12, 0));
        let noon = env.manager.renew_now().await.expect("forced refresh");
        assert_eq!(
            store.saved_refresh.lock().unwrap().last().cloned(),
            Some(refresh(&noon.payload))
        );
        // At the moment it was saved, the manager still served the old one.
        assert_eq!(
            store
                .served_at_save
                .lock()
                .unwrap()
                .last()
                .cloned()
                .flatten(),
            Some(refresh(&morning.payload)),
            "day {day}: new credentials were handed out before being saved"
        );
        assert_eq!(
            noon.meta.refresh_expires_at,
            Some(ist(2026, 3, 17 + day, 6, 0))
        );
        previous = noon;
    }
    assert!(env.manager.health().status == HealthStatus::Healthy);
}

#[tokio::test]
async fn a_rotated_refresh_token_that_cannot_be_saved_is_kept_retried_and_reported() {
    let store = Arc::new(FlakyStore::default());
    let env = start_with(SimConfig::default(), store.clone(), |c| c).await;
    env.sim().set_fyers_rotation(true);
    let mut events = env.manager.subscribe();
    let first = login(&env).await;
    store
        .fail_next
        .store(3, std::sync::atomic::Ordering::SeqCst);
    env.clock.set(ist(2026, 3, 3, 6, 0));
    let next = env.manager.maintain().await;
    let got = drain(&mut events);
    assert!(
        got.iter().any(|e| matches!(e, Event::StoreFailure { .. })),
        "{got:?}"
    );
    assert!(
        got.iter().any(|e| matches!(e, Event::Renewed { .. })),
        "{got:?}"
    );
    // In memory and in use: the new refresh token, not the old one.
    let held = env.manager.token().expect("still usable");
    assert_ne!(refresh(&held.payload), refresh(&first.payload));
    assert!(env.manager.health().unsaved);
    assert_eq!(env.manager.health().status, HealthStatus::Degraded);
    // The store still has the old one until a retry succeeds.
    let stored = env
        .store
        .load_typed::<FyersCreds>(&key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refresh(&stored.payload), refresh(&first.payload));
    // Retries follow the manager's backoff until the store accepts it.
    let mut wake = next.expect("a save retry is scheduled");
    for _ in 0..10 {
        env.clock.set(wake);
        match env.manager.maintain().await {
            Some(n) if env.manager.health().unsaved => wake = n,
            _ => break,
        }
    }
    assert!(!env.manager.health().unsaved);
    let stored = env
        .store
        .load_typed::<FyersCreds>(&key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refresh(&stored.payload), refresh(&held.payload));
    let got = drain(&mut events);
    assert!(
        got.iter().any(|e| matches!(e, Event::Recovered { .. })),
        "{got:?}"
    );
    // The next refresh uses the new refresh token and works (the old one is dead).
    env.clock.set(ist(2026, 3, 4, 6, 0));
    env.manager
        .ensure_fresh()
        .await
        .expect("refresh with the rotated token");
}

#[tokio::test]
async fn refresh_disabled_moves_straight_to_reauthorization_with_the_login_url() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    env.sim().set_fyers_refresh_disabled(true);
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    let got = drain(&mut events);
    assert!(
        got.iter().any(|e| matches!(
            e,
            Event::RenewalFailed {
                kind: token_core::ErrorKind::Rejected,
                retry_at: None,
                ..
            }
        )),
        "{got:?}"
    );
    let url = got
        .iter()
        .find_map(|e| match e {
            Event::ReauthorizationRequired { url, .. } => url.clone(),
            _ => None,
        })
        .expect("re-authorization required with a URL");
    assert!(url.contains("generate-authcode"));
    assert_eq!(env.manager.health().status, HealthStatus::Critical);
    // No retry: more passes and callers do not call FYERS again.
    for h in 1..=5 {
        env.clock.set(ist(2026, 3, 3, 6, 0) + Duration::hours(h));
        env.manager.maintain().await;
        let err = env.manager.ensure_fresh().await.unwrap_err();
        assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    }
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
    // A person logs in; access works again for the day.
    env.manager
        .complete_authorization(&approve(&env, &url))
        .await
        .unwrap();
    assert!(env.manager.token().is_ok());
}

#[tokio::test]
async fn a_wrong_pin_is_never_retried() {
    let env = start_with(
        SimConfig::default(),
        Arc::new(token_core::MemoryStore::new()),
        |mut c| {
            c.pin = SecretString::from("S3cr3t-Pq4Wz-wrong-pin");
            c
        },
    )
    .await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    let got = drain(&mut events);
    // Fix the PIN: not "log in", and no login URL.
    assert!(
        got.iter().any(|e| matches!(
            e,
            Event::PersonActionRequired {
                remedy: token_core::Remedy::FixPin,
                ..
            }
        )),
        "{got:?}"
    );
    assert!(
        !got.iter()
            .any(|e| matches!(e, Event::ReauthorizationRequired { .. })),
        "{got:?}"
    );
    assert!(env.provider.pin_refused());
    for h in 1..=48 {
        env.clock.set(ist(2026, 3, 3, 6, 0) + Duration::hours(h));
        env.manager.maintain().await;
        let _ = env.manager.ensure_fresh().await;
        let _ = env.manager.renew_now().await;
    }
    assert_eq!(
        env.sim().calls(Endpoint::FyersValidateRefreshToken),
        1,
        "the wrong PIN was sent again"
    );
    // Fixing the PIN (and telling the manager so) allows refresh again.
    env.provider
        .set_pin(SecretString::from(env.running.credentials().fyers_pin));
    env.manager.clear_rejection();
    env.manager
        .ensure_fresh()
        .await
        .expect("refresh with the right PIN");
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_at_refresh_time_cause_one_refresh() {
    let env = start().await;
    login(&env).await;
    env.clock.set(ist(2026, 3, 3, 6, 0));
    assert_eq!(env.manager.token().unwrap_err(), Unavailable::Idle);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = env.manager.clone();
            tokio::spawn(async move { m.ensure_fresh().await.map(|c| access(&c.payload)) })
        })
        .collect();
    let mut tokens = BTreeSet::new();
    for t in tasks {
        tokens.insert(t.await.expect("task").expect("fresh token"));
    }
    assert_eq!(tokens.len(), 1, "everyone got the same new token");
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
}

#[tokio::test]
async fn probe_counts_a_dead_access_token_as_inactive_and_revoke_logs_out() {
    let env = start().await;
    let creds = login(&env).await;
    env.manager.revoke().await.expect("logout");
    assert_eq!(env.sim().calls(Endpoint::FyersLogout), 1);
    assert!(env.store.load(&key()).await.unwrap().is_none());
    assert_eq!(env.manager.token().unwrap_err(), Unavailable::NoToken);
    // The logged-out token is dead; with a refresh token that is renewable.
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert!(matches!(err, Error::Inactive { .. }), "{err:?}");
    let mut no_refresh = (*creds).clone();
    no_refresh.payload.refresh_token = None;
    let err = env.provider.probe(&no_refresh).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    // Revoking a dead token is not an error.
    env.provider
        .revoke(&creds)
        .await
        .expect("already revoked is fine");
}
