//! Attacks on the control server, on loopback, each bounded in count and
//! time: silent and half-sent requests, shutdown under hostile clients,
//! connection floods, token guessing (also from rotating 127.x sources),
//! weak tokens and non-loopback binding.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use control::{ControlConfig, ControlError, RateLimitConfig, RouteLimits, ServeLimits, Server};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "ctl-5c0f9e2b7a4d18e63f29b0c7d4a1e85f6b3c92d0";

fn config(dir: &tempfile::TempDir, token: &str) -> ControlConfig {
    control_config(dir.path(), token)
}

/// A server run by [`Server::serve`] on 127.0.0.1:0.
struct Served {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ControlError>>,
    acct: FakeAccount,
    _dir: tempfile::TempDir,
}

async fn served(
    limits: ServeLimits,
    routes: RouteLimits,
    adjust: impl FnOnce(&mut ControlConfig),
) -> Served {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir, TOKEN);
    adjust(&mut cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(vec![acct.erased()], &cfg, Arc::new(clock))
        .unwrap()
        .with_serve_limits(limits)
        .with_route_limits(routes);
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        stop: Some(stop),
        task,
        acct,
        _dir: dir,
    }
}

fn limits(max_connections: usize, header: Duration, grace: Duration) -> ServeLimits {
    ServeLimits {
        max_connections,
        header_read_timeout: header,
        connection_timeout: Duration::from_secs(60),
        shutdown_grace: grace,
        keep_alive: false,
    }
}

/// A client whose requests come from `source` (any 127.x address works on
/// Linux loopback).
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(source)
        .build()
        .unwrap()
}

async fn call(
    http: &reqwest::Client,
    addr: SocketAddr,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> StatusCode {
    let mut req = http.request(method, format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status()
}

/// Reads until the server closes; `Err` if it does not within `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Result<String, ()> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Ok(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => Err(()),
    }
}

#[tokio::test]
async fn a_silent_or_dribbling_socket_is_closed_within_the_header_read_timeout() {
    let header = Duration::from_millis(200);
    let srv = served(
        limits(16, header, Duration::from_secs(1)),
        RouteLimits::default(),
        |_| {},
    )
    .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut dribbling = TcpStream::connect(srv.addr).await.unwrap();
    dribbling
        .write_all(b"GET /health HTTP/1.1\r\n")
        .await
        .unwrap();
    let drip = tokio::spawn(async move {
        for _ in 0..40 {
            if dribbling.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        dribbling
    });
    read_until_closed(&mut silent, Duration::from_secs(5))
        .await
        .expect("a silent socket is closed");
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_millis(150),
        "{closed_after:?}"
    );
    let mut dribbling = drip.await.unwrap();
    let mut rest = Vec::new();
    let n = dribbling.read_to_end(&mut rest).await.unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "no answer but a timeout: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_returns_within_the_grace_while_hostile_clients_hold_half_sent_requests() {
    let grace = Duration::from_millis(300);
    let mut srv = served(
        limits(64, Duration::from_secs(60), grace),
        RouteLimits::default(),
        |_| {},
    )
    .await;
    let mut hostile = Vec::new();
    for i in 0..8 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /refresh HTTP/1.1\r\nHost: x\r\nContent-Le")
                .await
                .unwrap();
        }
        hostile.push(s);
    }
    // Every hostile connection is accepted (and held) before the signal.
    let ok = call(
        &reqwest::Client::new(),
        srv.addr,
        reqwest::Method::GET,
        "/health",
        Some(TOKEN),
    )
    .await;
    assert_eq!(ok, StatusCode::OK);
    let asked = Instant::now();
    srv.stop.take().unwrap().send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), &mut srv.task)
        .await
        .expect("serve returned: shutdown is bounded");
    let took = asked.elapsed();
    println!("shutdown with 8 hostile clients took {took:?} (grace {grace:?})");
    result.unwrap().unwrap();
    assert!(took < grace + Duration::from_secs(2), "{took:?}");
    assert!(
        TcpStream::connect(srv.addr).await.is_err(),
        "the port is closed"
    );
    for mut s in hostile {
        assert!(read_until_closed(&mut s, Duration::from_secs(2))
            .await
            .is_ok());
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_cleanly_and_served_again_once_freed() {
    let srv = served(
        limits(4, Duration::from_secs(60), Duration::from_secs(1)),
        RouteLimits::default(),
        |_| {},
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(srv.addr).await.unwrap());
    }
    let http = reqwest::Client::new();
    // Let the server accept (and hold) the four idle sockets.
    wait_until(|| async {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let _ = s
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let answer = read_until_closed(&mut s, Duration::from_secs(2)).await;
        matches!(answer, Ok(ref a) if a.is_empty() || a.starts_with("HTTP/1.1 503"))
    })
    .await;
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let _ = s
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let answer = read_until_closed(&mut s, Duration::from_secs(2))
            .await
            .expect("refused at once, not left hanging");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
            "{answer}"
        );
    }
    drop(idle);
    wait_until(|| async {
        http.get(format!("http://{}/health", srv.addr))
            .bearer_auth(TOKEN)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert_eq!(srv.acct.provider.renewals(), 0);
}

/// Retries `check` every 10 ms for up to 5 s.
async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_correct_token_is_never_rate_limited_by_other_callers_failures() {
    let srv = served(ServeLimits::default(), RouteLimits::default(), |_| {}).await;
    let same_host = reqwest::Client::new();
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(
            call(
                &same_host,
                srv.addr,
                reqwest::Method::POST,
                "/refresh",
                Some("guess-guess"),
            )
            .await,
        );
    }
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == StatusCode::UNAUTHORIZED)
            .count(),
        5
    );
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        25
    );
    // The cron caller on the same host, right after the attack.
    for (m, p) in [
        (reqwest::Method::POST, "/refresh"),
        (reqwest::Method::POST, "/keepalive"),
        (reqwest::Method::GET, "/health"),
        (reqwest::Method::GET, "/metrics"),
    ] {
        assert_eq!(
            call(&same_host, srv.addr, m, p, Some(TOKEN)).await,
            StatusCode::OK,
            "{p}"
        );
    }
    assert_eq!(srv.acct.provider.renewals(), 1);
}

