//! Several replicas of one bot sharing one Redis: E*TRADE against
//! broker-sim on loopback, every replica on one ManualClock and with its own
//! RedisStore connection.

mod common;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use broker_sim::{BrokerSim, Endpoint, Fault, RunningSim, SimConfig, Times};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{eventually, Options, RedisServer};
use etrade::{EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
use token_core::{
    Clock, Environment, ErrorKind, HealthStatus, ManagerConfig, ManualClock, SecretFields,
    TokenManager, TokenStore, TokenStoreExt, Unavailable,
};
use token_store_redis::{RedisStore, RedisStoreBuilder};

macro_rules! server {
    ($name:expr, $opts:expr) => {
        match RedisServer::start_or_skip($name, $opts) {
            Some(s) => s,
            None => return,
        }
    };
}

type Manager = TokenManager<EtradeCredentials>;

/// New York local time on a date in early March 2026 (before the DST
/// change, New York is UTC-5), as UTC.
fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    assert!(m == 3 && d < 8, "fixture dates are in early March 2026");
    Utc.with_ymd_and_hms(y, m, d, h + 5, mi, 0)
        .single()
        .expect("valid time")
}

fn config_for(running: &RunningSim) -> EtradeConfig {
    let c = running.credentials();
    EtradeConfig::new(
        Environment::Sandbox,
        c.etrade_consumer_key,
        c.etrade_consumer_secret.into(),
    )
    .with_base_url(&running.base_url)
    .expect("loopback URL is allowed")
    .with_timeout(StdDuration::from_secs(10))
}

