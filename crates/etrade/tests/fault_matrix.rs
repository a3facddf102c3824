//! The fault matrix: every E*TRADE endpoint the token lifecycle uses × every
//! simulator fault, driven through the [`TokenManager`] as a bot would.
//!
//! For each cell it checks the typed outcome, the retry behaviour
//! (transient: a retry is scheduled within the backoff and nobody is asked to
//! log in; rejection: a person is asked, and the refused credentials are not
//! sent again), that nothing panics, and that the account is healthy and
//! usable again once the fault clears.

mod common;

use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, EtradeProblem, Fault, Rejection, SimConfig, Times};
use chrono::Duration;
use common::{build, config_for, ny, request_token_of, Env};
use token_core::{Environment, ErrorKind, HealthStatus, ManualClock, MemoryStore, Remedy};

/// Requests time out after this (the delay fault waits longer).
const TIMEOUT: StdDuration = StdDuration::from_millis(300);

async fn env() -> Env {
    let clock = ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running =
        broker_sim::BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
            .await
            .expect("simulator starts");
    let config = config_for(&running, Environment::Sandbox).with_timeout(TIMEOUT);
    let env = build(
        running,
        clock.clone(),
        std::sync::Arc::new(clock),
        config,
        std::sync::Arc::new(MemoryStore::new()),
    );
    env.login().await;
    env
}

fn faults() -> Vec<(&'static str, Fault)> {
    let problem = |p| Fault::Unauthorized(Rejection::Etrade(p));
    vec![
        ("500", Fault::Status(500)),
        ("503", Fault::Status(503)),
        (
            "429/rate limit",
            Fault::RateLimited {
                retry_after_secs: 7,
            },
        ),
        ("delay past timeout", Fault::Delay(TIMEOUT * 3)),
        ("dropped connection", Fault::DropConnection),
        ("truncated body", Fault::TruncatedBody),
        ("malformed body", Fault::MalformedBody),
        ("html instead of json", Fault::HtmlInsteadOfJson),
        ("401 token_expired", problem(EtradeProblem::TokenExpired)),
        ("401 token_rejected", problem(EtradeProblem::TokenRejected)),
        (
            "401 signature_invalid",
            problem(EtradeProblem::SignatureInvalid),
        ),
        (
            "401 consumer_key_rejected",
            problem(EtradeProblem::ConsumerKeyRejected),
        ),
        ("401 nonce_used", problem(EtradeProblem::NonceUsed)),
        (
            "401 timestamp_refused",
            problem(EtradeProblem::TimestampRefused { from: 1, to: 2 }),
        ),
    ]
}

/// After the fault clears: wait for the scheduled retry if there is one,
/// log in again if a person was asked to, and check the account works.
async fn recovers(env: &Env, cell: &str) {
    env.sim.clear_faults();
    for _ in 0..5 {
        match env.manager.health().remedy {
            Some(Remedy::LogIn) => {
                env.login().await;
            }
            // The person fixed the setting (the fault is cleared) and tells
            // the manager so.
            Some(Remedy::FixConfig { .. } | Remedy::FixPin) => env.manager.clear_rejection(),
            _ => {}
        }
        if env.manager.health().status == HealthStatus::Healthy && env.manager.token().is_ok() {
            break;
        }
        if let Some(next) = env.manager.maintain().await {
            let now = env.clock.now_utc();
            if next > now && next - now <= Duration::minutes(10) {
                env.clock.set(next);
            }
        }
    }
    let health = env.manager.health();
    assert_eq!(health.status, HealthStatus::Healthy, "{cell}: {health:?}");
    assert!(env.manager.token().is_ok(), "{cell}: no usable token");
    env.client
        .get("/v1/accounts/list.json")
        .await
        .unwrap_or_else(|e| panic!("{cell}: data call after recovery: {e}"));
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}
impl NowUtc for ManualClock {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        token_core::Clock::now(self)
    }
}

/// Refused credentials are never sent again, however long we wait: the
/// renew endpoint stays at `renewals` calls over half an hour of passes.
async fn never_resent(env: &Env, name: &str, renewals: u64) {
    for _ in 0..3 {
        env.clock.advance(Duration::minutes(10));
        env.manager.maintain().await;
    }
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRenew),
        renewals,
        "{name}: refused credentials re-sent"
    );
}

/// The expected kind of a failed renewal.
fn renew_kind(name: &str) -> &'static [ErrorKind] {
    match name {
        "401 token_expired" | "401 token_rejected" => &[ErrorKind::Rejected],
        "401 signature_invalid" | "401 consumer_key_rejected" => &[ErrorKind::Config],
        // A renew answered with a garbled 200 is not understood: protocol or transient.
        "truncated body" | "malformed body" | "html instead of json" => {
            &[ErrorKind::Transient, ErrorKind::Protocol]
        }
        _ => &[ErrorKind::Transient],
    }
}

