//! The fault matrix: every FYERS endpoint the token lifecycle uses × every
//! simulator fault, driven through the [`TokenManager`] as a bot would.
//!
//! For each cell it checks the typed outcome, the retry behaviour
//! (transient: a retry is scheduled within the backoff, after any
//! `Retry-After`, and nobody is asked to log in; rejection: a person is asked,
//! and the refused refresh token and PIN are not sent again), that nothing
//! panics, and that the account is healthy and usable again once the fault
//! clears.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, Fault, Rejection, SimConfig, Times};
use chrono::Duration;
use common::{approve, ist, login, start_with, Env};
use token_core::{Clock, ErrorKind, HealthStatus, MemoryStore};

/// Requests time out after this (the delay fault waits longer).
const TIMEOUT: StdDuration = StdDuration::from_millis(300);
const RETRY_AFTER_SECS: u64 = 90;

async fn env() -> Env {
    let env = start_with(SimConfig::default(), Arc::new(MemoryStore::new()), |c| {
        c.with_request_timeout(TIMEOUT)
    })
    .await;
    login(&env).await;
    env
}

fn faults() -> Vec<(&'static str, Fault)> {
    let code = |c| Fault::Unauthorized(Rejection::Fyers(c));
    vec![
        ("500", Fault::Status(500)),
        ("503", Fault::Status(503)),
        (
            "429 with Retry-After",
            Fault::RateLimited {
                retry_after_secs: RETRY_AFTER_SECS,
            },
        ),
        ("delay past timeout", Fault::Delay(TIMEOUT * 3)),
        ("dropped connection", Fault::DropConnection),
        ("truncated body", Fault::TruncatedBody),
        ("malformed body", Fault::MalformedBody),
        ("html instead of json", Fault::HtmlInsteadOfJson),
        ("401 -16 could not authenticate", code(-16)),
        ("401 -15 invalid token", code(-15)),
        ("401 -8 token expired", code(-8)),
        ("401 -501 invalid refresh token", code(-501)),
    ]
}

fn is_rejection(name: &str) -> bool {
    name.starts_with("401")
}

/// After the fault clears: wait for the scheduled retry if there is one,
/// log in again if a person was asked to, and check the account works.
async fn recovers(env: &Env, cell: &str) {
    env.sim().clear_faults();
    for _ in 0..5 {
        if env.manager.health().reauthorization_required {
            login(env).await;
        }
        if env.manager.health().status == HealthStatus::Healthy && env.manager.token().is_ok() {
            break;
        }
        if let Some(next) = env.manager.maintain().await {
            let now = env.clock.now();
            if next > now && next - now <= Duration::minutes(10) {
                env.clock.set(next);
            }
        }
    }
    let health = env.manager.health();
    assert_eq!(health.status, HealthStatus::Healthy, "{cell}: {health:?}");
    let token = env.manager.token().expect("usable token after recovery");
    // The broker accepts it.
    env.provider
        .probe(&token)
        .await
        .unwrap_or_else(|e| panic!("{cell}: profile call after recovery: {e}"));
}

use token_core::TokenProvider as _;

