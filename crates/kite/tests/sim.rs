//! The adapter against broker-sim's independent Kite: session exchange,
//! probe, logout, and every documented refusal.

mod common;

use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, Fault, SimConfig, Times};
use chrono::Duration;
use common::*;
use secrecy::{ExposeSecret, SecretString};
use token_core::{Error, ErrorKind, TokenProvider};

const WRONG_SECRET: &str = "S3cr3t-Zq9vKx-not-the-app-secret";

fn monday_9() -> chrono::DateTime<chrono::Utc> {
    ist(2026, 3, 2, 9, 0)
}

#[tokio::test]
async fn login_probe_and_logout_work_and_the_token_dies_at_0600_ist() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let creds = login(&env).await;
    assert_eq!(creds.payload.user_id, "ZS0001");
    assert_eq!(creds.meta.expires_at, Some(ist(2026, 3, 3, 6, 0)));
    assert_eq!(env.sim().calls(Endpoint::KiteSessionToken), 1);
    env.provider.probe(&creds).await.expect("profile works");
    assert_eq!(env.sim().calls(Endpoint::KiteProfile), 1);
    // One minute before 06:00 IST it works; at 06:00 it is a TokenException.
    env.clock.set(ist(2026, 3, 3, 5, 59));
    env.provider.probe(&creds).await.expect("still alive");
    env.clock.set(ist(2026, 3, 3, 6, 0));
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(err.to_string().contains("TokenException"), "{err}");
}

#[tokio::test]
async fn logout_ends_the_session_and_a_second_logout_is_harmless() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let creds = login(&env).await;
    env.provider.revoke(&creds).await.expect("logout");
    assert_eq!(env.sim().calls(Endpoint::KiteLogout), 1);
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    env.provider
        .revoke(&creds)
        .await
        .expect("already dead is fine");
}

#[tokio::test]
async fn a_wrong_secret_is_a_configuration_error_naming_api_secret() {
    let env = start_with_secret(SimConfig::default(), monday_9(), WRONG_SECRET).await;
    let request = env.manager.begin_authorization().await.unwrap();
    let url = env
        .sim()
        .approve_kite(&env.sim().config().kite.api_key)
        .unwrap();
    let err = env
        .manager
        .complete_authorization(&SecretString::from(url))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("api_secret"), "{err}");
    assert!(!err.to_string().contains(WRONG_SECRET));
    drop(request);
}

#[tokio::test]
async fn request_tokens_work_once_and_for_five_minutes() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let api_key = env.sim().config().kite.api_key;
    let url = env.sim().approve_kite(&api_key).unwrap();
    let token = kite::redirect::request_token(&url).unwrap();
    env.provider
        .exchange(&key(), &token)
        .await
        .expect("first use");
    let err = env.provider.exchange(&key(), &token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert!(!err.to_string().contains(token.expose_secret()));
    let url = env.sim().approve_kite(&api_key).unwrap();
    let token = kite::redirect::request_token(&url).unwrap();
    env.clock.advance(Duration::minutes(5));
    let err = env.provider.exchange(&key(), &token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
}

#[tokio::test]
async fn same_day_relogin_follows_the_simulator_setting() {
    for same in [true, false] {
        let mut config = SimConfig::default();
        config.kite.same_day_same_token = same;
        let env = start_at(config, monday_9()).await;
        let a = login(&env).await;
        env.clock.advance(Duration::hours(1));
        let b = login(&env).await;
        let equal =
            a.payload.access_token.expose_secret() == b.payload.access_token.expose_secret();
        assert_eq!(equal, same);
        env.provider
            .probe(&a)
            .await
            .expect("first token still works");
    }
}

#[tokio::test]
async fn faults_are_classified_rate_limits_carry_retry_after() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let creds = login(&env).await;
    let sim = env.sim();
    sim.inject_fault(
        Endpoint::KiteProfile,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        Times::N(1),
    );
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert!(
        matches!(err, Error::Transient { retry_after: Some(d), .. } if d == StdDuration::from_secs(7)),
        "{err:?}"
    );
    for (fault, kind) in [
        (Fault::HtmlInsteadOfJson, ErrorKind::Transient),
        (Fault::Status(503), ErrorKind::Transient),
        (Fault::MalformedBody, ErrorKind::Transient),
        (Fault::FyersPermissionError, ErrorKind::Config),
        (Fault::Status(400), ErrorKind::Protocol),
    ] {
        sim.inject_fault(Endpoint::KiteProfile, fault.clone(), Times::N(1));
        let err = env.provider.probe(&creds).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{fault:?}: {err}");
    }
    env.provider.probe(&creds).await.expect("faults used up");
    assert_eq!(sim.calls(Endpoint::KiteProfile), 7);
}

#[tokio::test]
async fn the_simulator_insists_on_the_version_header_and_json_errors() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http
        .get(format!("{}/user/profile", env.running.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["error_type"], "InputException");
    assert_eq!(v["status"], "error");
    assert!(v["message"].as_str().unwrap().contains("X-Kite-Version"));
}

#[tokio::test]
async fn renew_is_not_offered() {
    let env = start_at(SimConfig::default(), monday_9()).await;
    let creds = login(&env).await;
    assert!(!env.provider.capabilities().renew);
    let err = env.provider.renew(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}
