//! Alerts per remedy (issue 13, item 3): a setting or PIN to fix is one
//! person-action alert naming it, never "a person must log in", and the
//! next login or renewal resolves it.

mod common;

use common::*;
use control::notify::AlertKind;
use token_core::{Clock, Event, Remedy};

#[tokio::test]
async fn a_setting_to_fix_is_one_alert_naming_it_and_never_a_login() {
    let clock = start_clock();
    let (alerter, recorder) = recorded(&clock, 0);
    let key: token_core::AccountKey = "etrade/sandbox/main".parse().unwrap();
    let action = Event::PersonActionRequired {
        key: key.clone(),
        at: clock.now(),
        remedy: Remedy::FixConfig {
            setting: "consumer_secret".into(),
        },
        reason: "configuration error: E*TRADE refused the request signature".into(),
    };
    // Raised again on every pass: still one alert.
    for _ in 0..3 {
        alerter.handle(&action);
    }
    wait_for("the person-action alert", || {
        !lock(&recorder.got).is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let got = lock(&recorder.got).clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].kind, AlertKind::PersonActionRequired);
    assert!(
        got[0]
            .message
            .starts_with("fix the configuration: consumer_secret"),
        "{}",
        got[0].message
    );
    assert!(!got[0].message.contains("log in"), "{}", got[0].message);
    assert!(got[0].url.is_none());
    // Fixed and recovered: "recovered" follows the alert that was sent.
    alerter.handle(&Event::Recovered {
        key,
        at: clock.now(),
    });
    wait_for("recovered", || lock(&recorder.got).len() == 2).await;
    assert_eq!(lock(&recorder.got)[1].kind, AlertKind::Recovered);
}
