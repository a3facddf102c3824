//! The store against a real redis-server: conformance, prefix, atomic
//! writes, TTL, leases, ACL/password, notifications and their recovery.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::{eventually, Options, RedisServer};
use secrecy::SecretString;
use token_core::store::TokenStore;
use token_core::{
    AccountKey, Environment, ManualClock, Metadata, Record, SecretFields, StoreError,
};
use token_store_redis::RedisStore;

macro_rules! server {
    ($name:expr) => {
        server!($name, Options::default())
    };
    ($name:expr, $opts:expr) => {
        match RedisServer::start_or_skip($name, $opts) {
            Some(s) => s,
            None => return,
        }
    };
}

fn key(label: &str) -> AccountKey {
    AccountKey::new("demo", Environment::Sandbox, label).expect("valid key")
}

fn record(label: &str, token: &str) -> token_core::StoredRecord {
    let mut fields = SecretFields::new();
    fields.insert("access_token", SecretString::from(token.to_string()));
    let issued = Utc
        .with_ymd_and_hms(2026, 3, 5, 14, 0, 0)
        .single()
        .expect("time");
    let mut meta = Metadata::issued(issued);
    meta.expires_at = Some(issued + chrono::Duration::hours(10));
    Record::new(key(label), meta, fields)
}

fn token_of(r: &token_core::StoredRecord) -> String {
    use secrecy::ExposeSecret;
    r.payload
        .get("access_token")
        .expect("field")
        .expose_secret()
        .to_string()
}

#[tokio::test]
async fn passes_the_token_core_conformance_suite() {
    let server = server!("passes_the_token_core_conformance_suite");
    let store = server.store().await;
    token_core::testing::store_conformance(Arc::new(store)).await;
}

#[tokio::test]
async fn records_live_under_the_configured_prefix_and_prefixes_do_not_mix() {
    let server = server!("records_live_under_the_configured_prefix_and_prefixes_do_not_mix");
    let a = server.builder().prefix("bot-a").connect().await.expect("a");
    let b = server.builder().prefix("bot-b").connect().await.expect("b");
    a.save(&record("main", "tok-a")).await.expect("save");
    assert_eq!(
        server.raw(&["EXISTS", "bot-a:record:demo/sandbox/main"]),
        ":1\r\n"
    );
    assert!(b.load(&key("main")).await.expect("load").is_none());
    assert!(b.list().await.expect("list").is_empty());
    assert_eq!(a.list().await.expect("list"), vec![key("main")]);
}

#[tokio::test]
async fn a_record_this_library_cannot_read_is_reported_and_never_overwritten() {
    let server = server!("a_record_this_library_cannot_read_is_reported_and_never_overwritten");
    let store = server.store().await;
    let redis_key = store.record_key(&key("main"));
    server.raw(&["SET", &redis_key, r#"{"schema_version":9,"x":1}"#]);
    let err = store.load(&key("main")).await.expect_err("newer version");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 9, .. }),
        "{err:?}"
    );
    let err = store
        .save(&record("main", "t"))
        .await
        .expect_err("no overwrite");
    assert!(matches!(err, StoreError::WouldOverwrite { .. }), "{err:?}");
    server.raw(&["SET", &redis_key, "not json s3cr3t"]);
    let err = store.load(&key("main")).await.expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    let err = store
        .save(&record("main", "t"))
        .await
        .expect_err("no overwrite");
    assert!(matches!(err, StoreError::WouldOverwrite { .. }), "{err:?}");
    assert!(server.raw(&["GET", &redis_key]).contains("not json"));
}