#[tokio::test]
async fn refresh_under_every_fault_is_typed_retried_or_escalated_and_recovers() {
    let mut cells = 0;
    for (name, fault) in faults() {
        let env = env().await;
        // Past the access token's 06:00 IST end: a refresh (with the PIN) is needed.
        env.clock.set(ist(2026, 3, 3, 6, 30));
        assert!(
            env.manager.token().is_err(),
            "{name}: access token still usable"
        );
        env.sim().inject_fault(
            Endpoint::FyersValidateRefreshToken,
            fault,
            Times::UntilCleared,
        );
        let before = env.sim().calls(Endpoint::FyersValidateRefreshToken);
        let err = match env.manager.ensure_fresh().await {
            Err(e) => e,
            Ok(_) => panic!("{name}: refresh succeeded under the fault"),
        };
        let calls = env.sim().calls(Endpoint::FyersValidateRefreshToken) - before;
        assert!(calls >= 1, "{name}: the broker was not asked");
        let health = env.manager.health();
        assert_ne!(health.status, HealthStatus::Healthy, "{name}: {health:?}");
        if is_rejection(name) {
            assert_eq!(err.kind(), ErrorKind::Rejected, "{name}: {err}");
            assert!(health.reauthorization_required, "{name}: {health:?}");
            assert!(
                health.reauthorization_url.is_some(),
                "{name}: no login URL in the health report"
            );
            // The refused refresh token (and the PIN) are never sent again.
            for _ in 0..3 {
                env.clock.advance(Duration::minutes(10));
                env.manager.maintain().await;
            }
            assert_eq!(
                env.sim().calls(Endpoint::FyersValidateRefreshToken) - before,
                calls,
                "{name}: refused credentials re-sent"
            );
        } else {
            assert_eq!(err.kind(), ErrorKind::Transient, "{name}: {err}");
            assert!(!health.reauthorization_required, "{name}: {health:?}");
            let now = env.clock.now();
            let next = env.manager.maintain().await.expect("a retry is scheduled");
            assert_eq!(
                env.sim().calls(Endpoint::FyersValidateRefreshToken) - before,
                calls,
                "{name}: retried before the backoff"
            );
            assert!(
                next > now && next <= now + Duration::minutes(5),
                "{name}: retry at {next}, now {now}"
            );
            if name.starts_with("429") {
                assert!(
                    next >= now + Duration::seconds(RETRY_AFTER_SECS as i64),
                    "{name}: retry at {next} ignores Retry-After"
                );
            }
        }
        recovers(&env, name).await;
        cells += 1;
    }
    assert_eq!(cells, faults().len());
}

#[tokio::test]
async fn login_exchange_under_every_fault_fails_typed_and_works_once_cleared() {
    for (name, fault) in faults() {
        let env = env().await;
        env.sim()
            .inject_fault(Endpoint::FyersValidateAuthcode, fault, Times::UntilCleared);
        let request = env.manager.begin_authorization().await.expect("login URL");
        let redirect = approve(&env, &request.url);
        let e = env
            .manager
            .complete_authorization(&redirect)
            .await
            .expect_err("a faulted exchange cannot succeed");
        let expected = if is_rejection(name) {
            ErrorKind::Rejected
        } else {
            ErrorKind::Transient
        };
        assert_eq!(e.kind(), expected, "{name}: {e}");
        // The existing credentials are untouched by a failed login.
        assert!(env.manager.token().is_ok(), "{name}");
        recovers(&env, name).await;
    }
}

#[tokio::test]
async fn profile_and_logout_under_every_fault_are_typed() {
    for endpoint in [Endpoint::FyersProfile, Endpoint::FyersLogout] {
        for (name, fault) in faults() {
            let env = env().await;
            let token = env.manager.token().expect("logged in").to_arc();
            env.sim().inject_fault(endpoint, fault, Times::UntilCleared);
            let outcome = match endpoint {
                Endpoint::FyersProfile => env.provider.probe(&token).await,
                _ => env.provider.revoke(&token).await,
            };
            match outcome {
                // Logging out a token the broker calls dead is done already.
                Ok(()) => assert!(
                    endpoint == Endpoint::FyersLogout && is_rejection(name),
                    "{endpoint:?} × {name}: succeeded under the fault"
                ),
                Err(e) => {
                    let ok = if is_rejection(name) {
                        matches!(e.kind(), ErrorKind::Rejected | ErrorKind::Inactive)
                    } else {
                        e.kind() == ErrorKind::Transient
                    };
                    assert!(ok, "{endpoint:?} × {name}: {:?} {e}", e.kind());
                }
            }
            recovers(&env, name).await;
        }
    }
}
