//! `oauth_timestamp` on the simulated or the real clock: a client without
//! clock-skew correction can only follow simulated time (idle timeout,
//! midnight) when the simulator checks timestamps on the real clock.

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, SimConfig, TimestampClock};
use chrono::Duration;
use common::*;
use token_core::clock::{Clock, ManualClock};

/// A simulator that keeps its own offset on top of `real` (like the
/// standalone binary on the system clock), so moving simulated time does
/// not move `real`.
async fn on_offset(timestamps: TimestampClock) -> (broker_sim::RunningSim, ManualClock) {
    let real = ManualClock::new(t0());
    let config = SimConfig {
        etrade_timestamp_clock: timestamps,
        ..SimConfig::default()
    };
    let running = BrokerSim::start(config, Arc::new(real.clone()))
        .await
        .unwrap();
    (running, real)
}

#[tokio::test]
async fn simulated_timestamps_refuse_a_real_clock_client_after_the_clock_moved() {
    let (running, real) = on_offset(TimestampClock::Simulated).await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.advance(Duration::hours(1));
    let r = et
        .get_at(
            "/v1/accounts/list.json",
            &token,
            real.now().timestamp(),
            &[],
        )
        .await;
    let (status, message) = error_message(r).await;
    assert_eq!(status, 401);
    assert!(
        message.starts_with("oauth_problem=timestamp_refused"),
        "{message}"
    );
}

#[tokio::test]
async fn real_timestamps_let_a_real_clock_client_live_through_idle_and_midnight() {
    let (running, real) = on_offset(TimestampClock::Real).await;
    let et = Et::new(&running);
    let token = et.login().await;
    let ts = || real.now().timestamp();
    assert_eq!(
        et.get_at("/v1/accounts/list.json", &token, ts(), &[])
            .await
            .status(),
        200
    );
    // Idle on simulated time, while the client's clock stood still.
    running.sim.advance(Duration::hours(2));
    let (status, message) =
        error_message(et.get_at("/v1/accounts/list.json", &token, ts(), &[]).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "oauth_problem=token_expired")
    );
    let renew = et
        .get_at("/oauth/renew_access_token", &token, ts(), &[])
        .await;
    assert_eq!(renew.status(), 200);
    // Through midnight New York on simulated time: the token dies.
    running.sim.advance(Duration::hours(20));
    let (status, message) = error_message(
        et.get_at("/oauth/renew_access_token", &token, ts(), &[])
            .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (401, "oauth_problem=token_expired")
    );
    // A simulated-time timestamp is now the skewed one.
    let r = et
        .get_at(
            "/v1/accounts/list.json",
            &token,
            running.sim.now().timestamp(),
            &[],
        )
        .await;
    assert!(error_message(r)
        .await
        .1
        .starts_with("oauth_problem=timestamp_refused"));
}

#[tokio::test]
async fn the_timestamp_clock_is_a_control_api_setting() {
    let (running, _real) = on_offset(TimestampClock::Simulated).await;
    let r = http()
        .post(format!("{}/__sim/settings", running.base_url))
        .json(&serde_json::json!({"etrade_timestamp_clock": "real"}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["etrade_timestamp_clock"], "real");
    assert_eq!(
        running.sim.config().etrade_timestamp_clock,
        TimestampClock::Real
    );
}
