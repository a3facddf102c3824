//! Every 401 variant and fault kind broker-sim can produce → the right typed
//! outcome, in JSON and HTML error styles.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{
    Endpoint, EtradeErrorStyle, EtradeProblem, Fault, RateLimit, Rejection, SimConfig, Times,
};
use chrono::Duration;
use common::*;
use etrade::EtradeError;
use token_core::{ErrorKind, Event, TokenProvider};

async fn logged_in(style: EtradeErrorStyle) -> Env {
    let env = setup().await;
    env.sim.set_etrade_error_style(style);
    env.login().await;
    env
}

fn unauthorized(p: EtradeProblem) -> Fault {
    Fault::Unauthorized(Rejection::Etrade(p))
}

const STYLES: [EtradeErrorStyle; 2] = [EtradeErrorStyle::Json, EtradeErrorStyle::Html];

#[tokio::test]
async fn inactive_token_is_renewed_once_and_the_call_retried() {
    for style in STYLES {
        let env = logged_in(style).await;
        // The broker says idle although our clock thinks the token is fresh.
        env.sim.inject_fault(
            Endpoint::EtradeQuote,
            unauthorized(EtradeProblem::TokenExpired),
            Times::N(1),
        );
        let r = env.quote().await.expect("renewed and retried");
        assert_eq!(r.status, 200);
        assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1, "{style:?}");
        assert_eq!(env.sim.calls(Endpoint::EtradeQuote), 2);
    }
}

#[tokio::test]
async fn a_real_broker_side_idle_token_is_renewed_once() {
    // The simulator idles tokens after 30 min; our policy still says 2 h.
    let config = SimConfig {
        etrade_idle_timeout: Duration::minutes(30),
        etrade_idle_problem: EtradeProblem::TokenRejected,
        ..SimConfig::default()
    };
    let env = setup_at(ny(2026, 3, 5, 9, 0), config).await;
    env.login().await;
    env.clock.advance(Duration::minutes(45));
    assert_eq!(env.quote().await.expect("renewed").status, 200);
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
}

#[tokio::test]
async fn rejected_token_requires_reauthorization_with_an_event() {
    for style in STYLES {
        let mut env = logged_in(style).await;
        env.drain();
        env.sim.inject_fault(
            Endpoint::EtradeQuote,
            unauthorized(EtradeProblem::TokenRejected),
            Times::UntilCleared,
        );
        env.sim.inject_fault(
            Endpoint::EtradeRenew,
            unauthorized(EtradeProblem::TokenRejected),
            Times::UntilCleared,
        );
        let err = env.quote().await.unwrap_err();
        assert!(
            matches!(err, EtradeError::ReauthorizationRequired { .. }),
            "{style:?}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Rejected);
        assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
        let events = env.drain();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ReauthorizationRequired { url: Some(_), .. })),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn token_expired_on_renew_is_a_rejection_not_a_retry() {
    let env = logged_in(EtradeErrorStyle::Json).await;
    env.sim.inject_fault(
        Endpoint::EtradeRenew,
        unauthorized(EtradeProblem::TokenExpired),
        Times::N(1),
    );
    let record = (*env.manager.token().unwrap()).clone();
    let err = env.provider.renew(&record).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
}

#[tokio::test]
async fn renew_is_not_attempted_after_midnight() {
    let env = logged_in(EtradeErrorStyle::Json).await;
    let record = (*env.manager.token().unwrap()).clone();
    env.clock
        .set(etrade::next_midnight_new_york(record.meta.issued_at));
    let err = env.provider.renew(&record).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 0);
}

#[tokio::test]
async fn probe_of_an_idle_token_says_inactive_so_the_manager_renews() {
    let env = logged_in(EtradeErrorStyle::Html).await;
    env.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        unauthorized(EtradeProblem::TokenExpired),
        Times::N(1),
    );
    let record = (*env.manager.token().unwrap()).clone();
    assert_eq!(
        env.provider.probe(&record).await.unwrap_err().kind(),
        ErrorKind::Inactive
    );
    env.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        unauthorized(EtradeProblem::TokenExpired),
        Times::N(1),
    );
    env.manager
        .keep_alive()
        .await
        .expect("keep-alive renews an inactive token");
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
}