fn replica(
    config: &EtradeConfig,
    clock: &ManualClock,
    store: RedisStore,
) -> (Manager, Arc<EtradeProvider>) {
    let key = config.account_key("main").expect("key");
    let provider = Arc::new(
        EtradeProvider::with_clock(config.clone(), Arc::new(clock.clone())).expect("provider"),
    );
    let manager = TokenManager::new(
        key,
        provider.clone(),
        Arc::new(store),
        Arc::new(etrade::default_policy()),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    (manager, provider)
}

async fn login(manager: &Manager, sim: &BrokerSim) {
    let req = manager.begin_authorization().await.expect("request token");
    let token = url::Url::parse(&req.url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("token in URL");
    let verifier = sim.approve_etrade(&token).expect("approve");
    manager
        .complete_authorization(&verifier.into())
        .await
        .expect("access token");
}

fn fields(m: &Manager) -> SecretFields {
    let creds = m.current().expect("holds credentials");
    SecretFields::from_payload(&creds.payload).expect("fields")
}

fn store_builder(server: &RedisServer) -> RedisStoreBuilder {
    server.builder().prefix("replicas")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_renew_an_idle_account_once_and_all_serve_the_renewed_token() {
    let server = server!(
        "three_replicas_renew_an_idle_account_once_and_all_serve_the_renewed_token",
        Options::default()
    );
    let clock = ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("sim");
    let config = config_for(&running);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let store = store_builder(&server)
            .connect()
            .await
            .expect("own connection");
        replicas.push(replica(&config, &clock, store).0);
    }
    login(&replicas[0], &running.sim).await;
    for r in &replicas[1..] {
        assert!(
            r.load().await.expect("load"),
            "the login is shared through Redis"
        );
    }
    // Nobody used the token for 3 hours: idle everywhere.
    clock.advance(Duration::hours(3));
    for r in &replicas {
        assert_eq!(r.token().unwrap_err(), Unavailable::Idle);
    }
    let (a, b, c) = tokio::join!(
        replicas[0].ensure_fresh(),
        replicas[1].ensure_fresh(),
        replicas[2].ensure_fresh()
    );
    for result in [a, b, c] {
        result.expect("every replica gets usable credentials");
    }
    assert_eq!(
        running.sim.calls(Endpoint::EtradeRenew),
        1,
        "one renewal for three replicas"
    );
    let renewed_at = replicas[0].current().and_then(|c| c.meta.renewed_at);
    assert_eq!(renewed_at, Some(clock.now()));
    for r in &replicas {
        assert!(r.token().is_ok(), "serves the renewed token");
        assert_eq!(r.current().and_then(|c| c.meta.renewed_at), renewed_at);
        assert!(fields(r) == fields(&replicas[0]), "the same token pair");
    }
    // And the broker accepts it from any replica.
    let (m, p) = (
        replicas[2].clone(),
        replica(
            &config,
            &clock,
            store_builder(&server).connect().await.expect("c"),
        )
        .1,
    );
    let quote = EtradeClient::new(m, p)
        .get("/v1/market/quote/AAPL.json")
        .await
        .expect("quote");
    assert_eq!(quote.status, 200);
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_replicas_adopt_a_renewal_promptly_through_pubsub() {
    let server = server!(
        "other_replicas_adopt_a_renewal_promptly_through_pubsub",
        Options::default()
    );
    let clock = ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("sim");
    let config = config_for(&running);
    let (a, _) = replica(
        &config,
        &clock,
        store_builder(&server).connect().await.expect("a"),
    );
    let (b, _) = replica(
        &config,
        &clock,
        store_builder(&server).connect().await.expect("b"),
    );
    login(&a, &running.sim).await;
    let maintenance = b.spawn_maintenance(); // loads the record, then listens
    let loaded = eventually(StdDuration::from_secs(5), || b.current().is_some()).await;
    assert!(loaded);
    clock.advance(Duration::minutes(30));
    a.renew_now().await.expect("renew");
    let adopted = eventually(StdDuration::from_secs(5), || {
        b.current().and_then(|c| c.meta.renewed_at) == Some(clock.now())
    })
    .await;
    assert!(adopted, "B reloads on A's notification, without polling");
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 1);
    maintenance.stop().await;
}

#[test]
fn a_replica_killed_mid_renewal_is_taken_over_after_its_lease_expires() {
    let Some(server) = RedisServer::start_or_skip(
        "a_replica_killed_mid_renewal_is_taken_over_after_its_lease_expires",
        Options::default(),
    ) else {
        return;
    };
    let main = tokio::runtime::Runtime::new().expect("runtime");
    let clock = ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running = main
        .block_on(BrokerSim::start_with_manual_clock(
            SimConfig::default(),
            clock.clone(),
        ))
        .expect("sim");
    let config = config_for(&running);
    let lease_ttl = StdDuration::from_millis(500);
    let (b, _) = main.block_on(async {
        let store = store_builder(&server)
            .lease_ttl(lease_ttl)
            .connect()
            .await
            .expect("b");
        replica(&config, &clock, store)
    });
    main.block_on(login(&b, &running.sim));
    clock.advance(Duration::hours(3)); // idle

    // Replica A lives on its own runtime, like another process.
    let doomed = tokio::runtime::Runtime::new().expect("runtime");
    let (a, _) = doomed.block_on(async {
        let store = store_builder(&server)
            .lease_ttl(lease_ttl)
            .connect()
            .await
            .expect("a");
        replica(&config, &clock, store)
    });
    doomed.block_on(a.load()).expect("load");
    // A's renewal hangs at the broker...
    running.sim.inject_fault(
        Endpoint::EtradeRenew,
        Fault::Delay(StdDuration::from_secs(5)),
        Times::N(1),
    );
    let a2 = a.clone();
    doomed.spawn(async move { a2.ensure_fresh().await });
    let lease_key = main.block_on(async {
        let probe = store_builder(&server).connect().await.expect("probe");
        probe.lease_key(b.key())
    });
    let started = Instant::now();
    while server.raw(&["EXISTS", &lease_key]) != ":1\r\n" {
        assert!(
            started.elapsed() < StdDuration::from_secs(5),
            "A never took the lease"
        );
        std::thread::sleep(StdDuration::from_millis(2));
    }
    let a_called = Instant::now();
    while running.sim.calls(Endpoint::EtradeRenew) == 0 {
        assert!(
            a_called.elapsed() < StdDuration::from_secs(5),
            "A never called"
        );
        std::thread::sleep(StdDuration::from_millis(2));
    }
    // ...and A dies holding the lease: its tasks and connections vanish.
    doomed.shutdown_background();
    drop(a);
    let killed = Instant::now();

    let creds = main
        .block_on(b.ensure_fresh())
        .expect("B renews once A's lease expired");
    let waited = killed.elapsed();
    assert!(
        waited >= StdDuration::from_millis(200) && waited < StdDuration::from_secs(5),
        "B waited for the lease TTL, not longer: {waited:?}"
    );
    assert_eq!(creds.meta.renewed_at, Some(clock.now()));
    assert!(b.token().is_ok());
    assert_eq!(
        running.sim.calls(Endpoint::EtradeRenew),
        2,
        "A's interrupted call and B's"
    );
    // Nothing lost: the store holds B's renewal.
    let stored = main.block_on(async {
        let fresh = store_builder(&server).connect().await.expect("fresh");
        fresh
            .load_typed::<EtradeCredentials>(b.key())
            .await
            .expect("load")
            .expect("record present")
    });
    assert_eq!(stored.meta.renewed_at, Some(clock.now()));
    let stored_fields = SecretFields::from_payload(&stored.payload).expect("fields");
    assert!(stored_fields == fields(&b));
    main.block_on(running.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_during_a_trading_day_loses_no_token() {
    let mut server = server!(
        "redis_stopped_and_restarted_during_a_trading_day_loses_no_token",
        Options {
            persistent: true,
            args: vec![]
        }
    );
    let clock = ManualClock::new(ny(2026, 3, 5, 9, 0));
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("sim");
    let config = config_for(&running);
    let store = store_builder(&server).connect().await.expect("store");
    let (m, provider) = replica(&config, &clock, store.clone());
    let client = EtradeClient::new(m.clone(), provider);
    login(&m, &running.sim).await;
    let logged_in = fields(&m);
    let quote = || client.get("/v1/market/quote/AAPL.json");

    clock.set(ny(2026, 3, 5, 9, 30));
    assert_eq!(quote().await.expect("quote").status, 200);
    assert_eq!(m.health().status, HealthStatus::Healthy);

    // 10:00 Redis crashes. The still-valid token keeps being served.
    clock.set(ny(2026, 3, 5, 10, 0));
    server.kill();
    for t in [ny(2026, 3, 5, 10, 0), ny(2026, 3, 5, 10, 30)] {
        clock.set(t);
        assert_eq!(
            quote().await.expect("served while Redis is down").status,
            200
        );
    }
    assert!(store.load(m.key()).await.is_err(), "Redis is really down");

    // The engine sleeps; at 12:45 the token is idle and the renewal cannot
    // take the shared lease: degraded, with the store failure reported.
    clock.set(ny(2026, 3, 5, 12, 45));
    let err = m
        .ensure_fresh()
        .await
        .expect_err("no renewal without Redis");
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    let health = m.health();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(
        health.last_error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Store)
    );
    assert!(health.consecutive_failures >= 1);
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 0);

    // 12:50 Redis is back (the append-only file replays the record).
    clock.set(ny(2026, 3, 5, 12, 50));
    server.restart();
    // Maintenance retries with backoff and renews.
    let end = ny(2026, 3, 5, 13, 30);
    loop {
        match m.maintain().await {
            Some(t) if t <= end && t > clock.now() && m.token().is_err() => clock.set(t),
            _ => break,
        }
    }
    assert!(m.token().is_ok(), "renewed after Redis returned");
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(m.health().status, HealthStatus::Healthy);
    assert_eq!(quote().await.expect("quote").status, 200);

    // No token lost: a new replica finds the login's token pair, renewed.
    let fresh = store_builder(&server).connect().await.expect("fresh");
    let stored = fresh
        .load_typed::<EtradeCredentials>(m.key())
        .await
        .expect("load")
        .expect("record survived the crash");
    assert!(SecretFields::from_payload(&stored.payload).expect("f") == logged_in);
    assert_eq!(stored.meta.issued_at, ny(2026, 3, 5, 9, 0));
    assert!(stored.meta.renewed_at.is_some());
    let resubscribed = eventually(StdDuration::from_secs(5), || {
        store.notifications_connected()
    })
    .await;
    assert!(resubscribed, "notifications resume after the restart");
    assert!(store.subscriptions() >= 2);
}
