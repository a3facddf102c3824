//! File-descriptor exhaustion must not starve the token work (issue 14,
//! item 1). Its own test binary with one test: it lowers this process's
//! soft `RLIMIT_NOFILE` to the common 1,024, which is process-wide.
//!
//! The flood's client sockets live in this same process, so they spend the
//! same limit as the server (harsher than an attacker in another process).
//! Without the connection cap the server would hold all 600 flood sockets:
//! 1,200 descriptors, past the limit, and the renewal's store lock, temp
//! file and broker connection would fail with "Too many open files".
#![cfg(unix)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{TimeZone, Utc};
use control::{ServeLimits, Server};
use secrecy::SecretString;
use token_core::{Clock, FileStore, ManagedAccount, ManualClock, TokenManager, TokenStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "ctl-a41f7c0e93b25d86f1e0c7a92b4d3f58e6c1a07b";
const SOFT_LIMIT: u64 = 1024;
const FLOOD: usize = 600;

fn lower_soft_nofile_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    let soft = l.maximum.map_or(SOFT_LIMIT, |hard| hard.min(SOFT_LIMIT));
    l.current = Some(soft);
    setrlimit(Resource::Nofile, l).expect("lowering the soft limit is always allowed");
    assert_eq!(control::nofile_limit().unwrap().soft, Some(soft));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_succeeds_while_600_idle_connections_flood_the_control_server() {
    lower_soft_nofile_limit();
    let limits = ServeLimits::default();
    assert_eq!(limits.max_connections, 256, "a quarter of 1,024");

    // A FYERS account logged in against broker-sim, stored in a FileStore.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    let sim = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let c = sim.credentials();
    let fyers_config = common::sim_fyers_config(&sim);
    let provider =
        Arc::new(fyers::FyersProvider::new(fyers_config, Arc::new(clock.clone())).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::open(dir.path().join("store")).unwrap());
    let manager = TokenManager::new(
        "fyers/production/main".parse().unwrap(),
        provider,
        store.clone(),
        Arc::new(fyers::default_policy()),
        Arc::new(clock.clone()),
        fyers::default_manager_config(),
    );
    let req = manager.begin_authorization().await.unwrap();
    let state = url::Url::parse(&req.url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redirect = sim
        .sim
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
        .unwrap();
    manager
        .complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();

    // The control server with its default limits.
    let cfg = common::control_config(dir.path(), TOKEN);
    let account: Arc<dyn ManagedAccount> = Arc::new(manager.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(vec![account.clone()], &cfg, Arc::new(clock.clone()))
        .unwrap()
        .with_serve_limits(limits);
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    // The flood: idle connections that never send a byte.
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        // Without the cap this process runs out of descriptors here; keep
        // what connected so the renewal below shows the consequence.
        match TcpStream::connect(addr).await {
            Ok(s) => flood.push(s),
            Err(_) => break,
        }
    }
    // Once the server holds its cap, a new connection is refused at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = health_raw(addr).await;
        if answer
            .as_deref()
            .is_some_and(|a| a.is_empty() || a.starts_with("HTTP/1.1 503"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never reached its cap: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The token work, during the flood.
    assert_eq!(sim.sim.calls(Endpoint::FyersValidateRefreshToken), 0);
    clock.advance(chrono::Duration::minutes(5));
    account
        .renew_now()
        .await
        .expect("a renewal succeeds during the flood");
    assert_eq!(
        sim.sim.calls(Endpoint::FyersValidateRefreshToken),
        1,
        "the broker was called"
    );
    assert_eq!(flood.len(), FLOOD, "every flood connection was made");
    let stored = store.load(manager.key()).await.unwrap().expect("stored");
    assert_eq!(
        stored.meta.issued_at,
        clock.now(),
        "the renewed record reached the file store"
    );
    println!(
        "renewal succeeded with {FLOOD} flood connections open ({} held by the server), soft limit {SOFT_LIMIT}",
        limits.max_connections
    );

    // /health is refused cleanly (503 or closed), never left hanging.
    let answer = health_raw(addr).await.expect("an answer within 2 s");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );

    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if health_raw(addr)
            .await
            .is_some_and(|a| a.starts_with("HTTP/1.1 200"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/health never answered after the flood"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

/// `GET /health` over a raw socket: the whole answer, or `None` if the
/// server neither answered nor closed within 2 s.
async fn health_raw(addr: std::net::SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!("GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = Vec::new();
    match tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}