#[tokio::test]
async fn signature_and_consumer_key_problems_are_typed_config_errors() {
    for style in STYLES {
        let env = logged_in(style).await;
        env.sim.inject_fault(
            Endpoint::EtradeQuote,
            unauthorized(EtradeProblem::SignatureInvalid),
            Times::N(1),
        );
        let err = env.quote().await.unwrap_err();
        assert!(matches!(err, EtradeError::SignatureInvalid), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Config);
        env.sim.inject_fault(
            Endpoint::EtradeQuote,
            unauthorized(EtradeProblem::ConsumerKeyRejected),
            Times::N(1),
        );
        let err = env.quote().await.unwrap_err();
        assert!(matches!(err, EtradeError::ConsumerKeyRejected), "{err:?}");
        assert_eq!(
            env.sim.calls(Endpoint::EtradeRenew),
            0,
            "no renewal for config errors"
        );
    }
}

/// A consumer secret that cannot occur by chance in a message.
const WRONG_SECRET: &str = "S3cr3t-Wr0ngQx7Zp-consumer";

#[tokio::test]
async fn a_wrong_consumer_secret_is_reported_as_signature_invalid() {
    let clock = token_core::ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running =
        broker_sim::BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
            .await
            .unwrap();
    let c = running.credentials();
    let config = etrade::EtradeConfig::new(
        token_core::Environment::Sandbox,
        c.etrade_consumer_key,
        WRONG_SECRET.to_string().into(),
    )
    .with_base_url(&running.base_url)
    .unwrap();
    let env = build(
        running,
        clock.clone(),
        Arc::new(clock),
        config,
        Arc::new(token_core::MemoryStore::new()),
    );
    let err = env.manager.begin_authorization().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("signature_invalid"), "{err}");
    assert!(
        !err.to_string().contains(WRONG_SECRET),
        "no secret in errors: {err}"
    );
    // The remedy is the setting, not a login; operator advice, not
    // advice for library authors.
    assert_eq!(
        err.remedy(),
        token_core::Remedy::FixConfig {
            setting: "consumer_secret".into()
        }
    );
    assert!(!err.to_string().contains("exactly as signed"), "{err}");
    // The daemon's path: no credentials, so it would ask for a login; the
    // request token is refused, so it asks for the setting instead.
    let mut events = env.manager.subscribe();
    env.manager.maintain().await;
    let health = env.manager.health();
    assert!(!health.reauthorization_required, "{health:?}");
    assert_eq!(
        health.remedy,
        Some(token_core::Remedy::FixConfig {
            setting: "consumer_secret".into()
        })
    );
    let mut raised = Vec::new();
    while let Ok(e) = events.try_recv() {
        raised.push(e.name());
    }
    assert!(raised.contains(&"person_action_required"), "{raised:?}");
    assert!(!raised.contains(&"reauthorization_required"), "{raised:?}");
}

#[tokio::test]
async fn clock_skew_is_corrected_from_the_acceptable_window() {
    // Our clock is 10 minutes behind the broker's.
    let sim_clock = token_core::ManualClock::new(ny(2026, 3, 5, 9, 10));
    let app_clock = token_core::ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running =
        broker_sim::BrokerSim::start_with_manual_clock(SimConfig::default(), sim_clock.clone())
            .await
            .unwrap();
    let config = config_for(&running, token_core::Environment::Sandbox);
    let env = build(
        running,
        sim_clock,
        Arc::new(app_clock),
        config,
        Arc::new(token_core::MemoryStore::new()),
    );
    env.login().await;
    assert_eq!(env.provider.signer().clock_offset_secs(), 600);
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRequestToken),
        2,
        "refused once, then accepted"
    );
    assert_eq!(env.quote().await.unwrap().status, 200);
    assert_eq!(
        env.sim.calls(Endpoint::EtradeQuote),
        1,
        "no refusal once corrected"
    );
}