#[tokio::test]
async fn rotating_127_sources_do_not_escape_the_global_failure_budget() {
    let srv = served(ServeLimits::default(), RouteLimits::default(), |_| {}).await;
    let mut refused = 0;
    let mut answered = 0;
    for last in 2..12u8 {
        let http = client_from(IpAddr::from([127, 0, 0, last]));
        for _ in 0..3 {
            match call(
                &http,
                srv.addr,
                reqwest::Method::GET,
                "/health",
                Some("guess"),
            )
            .await
            {
                StatusCode::UNAUTHORIZED => answered += 1,
                StatusCode::TOO_MANY_REQUESTS => refused += 1,
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!(
        (answered, refused),
        (20, 10),
        "20 failures in all, whatever the source"
    );
    let fresh = client_from(IpAddr::from([127, 0, 0, 99]));
    assert_eq!(
        call(&fresh, srv.addr, reqwest::Method::POST, "/refresh", None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a new source gets no fresh failure budget"
    );
    let owner = client_from(IpAddr::from([127, 0, 0, 100]));
    assert_eq!(
        call(
            &owner,
            srv.addr,
            reqwest::Method::POST,
            "/refresh",
            Some(TOKEN)
        )
        .await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_route_is_rate_limited_including_open_health_and_metrics() {
    let reads = RateLimitConfig {
        burst: 3,
        per_minute: 1,
    };
    let routes = RouteLimits {
        reads_per_source: reads,
        ..RouteLimits::default()
    };
    let srv = served(ServeLimits::default(), routes, |c| c.auth_metrics = false).await;
    let http = client_from(IpAddr::from([127, 0, 0, 1]));
    for _ in 0..3 {
        assert_eq!(
            call(
                &http,
                srv.addr,
                reqwest::Method::GET,
                "/health",
                Some(TOKEN)
            )
            .await,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(
            &http,
            srv.addr,
            reqwest::Method::GET,
            "/health",
            Some(TOKEN)
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = client_from(IpAddr::from([127, 0, 0, 2]));
    for _ in 0..3 {
        assert_eq!(
            call(&other, srv.addr, reqwest::Method::GET, "/metrics", None).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&other, srv.addr, reqwest::Method::GET, "/metrics", None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "an open route is limited too"
    );
}

#[tokio::test]
async fn a_short_or_predictable_control_token_refuses_to_start_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    for weak in ["S3cr3t-Zq9vKx", "Zq9vKxZq9vKxZq9vKxZq9vKxZq9vKxZq9vKx"] {
        let err = Server::new(vec![], &config(&dir, weak), Arc::new(start_clock())).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ControlError::WeakToken { .. }), "{msg}");
        assert!(msg.contains("openssl rand -hex 32"), "{msg}");
        assert!(!msg.contains("Zq9vKx"), "the token is never echoed: {msg}");
    }
    assert!(Server::new(vec![], &config(&dir, TOKEN), Arc::new(start_clock())).is_ok());
}

#[tokio::test]
async fn a_non_loopback_listen_address_needs_allow_remote_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir, TOKEN);
    for addr in ["0.0.0.0:0", "192.0.2.7:9184", "[::]:0"] {
        cfg.listen = addr.parse().unwrap();
        let err = control::bind(&cfg).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, ControlError::RemoteNotAllowed { .. }),
            "{msg}"
        );
        assert!(
            msg.contains("plain HTTP") && msg.contains("allow_remote = true"),
            "{msg}"
        );
    }
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    assert!(
        control::bind(&cfg).await.is_ok(),
        "loopback needs no opt-in"
    );
    let parsed: ControlConfig =
        toml::from_str("token = { env = \"X\" }\nlisten = \"0.0.0.0:9184\"\nallow_remote = true")
            .unwrap();
    assert!(parsed.allow_remote);
}

#[tokio::test]
async fn a_request_whose_body_never_ends_is_answered_and_closed() {
    let srv = served(
        limits(16, Duration::from_millis(500), Duration::from_secs(1)),
        RouteLimits::default(),
        |_| {},
    )
    .await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let head = format!(
        "POST /keepalive HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000000\r\n\r\nabc"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let drip = tokio::spawn(async move {
        for _ in 0..200 {
            if w.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), r.read_to_end(&mut out))
        .await
        .expect("answered and closed while the body still dribbles")
        .ok();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(srv.acct.provider.probes(), 1);
    drip.abort();
}
