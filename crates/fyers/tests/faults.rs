//! Every simulator fault kind, on every FYERS call, maps to the right typed
//! outcome; transient ones are retried by the manager, rejections are not.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, Fault, Rejection, SimConfig, Times};
use chrono::Duration;
use common::*;
use fyers::{FyersCreds, FyersProvider};
use secrecy::ExposeSecret;
use token_core::{Clock, Error, ErrorKind, Event, MemoryStore, Record, TokenProvider};

const TIMEOUT: StdDuration = StdDuration::from_millis(300);

async fn env_with_short_timeout() -> Env {
    start_with(SimConfig::default(), Arc::new(MemoryStore::new()), |c| {
        c.with_request_timeout(TIMEOUT)
    })
    .await
}

/// A fresh provider (no remembered refusals) for each case.
fn provider(env: &Env) -> FyersProvider {
    FyersProvider::new(
        config_for(&env.running).with_request_timeout(TIMEOUT),
        Arc::new(env.clock.clone()),
    )
    .expect("valid config")
}

fn cases() -> Vec<(Fault, ErrorKind, &'static str)> {
    vec![
        (Fault::Status(500), ErrorKind::Transient, "500"),
        (Fault::Status(502), ErrorKind::Transient, "502"),
        (Fault::Status(503), ErrorKind::Transient, "503"),
        (Fault::Status(400), ErrorKind::Protocol, "400"),
        (Fault::Status(401), ErrorKind::Rejected, "401"),
        (Fault::Status(404), ErrorKind::Config, "404"),
        (
            Fault::Delay(StdDuration::from_millis(900)),
            ErrorKind::Transient,
            "timeout",
        ),
        (Fault::MalformedBody, ErrorKind::Transient, "malformed"),
        (Fault::TruncatedBody, ErrorKind::Transient, "truncated"),
        (Fault::HtmlInsteadOfJson, ErrorKind::Transient, "html"),
        (Fault::DropConnection, ErrorKind::Transient, "drop"),
        (
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            ErrorKind::Transient,
            "429",
        ),
    ]
}

fn assert_no_secret(e: &Error, record: &Record<FyersCreds>) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(record.payload.access_token.expose_secret()));
    if let Some(r) = &record.payload.refresh_token {
        assert!(!text.contains(r.expose_secret()));
    }
    assert!(
        !text.contains(broker_sim::config::DEMO_FYERS_PIN),
        "PIN in {text}"
    );
}

#[tokio::test]
async fn every_fault_on_refresh_maps_to_its_typed_error() {
    let env = env_with_short_timeout().await;
    let record = login(&env).await;
    let mut rejections: Vec<(Fault, ErrorKind, &str)> = cases();
    for code in [-501, -16, -15, -8] {
        rejections.push((
            Fault::Unauthorized(Rejection::Fyers(code)),
            ErrorKind::Rejected,
            "fyers code",
        ));
    }
    for (fault, want, name) in rejections {
        env.sim().inject_fault(
            Endpoint::FyersValidateRefreshToken,
            fault.clone(),
            Times::N(1),
        );
        let err = provider(&env).renew(&record).await.unwrap_err();
        assert_eq!(err.kind(), want, "{name}: {fault:?} -> {err:?}");
        assert_no_secret(&err, &record);
        if let Fault::RateLimited { .. } = fault {
            assert!(
                matches!(err, Error::Transient { retry_after: Some(d), .. } if d == StdDuration::from_secs(7)),
                "{err:?}"
            );
        }
    }
    // Nothing was consumed: the refresh token still works.
    provider(&env)
        .renew(&record)
        .await
        .expect("refresh works after the faults");
}