#[tokio::test]
async fn timestamp_refused_twice_is_a_typed_transient_error() {
    let env = logged_in(EtradeErrorStyle::Json).await;
    let now = env.sim.now().timestamp();
    let fault = unauthorized(EtradeProblem::TimestampRefused {
        from: now - 300,
        to: now + 300,
    });
    env.sim
        .inject_fault(Endpoint::EtradeQuote, fault, Times::N(2));
    let err = env.quote().await.unwrap_err();
    assert!(matches!(err, EtradeError::TimestampRefused), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(env.sim.calls(Endpoint::EtradeQuote), 2);
}

#[tokio::test]
async fn server_errors_drops_truncation_and_timeouts_are_transient() {
    let faults = [
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::DropConnection,
        Fault::TruncatedBody,
        Fault::Delay(StdDuration::from_millis(400)),
    ];
    for style in STYLES {
        for fault in faults.clone() {
            let clock = token_core::ManualClock::new(ny(2026, 3, 5, 9, 0));
            let running =
                broker_sim::BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
                    .await
                    .unwrap();
            running.sim.set_etrade_error_style(style);
            let config = config_for(&running, token_core::Environment::Sandbox)
                .with_timeout(StdDuration::from_millis(100));
            let env = build(
                running,
                clock.clone(),
                Arc::new(clock),
                config,
                Arc::new(token_core::MemoryStore::new()),
            );
            env.login().await;
            env.sim
                .inject_fault(Endpoint::EtradeQuote, fault.clone(), Times::N(1));
            let err = env.quote().await.unwrap_err();
            assert!(err.is_transient(), "{fault:?}/{style:?}: {err:?}");
            // The same faults on renew are transient for the manager too.
            env.sim
                .inject_fault(Endpoint::EtradeRenew, fault.clone(), Times::N(1));
            let record = (*env.manager.token().unwrap()).clone();
            let err = env.provider.renew(&record).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Transient,
                "{fault:?}/{style:?}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn rate_limit_page_is_typed_rate_limited() {
    let env = logged_in(EtradeErrorStyle::Json).await;
    env.sim.inject_fault(
        Endpoint::EtradeQuote,
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Times::N(1),
    );
    let err = env.quote().await.unwrap_err();
    assert!(matches!(err, EtradeError::RateLimited), "{err:?}");
    assert!(err.is_transient());
    // The simulator's real limiter gives the same answer.
    env.sim.set_rate_limit(Some(RateLimit {
        max_requests: 1,
        window_millis: 1000,
    }));
    assert_eq!(env.quote().await.unwrap().status, 200);
    assert!(matches!(env.quote().await, Err(EtradeError::RateLimited)));
}

#[tokio::test]
async fn malformed_and_html_token_answers_are_typed() {
    let env = setup().await;
    let key = env.manager.key().clone();
    env.sim.inject_fault(
        Endpoint::EtradeRequestToken,
        Fault::MalformedBody,
        Times::N(1),
    );
    let err = env.provider.start_authorization(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    env.sim.inject_fault(
        Endpoint::EtradeRequestToken,
        Fault::HtmlInsteadOfJson,
        Times::N(1),
    );
    let err = env.provider.start_authorization(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    env.sim.inject_fault(
        Endpoint::EtradeRequestToken,
        Fault::Status(503),
        Times::N(1),
    );
    let err = env.provider.start_authorization(&key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    // Malformed data-API bodies reach the caller, who parses them.
    env.login().await;
    env.sim
        .inject_fault(Endpoint::EtradeQuote, Fault::MalformedBody, Times::N(1));
    let r = env.quote().await.expect("200 with a broken body");
    assert!(matches!(
        r.json::<serde_json::Value>(),
        Err(EtradeError::Protocol(_))
    ));
}

#[tokio::test]
async fn wrong_verifier_and_expired_request_token_are_rejections() {
    let env = setup().await;
    let key = env.manager.key().clone();
    let req = env.provider.start_authorization(&key).await.unwrap();
    let err = env
        .provider
        .complete_authorization(&req, &"WRONG".to_string().into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    let req = env.provider.start_authorization(&key).await.unwrap();
    let verifier = env.sim.approve_etrade(&request_token_of(&req.url)).unwrap();
    env.clock.advance(Duration::minutes(6));
    let err = env
        .provider
        .complete_authorization(&req, &verifier.into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(!err.to_string().contains("WRONG"));
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let env = setup().await;
    env.login().await;
    let creds = env.manager.token().unwrap();
    use secrecy::ExposeSecret;
    let token = creds.payload.oauth_token.expose_secret().to_owned();
    let secret = creds.payload.oauth_token_secret.expose_secret().to_owned();
    let consumer_secret = env.running.credentials().etrade_consumer_secret;
    for text in [
        format!("{creds:?}"),
        format!("{:?}", env.provider),
        format!("{:?}", env.client),
        format!("{:?}", env.manager.health()),
    ] {
        assert!(
            !text.contains(&token) && !text.contains(&secret) && !text.contains(&consumer_secret),
            "{text}"
        );
    }
}
