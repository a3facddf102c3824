//! What the real FYERS says (issue 15, PROTOCOLS.md), each with the
//! behaviour it calls for: `-17` on the profile means a dead access token
//! (refresh), HTTP 403 is a permission (configuration) problem, every call
//! carries `version: 3`, probes share a per-app budget, and a wrong PIN is
//! remembered by the manager alone.

mod common;

use std::sync::Arc;

use broker_sim::{Endpoint, Fault, Rejection, SimConfig, Times};
use chrono::Duration;
use common::*;
use fyers::FyersProvider;
use secrecy::SecretString;
use token_core::{ErrorKind, MemoryStore, TokenProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn minus_17_on_the_probe_refreshes_instead_of_asking_for_a_login() {
    let env = start().await;
    login(&env).await;
    env.sim().inject_fault(
        Endpoint::FyersProfile,
        Fault::Unauthorized(Rejection::Fyers(-17)),
        Times::N(1),
    );
    let token = env.manager.token().unwrap().to_arc();
    let err = env.provider.probe(&token).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Inactive, "{err}");
    env.sim().inject_fault(
        Endpoint::FyersProfile,
        Fault::Unauthorized(Rejection::Fyers(-17)),
        Times::N(1),
    );
    env.manager
        .keep_alive()
        .await
        .expect("a refresh revives the account");
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
    assert!(!env.manager.health().reauthorization_required);
}

#[tokio::test]
async fn http_403_is_a_permission_error_naming_the_app_setting() {
    let env = start().await;
    let creds = login(&env).await;
    env.sim()
        .inject_fault(Endpoint::FyersProfile, Fault::Status(403), Times::N(1));
    let err = env.provider.probe(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("permission") && text.contains("app"),
        "{text}"
    );
    assert!(!text.contains("log in again"), "{text}");
}

#[tokio::test]
async fn a_wrong_pin_is_remembered_by_the_manager_not_the_provider() {
    let env = start_with(
        SimConfig::default(),
        Arc::new(MemoryStore::new()),
        |mut c| {
            c.pin = SecretString::from("S3cr3t-Zq9vKx-wrong-pin");
            c
        },
    )
    .await;
    let creds = login(&env).await;
    env.clock.set(ist(2026, 3, 3, 6, 0));
    env.manager.maintain().await;
    // Fix the PIN, not "log in".
    let health = env.manager.health();
    assert_eq!(
        health.remedy,
        Some(token_core::Remedy::FixPin),
        "{health:?}"
    );
    assert!(!health.reauthorization_required, "{health:?}");
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 1);
    // The provider itself no longer refuses: asked directly, it asks FYERS.
    let err = env.provider.renew(&creds).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.remedy(), token_core::Remedy::FixPin);
    assert!(err.to_string().contains("PIN"), "{err}");
    assert!(!err.to_string().contains("S3cr3t-Zq9vKx"), "{err}");
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 2);
    // The manager does refuse, for two days of passes and callers.
    for h in 1..=48 {
        env.clock.set(ist(2026, 3, 3, 6, 0) + Duration::hours(h));
        env.manager.maintain().await;
        let _ = env.manager.ensure_fresh().await;
        let _ = env.manager.renew_now().await;
    }
    assert_eq!(env.sim().calls(Endpoint::FyersValidateRefreshToken), 2);
}

#[tokio::test]
async fn providers_of_one_app_share_one_probe_budget() {
    let env = start().await;
    let other_account =
        FyersProvider::new(config_for(&env.running), Arc::new(env.clock.clone())).unwrap();
    assert!(Arc::ptr_eq(
        env.provider.probe_limiter(),
        other_account.probe_limiter()
    ));
    let mut other_app = config_for(&env.running);
    other_app.client_id = "OTHERAPP01-100".into();
    let other_app = FyersProvider::new(other_app, Arc::new(env.clock.clone())).unwrap();
    assert!(!Arc::ptr_eq(
        env.provider.probe_limiter(),
        other_app.probe_limiter()
    ));
}

/// Answers one request with a FYERS success body and returns its head.
async fn capture_one(listener: TcpListener) -> String {
    let (mut sock, _) = listener.accept().await.expect("a request");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = br#"{"s":"ok","code":200,"message":"","data":{}}"#;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body).await;
    String::from_utf8_lossy(&buf).to_ascii_lowercase()
}

#[tokio::test]
async fn every_call_sends_the_sdks_version_header() {
    let env = start().await;
    let creds = login(&env).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v3", listener.local_addr().unwrap());
    let provider = FyersProvider::new(
        config_for(&env.running).with_base_url(&base).unwrap(),
        Arc::new(env.clock.clone()),
    )
    .unwrap();
    let head = tokio::spawn(capture_one(listener));
    provider.probe(&creds).await.expect("profile answered");
    let head = head.await.unwrap();
    assert!(head.starts_with("get /api/v3/profile"), "{head}");
    assert!(head.contains("\r\nversion: 3\r\n"), "{head}");
}