#[tokio::test]
async fn every_fault_on_login_maps_to_its_typed_error() {
    let env = env_with_short_timeout().await;
    for (fault, want, name) in cases() {
        let p = provider(&env);
        let request = p.start_authorization(&key()).await.unwrap();
        let redirect = approve(&env, &request.url);
        env.sim()
            .inject_fault(Endpoint::FyersValidateAuthcode, fault.clone(), Times::N(1));
        let err = p
            .complete_authorization(&request, &redirect)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), want, "{name}: {fault:?} -> {err:?}");
    }
    let p = provider(&env);
    let request = p.start_authorization(&key()).await.unwrap();
    let redirect = approve(&env, &request.url);
    env.sim().inject_fault(
        Endpoint::FyersValidateAuthcode,
        Fault::Unauthorized(Rejection::Fyers(-437)),
        Times::N(1),
    );
    let err = p
        .complete_authorization(&request, &redirect)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
}

#[tokio::test]
async fn every_fault_on_profile_and_logout_maps_to_its_typed_error() {
    let env = env_with_short_timeout().await;
    let record = login(&env).await;
    let mut all = cases();
    for code in [-16, -15, -8] {
        // A dead access token with a live refresh token: refresh silently.
        all.push((
            Fault::Unauthorized(Rejection::Fyers(code)),
            ErrorKind::Inactive,
            "fyers code",
        ));
    }
    for (fault, want, name) in all {
        env.sim()
            .inject_fault(Endpoint::FyersProfile, fault.clone(), Times::N(1));
        let err = provider(&env).probe(&record).await.unwrap_err();
        assert_eq!(err.kind(), want, "profile {name}: {fault:?} -> {err:?}");
        assert_no_secret(&err, &record);
    }
    for (fault, want, name) in cases() {
        env.sim()
            .inject_fault(Endpoint::FyersLogout, fault.clone(), Times::N(1));
        let err = provider(&env).revoke(&record).await.unwrap_err();
        assert_eq!(err.kind(), want, "logout {name}: {fault:?} -> {err:?}");
    }
    provider(&env)
        .probe(&record)
        .await
        .expect("profile works after the faults");
}

#[tokio::test]
async fn transient_refresh_failures_are_retried_with_backoff_until_one_succeeds() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    env.sim().inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::Status(503),
        Times::N(2),
    );
    env.sim().inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::DropConnection,
        Times::N(1),
    );
    let cutoff = ist(2026, 3, 3, 6, 0);
    env.clock.set(cutoff);
    let mut renewed = false;
    for _ in 0..10 {
        let next = env.manager.maintain().await;
        if env.manager.token().is_ok() {
            renewed = true;
            break;
        }
        env.clock.set(next.expect("a retry is scheduled"));
    }
    assert!(renewed);
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 4);
    let got = drain(&mut events);
    let retries: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::RenewalFailed { kind, retry_at, .. } => Some((*kind, *retry_at)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 3, "{got:?}");
    assert!(retries
        .iter()
        .all(|(k, r)| *k == ErrorKind::Transient && r.is_some()));
    assert!(!got
        .iter()
        .any(|e| matches!(e, Event::ReauthorizationRequired { .. })));
    assert!(got.iter().any(|e| matches!(e, Event::Recovered { .. })));
    // Backoff: the whole episode took seconds, not zero time.
    assert!(env.clock.now() > cutoff + Duration::seconds(3));
}

#[tokio::test]
async fn a_rate_limited_refresh_waits_at_least_retry_after() {
    let env = start().await;
    let mut events = env.manager.subscribe();
    login(&env).await;
    env.sim().inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::RateLimited {
            retry_after_secs: 120,
        },
        Times::N(1),
    );
    let cutoff = ist(2026, 3, 3, 6, 0);
    env.clock.set(cutoff);
    let next = env.manager.maintain().await.expect("retry scheduled");
    assert!(next >= cutoff + Duration::seconds(120), "{next}");
    let got = drain(&mut events);
    assert!(got.iter().any(|e| matches!(
        e,
        Event::RenewalFailed {
            kind: ErrorKind::Transient,
            ..
        }
    )));
    env.clock.set(next);
    env.manager.maintain().await;
    assert!(env.manager.token().is_ok());
}
