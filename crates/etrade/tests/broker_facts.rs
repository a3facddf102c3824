//! What the real E*TRADE has been seen to say (issue 15, PROTOCOLS.md), each
//! with the behaviour it calls for: malformed `timestamp_refused` windows,
//! 401s without an `oauth_problem` (legacy text, XML bodies), a renew that
//! answers 200 while the token stays dead, and a pasted callback URL as the
//! verifier.

mod common;

use broker_sim::canned::{CannedAnswer, CannedServer};
use broker_sim::{Endpoint, EtradeErrorStyle, EtradeProblem, Fault, Rejection, Times};
use common::*;
use etrade::EtradeError;
use secrecy::SecretString;
use token_core::{ErrorKind, TokenProvider};

fn unauthorized(p: EtradeProblem) -> Fault {
    Fault::Unauthorized(Rejection::Etrade(p))
}

async fn logged_in() -> Env {
    let env = setup().await;
    env.login().await;
    env
}

#[tokio::test]
async fn a_malformed_acceptable_window_is_transient_and_leaves_the_clock_alone() {
    let env = logged_in().await;
    // The outage answer (pyetrade issue 55): the upper bound lost digits.
    env.sim.inject_fault(
        Endpoint::EtradeQuote,
        unauthorized(EtradeProblem::TimestampRefused {
            from: 1_636_665_132,
            to: 16_366_687,
        }),
        Times::N(1),
    );
    let err = env.quote().await.unwrap_err();
    assert!(matches!(err, EtradeError::TimestampRefused), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(env.provider.signer().clock_offset_secs(), 0);
    assert_eq!(
        env.sim.calls(Endpoint::EtradeQuote),
        1,
        "not re-signed with an absurd clock"
    );
    // Neither a renewal nor a login: the next call simply works.
    assert_eq!(env.quote().await.unwrap().status, 200);
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 0);
}

#[tokio::test]
async fn windows_too_wide_or_too_far_from_our_clock_are_not_used() {
    let env = logged_in().await;
    let now = env.sim.now().timestamp();
    for (from, to) in [
        (now - 4 * 3600, now + 4 * 3600),
        (now + 3 * 86_400, now + 3 * 86_400 + 600),
        (now + 300, now - 300),
    ] {
        env.sim.inject_fault(
            Endpoint::EtradeQuote,
            unauthorized(EtradeProblem::TimestampRefused { from, to }),
            Times::N(1),
        );
        let err = env.quote().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transient, "{from}-{to}: {err:?}");
        assert_eq!(env.provider.signer().clock_offset_secs(), 0, "{from}-{to}");
    }
}

#[tokio::test]
async fn a_401_without_an_oauth_problem_is_renewed_once_and_retried() {
    for style in [EtradeErrorStyle::Json, EtradeErrorStyle::Html] {
        let env = logged_in().await;
        env.sim.set_etrade_error_style(style);
        // broker-sim's bare 401: `{"Error":{"message":"Unauthorized"}}`.
        env.sim
            .inject_fault(Endpoint::EtradeQuote, Fault::Status(401), Times::N(1));
        let r = env.quote().await.expect("renewed and retried");
        assert_eq!(r.status, 200);
        assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1, "{style:?}");
        assert_eq!(env.sim.calls(Endpoint::EtradeQuote), 2, "{style:?}");
    }
}

#[tokio::test]
async fn a_renew_answering_200_while_the_token_stays_dead_escalates_without_looping() {
    for fault in [
        Fault::Status(401),
        unauthorized(EtradeProblem::TokenExpired),
    ] {
        let mut env = logged_in().await;
        env.drain();
        // Renew answers 200 ("Access Token has been renewed") but every data
        // call keeps being refused.
        env.sim
            .inject_fault(Endpoint::EtradeQuote, fault.clone(), Times::UntilCleared);
        let err = env.quote().await.unwrap_err();
        assert!(
            matches!(err, EtradeError::ReauthorizationRequired { .. }),
            "{fault:?}: {err:?}"
        );
        assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1, "{fault:?}");
        assert_eq!(env.sim.calls(Endpoint::EtradeQuote), 2, "{fault:?}");
        let events = env.drain();
        assert!(asks_for_login(&events), "{events:?}");
        // More calls and maintenance passes: no further renewal.
        for _ in 0..5 {
            let err = env.quote().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
            env.manager.maintain().await;
        }
        assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1, "{fault:?}");
        // A person logs in: calls work again.
        env.sim.clear_faults();
        env.login().await;
        assert_eq!(env.quote().await.unwrap().status, 200);
    }
}

#[tokio::test]
async fn legacy_and_xml_401_bodies_mean_renew_on_use_and_log_in_on_renew() {
    let server = CannedServer::start().await.unwrap();
    let p = offline_provider(server.base_url(), "S3cr3t-Zq9vKx-consumer");
    let r = offline_record("S3cr3t-Zq9vKx-token", "S3cr3t-Zq9vKx-token-secret");
    let bodies: [(&str, &[u8]); 3] = [
        ("text/plain", b"Invalid access token used"),
        (
            "application/xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><code>10033</code><message>Invalid access token used</message></Error>",
        ),
        (
            "application/xml",
            b"<Error><code>401</code><message>Unauthorized</message></Error>",
        ),
    ];
    for (content_type, body) in bodies {
        server.set(CannedAnswer::new(401, content_type, body.to_vec()));
        let probe = p.probe(&r).await.unwrap_err();
        assert_eq!(probe.kind(), ErrorKind::Inactive, "{probe:?}");
        let renew = p.renew(&r).await.unwrap_err();
        assert_eq!(renew.kind(), ErrorKind::Rejected, "{renew:?}");
        for e in [probe, renew] {
            assert!(!e.to_string().contains("S3cr3t-Zq9vKx"), "{e}");
        }
    }
}

#[tokio::test]
async fn a_pasted_callback_url_works_as_the_verifier() {
    let env = setup().await;
    let req = env.manager.begin_authorization().await.unwrap();
    assert!(
        !req.instructions.contains("about 5"),
        "verifiers are 5 to 7 characters: {}",
        req.instructions
    );
    let token = request_token_of(&req.url);
    let verifier = env.sim.approve_etrade(&token).expect("approve");
    let mut callback = url::Url::parse("https://bot.example.com/etrade/callback").unwrap();
    callback
        .query_pairs_mut()
        .append_pair("oauth_token", &token)
        .append_pair("oauth_verifier", &verifier);
    env.manager
        .complete_authorization(&SecretString::from(callback.to_string()))
        .await
        .expect("the verifier is read from the URL");
    assert_eq!(env.quote().await.unwrap().status, 200);
}
