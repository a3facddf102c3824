//! The HTTP control API, and the offset clock used with non-manual clocks.

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::{json, Value};
use token_core::clock::{Clock as _, SystemClock};

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut rb = http().request(method, url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn clock_controls_move_the_shared_manual_clock() {
    let (running, clock) = start().await;
    let base = &running.base_url;
    let (s, v) = call(reqwest::Method::GET, format!("{base}/__sim/clock"), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["shares_manual_clock"], true);
    let (_, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/clock/advance"),
        Some(json!({"seconds": 3600})),
    )
    .await;
    assert_eq!(
        clock.now(),
        t0() + Duration::hours(1),
        "the shared clock moved"
    );
    let now: DateTime<Utc> = v["now"].as_str().unwrap().parse().unwrap();
    assert_eq!(now, clock.now());
    let (s, _) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/clock/set"),
        Some(json!({"now": "2026-03-09T04:00:00Z"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(clock.now().to_rfc3339(), "2026-03-09T04:00:00+00:00");
    // Bad bodies get a 400, not a panic.
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/clock/set"),
        Some(json!({"now": "yesterday"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn approvals_faults_counters_and_settings_over_http() {
    let (running, _clock) = start().await;
    let base = &running.base_url;
    let et = Et::new(&running);
    let r = et
        .get("/oauth/request_token", &[], None, Some("oob"), None)
        .await;
    let rt = form(&r.text().await.unwrap())["oauth_token"].clone();
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/etrade/approve"),
        Some(json!({"request_token": rt})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["verifier"].as_str().unwrap().len(), 5);
    let (s, _) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/etrade/approve"),
        Some(json!({"request_token": "nope"})),
    )
    .await;
    assert_eq!(s, 404);

    let c = running.credentials();
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/fyers/approve"),
        Some(json!({"client_id": c.fyers_client_id, "redirect_uri": c.fyers_redirect_uri, "state": "q"})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["redirect_url"].as_str().unwrap().contains("auth_code="));

    let (s, _) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/faults"),
        Some(json!({"endpoint": "fyers_profile", "fault": {"kind": "status", "status": 502}, "times": 1})),
    )
    .await;
    assert_eq!(s, 200);
    let profile = || {
        http()
            .get(format!("{}/profile", running.fyers_base_url()))
            .send()
    };
    assert_eq!(profile().await.unwrap().status(), 502);
    assert_eq!(profile().await.unwrap().status(), 401);
    let (s, _) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/faults"),
        Some(json!({"endpoint": "fyers_profile", "fault": {"kind": "html_instead_of_json"}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(profile().await.unwrap().status(), 200);
    call(
        reqwest::Method::DELETE,
        format!("{base}/__sim/faults"),
        None,
    )
    .await;
    assert_eq!(profile().await.unwrap().status(), 401);
    let (s, _) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/faults"),
        Some(json!({"endpoint": "no_such_endpoint", "fault": {"kind": "drop_connection"}})),
    )
    .await;
    assert_eq!(s, 400);

    let (_, v) = call(reqwest::Method::GET, format!("{base}/__sim/counters"), None).await;
    assert_eq!(v["fyers_profile"], 4);
    assert_eq!(v["etrade_request_token"], 1);
    call(
        reqwest::Method::DELETE,
        format!("{base}/__sim/counters"),
        None,
    )
    .await;
    assert_eq!(running.sim.calls(Endpoint::FyersProfile), 0);

    let (_, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/settings"),
        Some(json!({"fyers_rotation": true, "etrade_error_style": "html"})),
    )
    .await;
    assert_eq!(v["fyers_rotation"], true);
    assert_eq!(v["etrade_error_style"], "html");
    assert!(running.sim.config().fyers_rotation);

    let (_, v) = call(
        reqwest::Method::GET,
        format!("{base}/__sim/credentials"),
        None,
    )
    .await;
    assert_eq!(v["fyers_base_url"], format!("{base}/api/v3"));
    assert_eq!(v["etrade_consumer_key"], c.etrade_consumer_key);
}

#[tokio::test]
async fn on_a_system_clock_advancing_moves_an_offset() {
    let running = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(!running.sim.shares_manual_clock());
    let before = running.sim.now();
    running.sim.advance(Duration::hours(5));
    let moved = running.sim.now() - before;
    assert!(moved >= Duration::hours(5) && moved < Duration::hours(5) + Duration::seconds(5));
    let target: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    running.sim.set_time(target);
    assert!((running.sim.now() - target).num_seconds().abs() < 5);
    running.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_get_a_404_and_the_server_stops_on_shutdown() {
    let (running, _clock) = start().await;
    let base = running.base_url.clone();
    let r = http().get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    running.shutdown().await;
    assert!(http()
        .get(format!("{base}/__sim/clock"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn the_revoke_route_kills_live_etrade_tokens_behind_the_holders_back() {
    let (running, _clock) = start().await;
    let base = &running.base_url;
    let et = Et::new(&running);
    let pair = et.login().await;
    assert_eq!(et.accounts(&pair).await.status(), 200);
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/__sim/etrade/revoke"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["revoked"], 1);
    let (status, message) = error_message(et.accounts(&pair).await).await;
    assert_eq!(status, 401);
    assert!(message.contains("token_rejected"), "{message}");
    // A renewal cannot revive it either, and nothing is left to revoke.
    let (status, message) = error_message(et.renew(&pair).await).await;
    assert_eq!(status, 401);
    assert!(message.contains("token_rejected"), "{message}");
    assert_eq!(running.sim.revoke_etrade_access_tokens(), 0);
}