#[tokio::test]
async fn server_side_ttl_runs_past_the_hard_expiry_and_the_index_forgets_expired_records() {
    let server =
        server!("server_side_ttl_runs_past_the_hard_expiry_and_the_index_forgets_expired_records");
    let issued = Utc
        .with_ymd_and_hms(2026, 3, 5, 14, 0, 0)
        .single()
        .expect("t");
    // The store's clock says the record (expiry issued + 10 h) has 10 h left.
    let clock = ManualClock::new(issued);
    let store = server
        .builder()
        .record_ttl_after_expiry(Some(Duration::from_secs(3600)))
        .clock(Arc::new(clock.clone()))
        .connect()
        .await
        .expect("connect");
    store.save(&record("long", "t")).await.expect("save");
    let pttl: i64 = server
        .raw(&["PTTL", &store.record_key(&key("long"))])
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("PTTL integer");
    let eleven_hours = 11 * 3600 * 1000;
    assert!(
        (eleven_hours - 5_000..=eleven_hours).contains(&pttl),
        "TTL = expiry + grace, got {pttl} ms"
    );

    // Past its expiry already: kept for the grace only (here 150 ms).
    clock.set(issued + chrono::Duration::days(1));
    let short = server
        .builder()
        .record_ttl_after_expiry(Some(Duration::from_millis(150)))
        .clock(Arc::new(clock.clone()))
        .connect()
        .await
        .expect("connect");
    short.save(&record("dead", "t")).await.expect("save");
    assert!(short.load(&key("dead")).await.expect("load").is_some());
    assert!(short.list().await.expect("list").contains(&key("dead")));
    let gone = eventually(Duration::from_secs(3), || {
        server.raw(&["EXISTS", &short.record_key(&key("dead"))]) == ":0\r\n"
    })
    .await;
    assert!(gone, "Redis must drop the record after the grace");
    assert!(short.load(&key("dead")).await.expect("load").is_none());
    assert!(!short.list().await.expect("list").contains(&key("dead")));

    // Without a TTL setting records are kept.
    let plain = server.store().await;
    plain.save(&record("kept", "t")).await.expect("save");
    assert_eq!(
        server.raw(&["PTTL", &plain.record_key(&key("kept"))]),
        ":-1\r\n"
    );
}

