//! The adapter against broker-sim's Schwab: login from the pasted redirect
//! URL, refresh, probe, and every documented refusal.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::{Endpoint, Fault, SimConfig, Times};
use chrono::Duration;
use common::*;
use secrecy::SecretString;
use token_core::{Error, ErrorKind, MemoryStore, TokenProvider};

#[tokio::test]
async fn login_url_carries_the_oauth_parameters_and_a_fresh_state() {
    let env = start().await;
    let a = env.provider.start_authorization(&key()).await.unwrap();
    let b = env.provider.start_authorization(&key()).await.unwrap();
    let url = url::Url::parse(&a.url).unwrap();
    assert_eq!(url.path(), "/v1/oauth/authorize");
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let cfg = env.sim().config().schwab;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], cfg.app_key);
    assert_eq!(q["redirect_uri"], cfg.callback_url);
    assert_eq!(q["state"].len(), 32);
    assert_ne!(a.url, b.url);
    assert!(!env.provider.capabilities().revoke);
    // The page itself answers for our URL.
    let page = reqwest::get(&a.url).await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn login_decodes_the_at_sign_code_and_keeps_the_login_time_through_refreshes() {
    let env = start().await;
    let request = env.manager.begin_authorization().await.unwrap();
    let redirect = env.sim().approve_schwab_url(&request.url).unwrap();
    assert!(redirect.contains("%40&session="), "{redirect}");
    let creds = env
        .manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    let login_at = monday_8_ny();
    assert_eq!(creds.payload.logged_in_at, login_at);
    assert_eq!(
        creds.meta.expires_at,
        Some(login_at + Duration::minutes(30))
    );
    assert_eq!(
        creds.meta.refresh_expires_at,
        Some(login_at + Duration::days(7))
    );
    assert!(access(&creds.payload).ends_with('@'));
    env.provider.probe(&creds).await.expect("bearer accepted");

    env.clock.advance(Duration::days(2));
    let renewed = env.provider.renew(&creds).await.unwrap();
    assert_eq!(renewed.payload.logged_in_at, login_at);
    assert_eq!(
        renewed.meta.refresh_expires_at,
        Some(login_at + Duration::days(7))
    );
    assert_eq!(
        refresh(&renewed.payload),
        refresh(&creds.payload),
        "no rotation by default"
    );
    assert_ne!(access(&renewed.payload), access(&creds.payload));
    env.provider.probe(&renewed).await.unwrap();
    assert_eq!(env.sim().calls(Endpoint::SchwabToken), 2);
    assert_eq!(env.sim().calls(Endpoint::SchwabAccountNumbers), 2);
}

#[tokio::test]
async fn a_foreign_state_is_rejected_before_any_exchange() {
    let env = start().await;
    env.manager.begin_authorization().await.unwrap();
    let cfg = env.sim().config().schwab;
    let foreign = env
        .sim()
        .approve_schwab(&cfg.app_key, &cfg.callback_url, Some("not-ours"))
        .unwrap();
    let err = env
        .manager
        .complete_authorization(&SecretString::from(foreign))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected, "{err}");
    assert_eq!(env.sim().calls(Endpoint::SchwabToken), 0);
}

#[tokio::test]
async fn a_code_dies_after_30_seconds_and_works_once() {
    let env = start().await;
    let request = env.provider.start_authorization(&key()).await.unwrap();
    let late = env.sim().approve_schwab_url(&request.url).unwrap();
    env.clock.advance(Duration::seconds(31));
    let err = env
        .provider
        .complete_authorization(&request, &SecretString::from(late))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert!(err.to_string().contains("30 seconds"), "{err}");

    let redirect = SecretString::from(env.sim().approve_schwab_url(&request.url).unwrap());
    env.provider
        .complete_authorization(&request, &redirect)
        .await
        .expect("in time");
    let again = env
        .provider
        .complete_authorization(&request, &redirect)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Rejected);
}

#[tokio::test]
async fn a_wrong_app_secret_is_a_configuration_error() {
    let env = start().await;
    let mut cfg = config_for(&env.running);
    cfg.app_secret = SecretString::from("S3cr3t-Zq9vKx-wrong");
    let p = schwab::SchwabProvider::new(cfg, Arc::new(env.clock.clone())).unwrap();
    let request = p.start_authorization(&key()).await.unwrap();
    let redirect = env.sim().approve_schwab_url(&request.url).unwrap();
    let err = p
        .complete_authorization(&request, &SecretString::from(redirect))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.to_string().contains("S3cr3t"), "{err}");
}

#[tokio::test]
async fn a_login_elsewhere_revokes_the_refresh_token() {
    let env = start().await;
    let first = login(&env).await;
    // Another program logs in with the same app.
    let other =
        schwab::SchwabProvider::new(config_for(&env.running), Arc::new(env.clock.clone())).unwrap();
    let request = other.start_authorization(&key()).await.unwrap();
    let redirect = env.sim().approve_schwab_url(&request.url).unwrap();
    other
        .complete_authorization(&request, &SecretString::from(redirect))
        .await
        .unwrap();
    let err = env.provider.renew(&first).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("refresh_token_authentication_error"),
        "{err}"
    );
    let err = env.provider.probe(&first).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Inactive, "{err}");
}

#[tokio::test]
async fn the_brokers_refresh_token_end_is_invalid_client_and_means_log_in() {
    for status in [400, 401] {
        let mut sim = SimConfig::default();
        sim.schwab.refresh_ttl = Duration::days(1);
        sim.schwab.expired_refresh_status = status;
        let env = start_with(sim, Arc::new(MemoryStore::new())).await;
        let creds = login(&env).await;
        env.clock.advance(Duration::days(1));
        let err = env.provider.renew(&creds).await.unwrap_err();
        assert!(matches!(err, Error::Rejected { .. }), "{status}: {err:?}");
        assert!(err.to_string().contains("invalid_client"), "{err}");
    }
}

#[tokio::test]
async fn past_seven_days_the_provider_does_not_even_ask() {
    let env = start().await;
    let creds = login(&env).await;
    env.clock.advance(Duration::days(7));
    let err = env.provider.renew(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(env.sim().calls(Endpoint::SchwabToken), 1, "only the login");
}

#[tokio::test]
async fn access_denied_pages_and_rate_limits_are_transient() {
    let env = start().await;
    let creds = login(&env).await;
    env.sim()
        .inject_fault(Endpoint::SchwabToken, Fault::Status(403), Times::N(1));
    let err = env.provider.renew(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("Access Denied"), "{err}");
    env.sim().inject_fault(
        Endpoint::SchwabAccountNumbers,
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
    env.sim()
        .inject_fault(Endpoint::SchwabToken, Fault::Status(503), Times::N(1));
    assert_eq!(
        env.provider.renew(&creds).await.unwrap_err().kind(),
        ErrorKind::Transient
    );
    // Afterwards all works again.
    env.provider.renew(&creds).await.unwrap();
}

#[tokio::test]
async fn an_expired_access_token_is_client_not_authorized_and_a_refresh_revives_it() {
    let env = start().await;
    let creds = login(&env).await;
    env.clock.advance(Duration::minutes(31));
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Inactive, "{err}");
    let renewed = env.provider.renew(&creds).await.unwrap();
    env.provider.probe(&renewed).await.unwrap();
}
