//! Every fault kind, on both brokers, plus counters and `Times`.

mod common;

use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, EtradeProblem, Fault, Rejection, Times};
use common::*;
use serde_json::Value;

async fn profile_raw(
    running: &broker_sim::RunningSim,
) -> Result<reqwest::Response, reqwest::Error> {
    let c = running.credentials();
    http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .header("Authorization", format!("{}:x.y.z", c.fyers_client_id))
        .send()
        .await
}

#[tokio::test]
async fn status_faults_use_each_brokers_body_shape_and_run_out() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running
        .sim
        .inject_fault(Endpoint::EtradeRenew, Fault::Status(503), Times::N(2));
    for _ in 0..2 {
        let (status, msg) = error_message(et.renew(&token).await).await;
        assert_eq!((status, msg.as_str()), (503, "Service Unavailable"));
    }
    assert_eq!(et.renew(&token).await.status(), 200, "fault ran out");
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 3);

    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::Status(500),
        Times::UntilCleared,
    );
    for _ in 0..3 {
        let r = profile_raw(&running).await.unwrap();
        assert_eq!(r.status(), 500);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["s"], "error");
    }
    running.sim.clear_faults();
    assert_eq!(profile_raw(&running).await.unwrap().status(), 401);
}

#[tokio::test]
async fn delay_fault_holds_the_answer_past_a_client_timeout() {
    let (running, _clock) = start().await;
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::Delay(StdDuration::from_millis(300)),
        Times::N(1),
    );
    let c = running.credentials();
    let err = http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .header("Authorization", format!("{}:x", c.fyers_client_id))
        .timeout(StdDuration::from_millis(30))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    // A short delay still answers normally afterwards.
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::Delay(StdDuration::from_millis(5)),
        Times::N(1),
    );
    assert_eq!(profile_raw(&running).await.unwrap().status(), 401);
}

#[tokio::test]
async fn malformed_truncated_and_html_bodies() {
    let (running, _clock) = start().await;
    let ep = Endpoint::FyersProfile;
    running
        .sim
        .inject_fault(ep, Fault::MalformedBody, Times::N(1));
    let r = profile_raw(&running).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());

    running
        .sim
        .inject_fault(ep, Fault::TruncatedBody, Times::N(1));
    let r = profile_raw(&running).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "body ends early");

    running
        .sim
        .inject_fault(ep, Fault::HtmlInsteadOfJson, Times::N(1));
    let r = profile_raw(&running).await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.json::<Value>().await.is_err());

    // E*TRADE form endpoints get malformed form data.
    let et = Et::new(&running);
    running.sim.inject_fault(
        Endpoint::EtradeRequestToken,
        Fault::MalformedBody,
        Times::N(1),
    );
    let r = et
        .get("/oauth/request_token", &[], None, Some("oob"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(!form(&r.text().await.unwrap()).contains_key("oauth_token"));
    running.sim.inject_fault(
        Endpoint::EtradeRequestToken,
        Fault::TruncatedBody,
        Times::N(1),
    );
    let r = et
        .get("/oauth/request_token", &[], None, Some("oob"), None)
        .await;
    assert!(r.text().await.is_err());
}

#[tokio::test]
async fn drop_connection_fails_the_request_and_the_server_keeps_serving() {
    let (running, _clock) = start().await;
    running
        .sim
        .inject_fault(Endpoint::FyersProfile, Fault::DropConnection, Times::N(1));
    let err = profile_raw(&running).await.unwrap_err();
    assert!(!err.is_timeout());
    assert_eq!(profile_raw(&running).await.unwrap().status(), 401);
    assert_eq!(running.sim.calls(Endpoint::FyersProfile), 2);
}

#[tokio::test]
async fn rate_limited_fault_speaks_each_brokers_dialect() {
    let (running, _clock) = start().await;
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        Times::N(1),
    );
    let r = profile_raw(&running).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], -429);

    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        Times::N(1),
    );
    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("retry-after").is_none());
    assert!(r.text().await.unwrap().contains("exceeded the rate limit"));
}

#[tokio::test]
async fn unauthorized_faults_force_rejections() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.inject_fault(
        Endpoint::EtradeRenew,
        Fault::Unauthorized(Rejection::Etrade(EtradeProblem::TokenRejected)),
        Times::N(1),
    );
    let (status, msg) = error_message(et.renew(&token).await).await;
    assert_eq!(
        (status, msg.as_str()),
        (401, "oauth_problem=token_rejected")
    );
    assert_eq!(et.renew(&token).await.status(), 200);

    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::Unauthorized(Rejection::Fyers(-8)),
        Times::N(1),
    );
    let r = profile_raw(&running).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], -8);
}
