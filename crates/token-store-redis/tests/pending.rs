//! Pending logins in Redis: one login in progress per account, shared by
//! every replica and tool using the store's prefix.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{Options, RedisServer};
use token_core::store::PendingLogins;
use token_core::{
    AccountKey, AuthorizationRequest, Environment, Expects, SecretFields, StoreError,
};

fn request(key: &AccountKey) -> AuthorizationRequest {
    let mut pending = SecretFields::new();
    pending.insert(
        "request_token_secret",
        secrecy::SecretString::from("S3cr3t-Qw7Zp-pending"),
    );
    AuthorizationRequest {
        key: key.clone(),
        url: "https://broker.invalid/authorize?token=Rt-4Kx".into(),
        expects: Expects::Verifier,
        instructions: "log in, then bring back the code".into(),
        expires_at: Some(Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap()),
        pending,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_progress_is_shared_by_replicas_and_started_by_one_at_a_time() {
    let Some(server) = RedisServer::start_or_skip(
        "a_login_in_progress_is_shared_by_replicas_and_started_by_one_at_a_time",
        Options::default(),
    ) else {
        return;
    };
    let one = server.store().await;
    let two = server.store().await;
    let (a, b) = (one.pending_logins(), two.pending_logins());
    let key = AccountKey::new("demo", Environment::Sandbox, "main").unwrap();
    assert!(b.load(&key).await.unwrap().is_none());
    a.save(&request(&key)).await.unwrap();
    let seen = b
        .load(&key)
        .await
        .unwrap()
        .expect("the other replica sees it");
    assert_eq!(seen.url, request(&key).url);
    assert_eq!(
        seen.pending.get("request_token_secret").map(|s| {
            use secrecy::ExposeSecret;
            s.expose_secret().to_owned()
        }),
        Some("S3cr3t-Qw7Zp-pending".to_owned())
    );
    // Beside the record, and dropped by Redis a while after it expires.
    let redis_key = format!("{}:login:{key}", one.prefix());
    let reply = server.raw(&["PTTL", &redis_key]);
    let ttl: i64 = reply.trim().trim_start_matches(':').parse().unwrap();
    assert!(ttl > 0, "a TTL is set: {ttl}");

    // Starting a login is serialized: the second waits, then gives up.
    let held = a.lock(&key, Duration::from_secs(1)).await.unwrap().unwrap();
    let busy = b.lock(&key, Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(busy, StoreError::LeaseBusy { .. }), "{busy:?}");
    held.release().await.unwrap();
    let taken = b.lock(&key, Duration::from_secs(1)).await.unwrap();
    assert!(taken.is_some());

    // Used once: removed for everyone.
    assert!(b.remove(&key).await.unwrap());
    assert!(a.load(&key).await.unwrap().is_none());
    assert!(!a.remove(&key).await.unwrap());
}
