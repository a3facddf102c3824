//! Runs every top-level example (the same code `cargo run --example NAME`
//! runs) and checks what it claims to show, so the examples cannot rot.

#[allow(dead_code)]
#[path = "../examples/etrade_quickstart.rs"]
mod etrade_quickstart;

#[allow(dead_code)]
#[path = "../examples/fyers_daily_refresh.rs"]
mod fyers_daily_refresh;

#[allow(dead_code)]
#[path = "../examples/trading_loop_with_fallback.rs"]
mod trading_loop_with_fallback;

#[allow(dead_code)]
#[path = "../examples/custom_broker.rs"]
mod custom_broker;

use chrono::{TimeZone, Utc};
use token_core::HealthStatus;
use trading_loop_with_fallback::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrade_quickstart_logs_in_makes_a_signed_call_and_renews() {
    let outcome = etrade_quickstart::run().await.expect("example runs");
    assert_eq!(outcome.quote_status, 200);
    assert_eq!(outcome.renewals, 1);
    assert_eq!(outcome.status, HealthStatus::Healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fyers_daily_refresh_remints_every_morning_and_on_schedule() {
    let outcome = fyers_daily_refresh::run().await.expect("example runs");
    // Mon 08:45 (schedule), then Tue-Thu: 06:00 (expiry) and 08:45 (schedule).
    assert_eq!(outcome.scheduled_refreshes, 3);
    assert_eq!(outcome.refreshes, 6);
    assert!(outcome.header_changed, "a refresh gives a new access token");
    assert!(outcome.header_shape_ok, "header is client_id:access_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_loop_goes_paper_at_midnight_new_york_and_live_after_login() {
    let switches = trading_loop_with_fallback::run()
        .await
        .expect("example runs");
    let utc = |d, h| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
    assert_eq!(
        switches,
        vec![
            (utc(5, 14), Mode::Live), // Thu 09:00 EST: first login
            (utc(6, 5), Mode::Paper), // Fri 00:00 EST: the token dies
            (utc(6, 14), Mode::Live), // Fri 09:00 EST: a person logged in again
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_broker_renews_from_its_refresh_token_without_a_person() {
    // Login at 09:00 New York, then re-mints at 16:00, 00:00, 08:00 on each
    // of two days: 8 h lifetime capped by the 16:00 close.
    assert_eq!(custom_broker::run().await.expect("example runs"), 7);
}