#[tokio::test]
async fn lease_is_exclusive_and_a_dead_holders_lease_expires_after_its_ttl() {
    let server = server!("lease_is_exclusive_and_a_dead_holders_lease_expires_after_its_ttl");
    let a = server.store().await;
    let b = server.store().await;
    // A takes the lease and "dies": it is never released.
    let held = a
        .lease(&key("main"), Duration::from_millis(300), Duration::ZERO)
        .await
        .expect("lease")
        .expect("redis leases are shared");
    let started = Instant::now();
    let err = b
        .lease(&key("main"), Duration::from_secs(60), Duration::ZERO)
        .await
        .expect_err("held by A");
    assert!(matches!(err, StoreError::LeaseBusy { .. }), "{err:?}");
    // Another account is independent.
    let other = b
        .lease(&key("other"), Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("other account");
    assert!(other.is_some());
    drop(held);
    let taken = b
        .lease(
            &key("main"),
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
        .await
        .expect("taken over after the TTL")
        .expect("lease");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200),
        "B must wait for A's lease to expire, waited {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    taken.release().await.expect("release");
    assert!(a
        .lease(&key("main"), Duration::from_secs(1), Duration::ZERO)
        .await
        .expect("free again after release")
        .is_some());
}

#[tokio::test]
async fn releasing_an_expired_lease_never_frees_another_replicas_lease() {
    let server = server!("releasing_an_expired_lease_never_frees_another_replicas_lease");
    let a = server.store().await;
    let b = server.store().await;
    let stale = a
        .lease(&key("main"), Duration::from_millis(100), Duration::ZERO)
        .await
        .expect("lease")
        .expect("held");
    let current = b
        .lease(
            &key("main"),
            Duration::from_secs(30),
            Duration::from_secs(3),
        )
        .await
        .expect("after expiry")
        .expect("held");
    stale.release().await.expect("release is a no-op");
    let err = a
        .lease(&key("main"), Duration::from_secs(1), Duration::ZERO)
        .await
        .expect_err("B still holds it");
    assert!(matches!(err, StoreError::LeaseBusy { .. }), "{err:?}");
    current.release().await.expect("release");
}

#[tokio::test]
async fn lease_ttl_override_bounds_how_long_a_dead_holder_blocks() {
    let server = server!("lease_ttl_override_bounds_how_long_a_dead_holder_blocks");
    let store = server
        .builder()
        .lease_ttl(Duration::from_millis(250))
        .connect()
        .await
        .expect("connect");
    let lease = store
        .lease(&key("main"), Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("lease")
        .expect("held");
    let pttl: i64 = server
        .raw(&["PTTL", &store.lease_key(&key("main"))])
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("int");
    assert!((1..=250).contains(&pttl), "PTTL {pttl}");
    drop(lease);
}

#[tokio::test]
async fn password_and_acl_user_come_from_the_url_and_are_never_shown() {
    let server = server!(
        "password_and_acl_user_come_from_the_url_and_are_never_shown",
        Options {
            persistent: false,
            args: vec![
                "--requirepass".into(),
                "default-pw-9".into(),
                "--user".into(),
                "bot".into(),
                "on".into(),
                ">bot-pw-7".into(),
                "~*".into(),
                "&*".into(),
                "+@all".into(),
            ],
        }
    );
    let port = server.port;
    // requirepass (default user).
    let store = RedisStore::connect(format!("redis://:default-pw-9@127.0.0.1:{port}"))
        .await
        .expect("password");
    token_core::testing::store_conformance(Arc::new(store.clone())).await;
    // ACL user.
    let acl = RedisStore::connect(format!("redis://bot:bot-pw-7@127.0.0.1:{port}"))
        .await
        .expect("acl user");
    acl.save(&record("main", "t"))
        .await
        .expect("save as ACL user");
    let shown = format!("{acl:?}");
    assert!(
        !shown.contains("bot-pw-7") && shown.contains("127.0.0.1"),
        "{shown}"
    );
    // No or wrong credentials: a clear error without the password.
    let err = RedisStore::connect(format!("redis://127.0.0.1:{port}"))
        .await
        .expect_err("no password");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = RedisStore::connect(format!("redis://bot:wrong-pw-3@127.0.0.1:{port}"))
        .await
        .expect_err("wrong password");
    let text = err.to_string();
    assert!(!text.contains("wrong-pw-3"), "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
}

#[tokio::test]
async fn invalid_url_and_prefix_are_refused_with_clear_errors() {
    let err = RedisStore::connect("http://user:pw-5@example.invalid")
        .await
        .expect_err("not a redis URL");
    let text = err.to_string();
    assert!(
        text.contains("invalid Redis URL") && !text.contains("pw-5"),
        "{text}"
    );
    let err = RedisStore::builder("redis://127.0.0.1:1")
        .prefix("has space")
        .connect()
        .await
        .expect_err("bad prefix");
    assert!(err.to_string().contains("prefix"), "{err}");
}

#[tokio::test]
async fn save_and_delete_notify_other_replicas() {
    let server = server!("save_and_delete_notify_other_replicas");
    let writer = server.store().await;
    let reader = server.store().await;
    let mut changes = reader.changes().expect("redis store notifies");
    writer.save(&record("main", "t1")).await.expect("save");
    let got = tokio::time::timeout(Duration::from_secs(3), changes.recv())
        .await
        .expect("notified in time")
        .expect("key");
    assert_eq!(got, key("main"));
    assert!(writer.delete(&key("main")).await.expect("delete"));
    let got = tokio::time::timeout(Duration::from_secs(3), changes.recv())
        .await
        .expect("notified in time")
        .expect("key");
    assert_eq!(got, key("main"));
    // Deleting nothing announces nothing.
    assert!(!writer.delete(&key("main")).await.expect("delete"));
    writer.save(&record("second", "t")).await.expect("save");
    let got = tokio::time::timeout(Duration::from_secs(3), changes.recv())
        .await
        .expect("notified")
        .expect("key");
    assert_eq!(got, key("second"), "no notification for the empty delete");
}

#[tokio::test]
async fn a_dropped_subscription_is_reestablished_and_known_accounts_are_announced() {
    let server =
        server!("a_dropped_subscription_is_reestablished_and_known_accounts_are_announced");
    let writer = server.store().await;
    let reader = server.store().await;
    writer.save(&record("main", "t1")).await.expect("save");
    assert!(reader.load(&key("main")).await.expect("load").is_some());
    let mut changes = reader.changes().expect("notifies");
    assert_eq!(reader.subscriptions(), 1);
    // Kill every pub/sub connection on the server (the subscription drops).
    let killed = server.raw(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(killed.starts_with(':') && killed != ":0\r\n", "{killed}");
    let got = tokio::time::timeout(Duration::from_secs(5), changes.recv())
        .await
        .expect("synthetic notification after re-subscribing")
        .expect("key");
    assert_eq!(got, key("main"));
    assert!(reader.subscriptions() >= 2);
    assert!(reader.synthetic_notifications() >= 1);
    assert!(reader.notifications_connected());
    // And real notifications flow again.
    writer.save(&record("later", "t2")).await.expect("save");
    let got = loop {
        let k = tokio::time::timeout(Duration::from_secs(3), changes.recv())
            .await
            .expect("notified")
            .expect("key");
        if k != key("main") {
            break k;
        }
    };
    assert_eq!(got, key("later"));
}

#[tokio::test]
async fn while_redis_is_down_known_accounts_are_announced_at_the_reload_interval() {
    let mut server = server!(
        "while_redis_is_down_known_accounts_are_announced_at_the_reload_interval",
        Options {
            persistent: true,
            args: vec![]
        }
    );
    let store = server
        .builder()
        .reload_interval(Duration::from_millis(200))
        .connect()
        .await
        .expect("connect");
    let mut changes = store.changes().expect("notifies");
    store.save(&record("main", "t1")).await.expect("save");
    // Our own save is announced too.
    let own = tokio::time::timeout(Duration::from_secs(3), changes.recv())
        .await
        .expect("own save")
        .expect("key");
    assert_eq!(own, key("main"));
    server.kill();
    let down = eventually(Duration::from_secs(3), || !store.notifications_connected()).await;
    assert!(down, "the store notices the lost subscription");
    let started = Instant::now();
    for _ in 0..2 {
        let got = tokio::time::timeout(Duration::from_secs(3), changes.recv())
            .await
            .expect("fallback announcement")
            .expect("key");
        assert_eq!(got, key("main"));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "bounded, not hot"
    );
    // Commands fail fast while Redis is down.
    let t = Instant::now();
    let err = store.load(&key("main")).await.expect_err("down");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    server.restart();
    let back = eventually(Duration::from_secs(5), || store.notifications_connected()).await;
    assert!(back, "re-subscribed after the restart");
    let again = store.load(&key("main")).await;
    let again = match again {
        Ok(r) => r,
        // The first command after a restart may meet the old connection.
        Err(_) => store.load(&key("main")).await.expect("reconnected"),
    };
    assert_eq!(token_of(&again.expect("persisted record")), "t1");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_tls_url_is_understood_and_a_plain_server_is_a_clear_error() {
    let server = server!("a_tls_url_is_understood_and_a_plain_server_is_a_clear_error");
    // rustls needs a crypto provider; the crate brings one, so this fails
    // at the handshake (the test server speaks plain TCP), not in setup.
    let err = RedisStore::builder(format!("rediss://bot:tls-pw-1@127.0.0.1:{}", server.port))
        .timeouts(Duration::from_secs(1), Duration::from_millis(500))
        .connect()
        .await
        .expect_err("no TLS on the test server");
    let text = err.to_string();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(text.contains("rediss://127.0.0.1"), "{text}");
    assert!(!text.contains("tls-pw-1"), "{text}");
    assert!(
        !text.contains("invalid Redis URL"),
        "rediss:// is supported: {text}"
    );
}

#[tokio::test]
async fn dropping_the_store_ends_its_subscription() {
    let server = server!("dropping_the_store_ends_its_subscription");
    let pubsub_clients = || {
        server
            .raw(&["CLIENT", "LIST", "TYPE", "pubsub"])
            .matches("cmd=")
            .count()
    };
    let store = server.store().await;
    assert_eq!(pubsub_clients(), 1);
    let clone = store.clone();
    drop(store);
    assert_eq!(pubsub_clients(), 1, "a clone keeps it");
    drop(clone);
    let gone = eventually(Duration::from_secs(3), || pubsub_clients() == 0).await;
    assert!(gone, "no subscription task outlives the store");
}