#[tokio::test]
async fn renewal_under_every_fault_is_typed_retried_or_escalated_and_recovers() {
    let mut cells = 0;
    for (name, fault) in faults() {
        let env = env().await;
        // Idle: the next use needs a renewal.
        env.clock.advance(Duration::minutes(125));
        env.sim
            .inject_fault(Endpoint::EtradeRenew, fault, Times::UntilCleared);
        let before = env.sim.calls(Endpoint::EtradeRenew);
        let logins_before = env.sim.calls(Endpoint::EtradeRequestToken);
        let err = match env.manager.ensure_fresh().await {
            Err(e) => e,
            // PROTOCOLS.md: for renew the status decides ("200 = alive or
            // reactivated"); its plain-text body is informational, so a 200
            // with an unreadable body still counts as renewed.
            Ok(_) if name == "malformed body" => {
                recovers(&env, name).await;
                cells += 1;
                continue;
            }
            Ok(_) => panic!("{name}: renewal succeeded under the fault"),
        };
        assert!(
            renew_kind(name).contains(&err.kind()),
            "{name}: got {:?} ({err})",
            err.kind()
        );
        let health = env.manager.health();
        assert!(health.consecutive_failures >= 1, "{name}: {health:?}");
        assert_ne!(health.status, HealthStatus::Healthy, "{name}");
        let calls = env.sim.calls(Endpoint::EtradeRenew) - before;
        match err.kind() {
            ErrorKind::Transient | ErrorKind::Protocol => {
                assert!(!health.reauthorization_required, "{name}: {health:?}");
                // A retry is scheduled, soon, not immediately.
                let now = env.clock.now_utc();
                let next = env.manager.maintain().await.expect("a retry is scheduled");
                assert!(
                    next > now && next <= now + Duration::minutes(5),
                    "{name}: retry at {next}, now {now}"
                );
                assert_eq!(
                    env.sim.calls(Endpoint::EtradeRenew) - before,
                    calls,
                    "{name}: retried before the backoff"
                );
            }
            ErrorKind::Rejected => {
                assert!(health.reauthorization_required, "{name}: {health:?}");
                never_resent(&env, name, before + calls).await;
            }
            ErrorKind::Config => {
                // A refused key or secret: fix that setting, not "log in".
                let setting = match name {
                    "401 signature_invalid" => "consumer_secret",
                    _ => "consumer_key",
                };
                assert_eq!(
                    health.remedy,
                    Some(Remedy::FixConfig {
                        setting: setting.into()
                    }),
                    "{name}"
                );
                assert!(!health.reauthorization_required, "{name}: {health:?}");
                assert!(health.reauthorization_url.is_none(), "{name}");
                assert_eq!(
                    env.sim.calls(Endpoint::EtradeRequestToken),
                    logins_before,
                    "{name}: no login was started"
                );
                never_resent(&env, name, before + calls).await;
            }
            _ => {}
        }
        recovers(&env, name).await;
        cells += 1;
    }
    assert_eq!(cells, faults().len());
}

#[tokio::test]
async fn keep_alive_probe_under_every_fault_keeps_the_token_usable_and_recovers() {
    for (name, fault) in faults() {
        let env = env().await;
        // Keep-alive due, still usable.
        env.clock.advance(Duration::minutes(115));
        assert!(
            env.manager.token().is_ok(),
            "{name}: usable before the probe"
        );
        env.sim
            .inject_fault(Endpoint::EtradeAccountsList, fault, Times::UntilCleared);
        env.manager.maintain().await;
        // A failed keep-alive must not take a still-valid token away from the
        // bot, unless the broker said it is dead and a person must act.
        let health = env.manager.health();
        if !health.reauthorization_required {
            assert!(
                env.manager.token().is_ok() || env.manager.ensure_fresh().await.is_ok(),
                "{name}: a transient probe failure cost the token: {health:?}"
            );
        }
        recovers(&env, name).await;
    }
}

#[tokio::test]
async fn authorization_steps_under_every_fault_fail_typed_and_work_once_cleared() {
    for endpoint in [Endpoint::EtradeRequestToken, Endpoint::EtradeAccessToken] {
        for (name, fault) in faults() {
            let env = env().await;
            env.sim.inject_fault(endpoint, fault, Times::UntilCleared);
            let outcome = match env.manager.begin_authorization().await {
                Err(e) => Err(e),
                Ok(req) => {
                    let verifier = env
                        .sim
                        .approve_etrade(&request_token_of(&req.url))
                        .expect("approve");
                    env.manager
                        .complete_authorization(&verifier.into())
                        .await
                        .map(|_| ())
                }
            };
            let e = outcome.expect_err("a faulted authorization step cannot succeed");
            assert!(
                !matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Store),
                "{endpoint:?} × {name}: {e}"
            );
            // The account's existing credentials are untouched by a failed login.
            assert!(env.manager.token().is_ok(), "{endpoint:?} × {name}");
            env.sim.clear_faults();
            env.login().await;
            recovers(&env, name).await;
        }
    }
}
