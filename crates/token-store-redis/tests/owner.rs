//! Maintenance claims on a real redis-server: one owner per account, kept
//! alive by the heartbeat, taken over by a standby after the owner died,
//! and a holder that lost its claim is told so.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::{Options, RedisServer};
use token_core::store::{wait_for_claim, ClaimAttempt, OwnerClaim, OwnerClaims, OwnerInfo};
use token_core::{AccountKey, Environment};
use token_store_redis::RedisStore;

macro_rules! server {
    ($name:expr) => {
        match RedisServer::start_or_skip($name, Options::default()) {
            Some(s) => s,
            None => return,
        }
    };
}

const TTL: Duration = Duration::from_millis(300);

fn key() -> AccountKey {
    AccountKey::new("etrade", Environment::Sandbox, "main").unwrap()
}

fn owner(pid: u32) -> OwnerInfo {
    OwnerInfo {
        pid,
        host: format!("replica-{pid}.example"),
        started: Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
    }
}

async fn store(server: &RedisServer) -> RedisStore {
    server.builder().owner_ttl(TTL).connect().await.unwrap()
}

async fn claimed(store: &RedisStore, me: &OwnerInfo) -> Box<dyn OwnerClaim> {
    match store.try_claim(&key(), me).await.unwrap() {
        ClaimAttempt::Claimed(c) => c,
        ClaimAttempt::Held { holder } => panic!("held by {holder:?}"),
    }
}

async fn holder(store: &RedisStore, me: &OwnerInfo) -> Option<OwnerInfo> {
    match store.try_claim(&key(), me).await.unwrap() {
        ClaimAttempt::Held { holder } => holder,
        ClaimAttempt::Claimed(_) => panic!("claimed twice"),
    }
}

#[tokio::test]
async fn one_owner_kept_alive_by_its_heartbeat_past_the_ttl() {
    let server = server!("one_owner_kept_alive_by_its_heartbeat_past_the_ttl");
    let (a, b) = (store(&server).await, store(&server).await);
    let claim = claimed(&a, &owner(11)).await;
    assert_eq!(holder(&b, &owner(12)).await, Some(owner(11)));
    // Three TTLs later the heartbeat has kept it: still refused, not lost.
    tokio::time::sleep(TTL * 3).await;
    assert_eq!(holder(&b, &owner(12)).await, Some(owner(11)));
    assert!(
        tokio::time::timeout(Duration::from_millis(10), claim.lost())
            .await
            .is_err()
    );
    // The same process claiming again is refused too.
    assert_eq!(holder(&a, &owner(11)).await, Some(owner(11)));
    let pttl = server.raw(&["PTTL", "broker-tokens:owner:etrade/sandbox/main"]);
    let pttl: i64 = pttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(pttl > 0 && pttl <= 300, "{pttl}");
    claim.release().await.unwrap();
    assert_eq!(
        server.raw(&["EXISTS", "broker-tokens:owner:etrade/sandbox/main"]),
        ":0\r\n"
    );
    let _taken = claimed(&b, &owner(12)).await;
}

#[tokio::test]
async fn a_standby_takes_over_within_the_ttl_after_the_owner_died() {
    let server = server!("a_standby_takes_over_within_the_ttl_after_the_owner_died");
    // A dead owner's claim: its value, no heartbeat any more.
    let dead = serde_json::json!({"id": "999-dead", "pid": 999, "host": "gone.example",
        "started": "2026-12-02T09:30:00Z"})
    .to_string();
    let set = server.raw(&[
        "SET",
        "broker-tokens:owner:etrade/sandbox/main",
        &dead,
        "PX",
        "300",
    ]);
    assert!(set.starts_with("+OK"), "{set}");
    let b = store(&server).await;
    let mut told = Vec::new();
    let started = Instant::now();
    let claim = tokio::time::timeout(
        Duration::from_secs(5),
        wait_for_claim(&b, &key(), &owner(12), Duration::from_millis(20), |h| {
            told.push(h.cloned())
        }),
    )
    .await
    .expect("the standby did not take over within 5 s")
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "took over a live claim"
    );
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].as_ref().map(|o| o.pid), Some(999));
    assert_eq!(claim.key(), &key());
    let a = store(&server).await;
    assert_eq!(holder(&a, &owner(11)).await, Some(owner(12)));
}

#[tokio::test]
async fn a_claim_taken_over_elsewhere_is_reported_lost() {
    let server = server!("a_claim_taken_over_elsewhere_is_reported_lost");
    let a = store(&server).await;
    let claim = claimed(&a, &owner(11)).await;
    // As if the key had expired (e.g. a long pause) and another took it.
    server.raw(&[
        "SET",
        "broker-tokens:owner:etrade/sandbox/main",
        "someone-else",
        "PX",
        "60000",
    ]);
    tokio::time::timeout(Duration::from_secs(3), claim.lost())
        .await
        .expect("the heartbeat did not notice the takeover");
    // Releasing the lost claim never deletes the other owner's key.
    claim.release().await.unwrap();
    let value = server.raw(&["GET", "broker-tokens:owner:etrade/sandbox/main"]);
    assert!(value.contains("someone-else"), "{value}");
}

#[tokio::test]
async fn a_holder_cut_off_from_redis_for_its_ttl_stops() {
    let mut server = server!("a_holder_cut_off_from_redis_for_its_ttl_stops");
    let a = store(&server).await;
    let claim = claimed(&a, &owner(11)).await;
    server.kill();
    tokio::time::timeout(Duration::from_secs(5), claim.lost())
        .await
        .expect("a holder that cannot extend its claim must stop");
}
