//! The local signing proxy against broker-sim, in process on a shared
//! ManualClock: E*TRADE requests signed (the simulator verifies OAuth 1.0a),
//! FYERS's header added, use counted, GET renewed once and retried, POST
//! never retried, 503 with the person action once only a login helps (the
//! broker not contacted), 401 without the bearer token, and no secret in any
//! answer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use broker_sim::{
    BrokerSim, Endpoint, EtradeProblem, Fault, Rejection, RunningSim, SimConfig, Times,
};
use chrono::{Duration, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::{ManagedAccount, ManualClock, SecretSource, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::Config;
use tokenctl::proxy::{ProxyAccount, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Cannot occur by chance in any answer.
const BEARER: &str = "Px7Zq-S3cr3t-9f86d081884c7d65-proxy-bearer";

struct Env {
    running: RunningSim,
    clock: ManualClock,
    _dir: tempfile::TempDir,
    accounts: Vec<Account>,
    proxy: String,
    http: reqwest::Client,
    /// Every secret that must never appear in an answer.
    secrets: Vec<String>,
    /// Every answer seen (status line, headers, body), for the leak scan.
    seen: Arc<Mutex<Vec<String>>>,
    /// The proxy's address.
    addr: std::net::SocketAddr,
    /// Asks the proxy to shut down.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The proxy's accept loop.
    task: tokio::task::JoinHandle<()>,
}

impl Env {
    /// E*TRADE `main` and FYERS `desk`, both logged in, on a Wednesday at
    /// 10:00 New York, the proxy on a free loopback port.
    async fn start() -> Env {
        Self::start_with("").await
    }

    /// [`Env::start`] with more `[proxy]` settings.
    async fn start_with(proxy_settings: &str) -> Env {
        Self::start_limited(proxy_settings, |_| {}).await
    }

    /// [`Env::start_with`], the accept loop's limits (from `[proxy]`)
    /// adjusted by `adjust` (sub-second timeouts for the tests).
    async fn start_limited(
        proxy_settings: &str,
        adjust: impl FnOnce(&mut control::ServeLimits),
    ) -> Env {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap());
        let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
            .await
            .unwrap();
        let c = running.credentials();
        let dir = tempfile::tempdir().unwrap();
        common::write_private(
            &dir.path().join("consumer_secret"),
            &c.etrade_consumer_secret,
        );
        common::write_private(&dir.path().join("secret_key"), &c.fyers_secret_key);
        common::write_private(&dir.path().join("pin"), &c.fyers_pin);
        common::write_private(&dir.path().join("proxy-token"), BEARER);
        let text = format!(
            r#"
[proxy]
token = {{ file = "proxy-token" }}
{proxy_settings}

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "{key}"
consumer_secret = {{ file = "consumer_secret" }}
base_url = "{base}"

[[account]]
broker = "fyers"
label = "desk"
client_id = "{client}"
secret_key = {{ file = "secret_key" }}
pin = {{ file = "pin" }}
redirect_uri = "{redirect}"
base_url = "{fyers}"
"#,
            key = c.etrade_consumer_key,
            base = running.base_url,
            client = c.fyers_client_id,
            redirect = c.fyers_redirect_uri,
            fyers = c.fyers_base_url,
        );
        let path = dir.path().join("tokenctl.toml");
        std::fs::write(&path, &text).unwrap();
        let registry = tokenctl::Registry::new()
            .register::<etrade::Etrade>()
            .register::<fyers::Fyers>();
        let config = Config::parse(&text, &path, &registry).unwrap();
        let shared: Arc<dyn token_core::Clock> = Arc::new(clock.clone());
        let mut accounts = Vec::new();
        let mut secrets = vec![
            BEARER.to_owned(),
            c.etrade_consumer_secret.clone(),
            c.fyers_secret_key.clone(),
            c.fyers_pin.clone(),
        ];
        for cfg in &config.accounts {
            let acct = Account::open(cfg, shared.clone(), Mode::Online)
                .await
                .unwrap();
            let m = acct.managed();
            let request = m.begin_authorization().await.unwrap();
            let answer = if cfg.key.broker() == "etrade" {
                running
                    .sim
                    .approve_etrade(&common::query_param(&request.url, "token"))
                    .unwrap()
            } else {
                running
                    .sim
                    .approve_fyers(
                        &c.fyers_client_id,
                        &c.fyers_redirect_uri,
                        &common::query_param(&request.url, "state"),
                    )
                    .unwrap()
            };
            m.complete_authorization(&SecretString::from(answer))
                .await
                .unwrap();
            let rec = acct.store().unwrap().load(m.key()).await.unwrap().unwrap();
            for (_, value) in rec.payload.iter() {
                secrets.push(value.expose_secret().to_owned());
            }
            accounts.push(acct);
        }
        let served = accounts
            .iter()
            .map(|a| ProxyAccount {
                managed: a.managed(),
                target: a.proxy_target(),
            })
            .collect();
        let cfg = config.proxy_table().unwrap().unwrap();
        let bearer =
            control::BearerToken::configured(&cfg.token.as_ref().unwrap().read().unwrap()).unwrap();
        let router = tokenctl::proxy::router(served, Some(bearer), &cfg).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = format!("http://{addr}");
        let mut limits = cfg.serve_limits();
        adjust(&mut limits);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tokenctl::proxy::serve(listener, router, limits, async {
            let _ = stopped.await;
        }));
        running.sim.reset_counters();
        Env {
            running,
            clock,
            _dir: dir,
            accounts,
            proxy,
            http: reqwest::Client::new(),
            secrets,
            seen: Arc::default(),
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn account(&self, label: &str) -> Arc<dyn ManagedAccount> {
        self.accounts
            .iter()
            .map(Account::managed)
            .find(|m| m.key().label() == label)
            .unwrap()
    }

    /// Sends `method path` through the proxy (with the bearer token unless
    /// `bearer` is None); returns (status, body) and keeps the answer for
    /// the leak scan.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        form: Option<&str>,
    ) -> (u16, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.proxy));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(f) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(f.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.text().await.unwrap();
        self.seen
            .lock()
            .unwrap()
            .push(format!("{status}\n{headers}\n{body}"));
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.call(reqwest::Method::GET, path, Some(BEARER), None)
            .await
    }

    /// No answer the proxy gave carried a secret.
    fn assert_no_leak(&self) {
        common::assert_no_secret_in(&self.seen.lock().unwrap(), &self.secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrade_get_is_signed_forwarded_unchanged_and_counts_as_use() {
    let env = Env::start().await;
    let main = env.account("main");
    env.clock.advance(Duration::minutes(90));
    let before = main.health().last_used.unwrap();
    let (status, body) = env.get("/main/v1/accounts/list.json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("JIdOIAcSpwR1Jva7RQBraQ"), "{body}");
    // The query is signed too (the simulator checks the signature).
    let (status, body) = env
        .get("/etrade.sandbox.main/v1/market/quote/AAPL,MSFT.json?detailFlag=ALL")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("MSFT"), "{body}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 1);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeQuote), 1);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRenew), 0);
    let after = main.health().last_used.unwrap();
    assert!(
        after >= before + Duration::minutes(89),
        "use not counted: {before} -> {after}"
    );
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fyers_request_gets_the_client_id_token_header() {
    let env = Env::start().await;
    let (status, body) = env.get("/desk/profile").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"s\":\"ok\""), "{body}");
    assert_eq!(env.running.sim.calls(Endpoint::FyersProfile), 1);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_answer_to_a_get_is_renewed_once_and_retried() {
    let env = Env::start().await;
    env.running.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::Unauthorized(Rejection::Etrade(EtradeProblem::TokenExpired)),
        Times::N(1),
    );
    let (status, body) = env.get("/main/v1/accounts/list.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 2);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_answer_to_a_post_is_passed_back_not_retried_but_renews_for_the_next_request() {
    let env = Env::start().await;
    env.running.sim.inject_fault(
        Endpoint::FyersLogout,
        Fault::Unauthorized(Rejection::Fyers(-17)),
        Times::N(1),
    );
    let (status, body) = env
        .call(reqwest::Method::POST, "/desk/logout", Some(BEARER), None)
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("-17"),
        "the broker's answer, unchanged: {body}"
    );
    assert_eq!(
        env.running.sim.calls(Endpoint::FyersLogout),
        1,
        "never sent twice"
    );
    assert_eq!(
        env.running.sim.calls(Endpoint::FyersValidateRefreshToken),
        1,
        "renewed once, so the next request works"
    );
    let (status, body) = env.get("/desk/profile").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.running.sim.calls(Endpoint::FyersProfile), 1);
    assert_eq!(
        env.running.sim.calls(Endpoint::FyersValidateRefreshToken),
        1,
        "no second renewal"
    );
    assert_eq!(env.running.sim.calls(Endpoint::FyersLogout), 1);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inactive_answer_to_a_head_is_renewed_once_and_retried() {
    let env = Env::start().await;
    env.running.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::Unauthorized(Rejection::Etrade(EtradeProblem::TokenExpired)),
        Times::N(1),
    );
    let (status, body) = env
        .call(
            reqwest::Method::HEAD,
            "/main/v1/accounts/list.json",
            Some(BEARER),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 2);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_midnight_new_york_the_proxy_answers_503_with_the_login_and_asks_no_broker() {
    let env = Env::start().await;
    // 00:30 New York on Thursday: the E*TRADE token died at midnight.
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 5, 5, 30, 0).unwrap());
    let (status, body) = env.get("/main/v1/accounts/list.json").await;
    assert_eq!(status, 503, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["error"], "no_usable_token");
    assert_eq!(doc["account"], "etrade/sandbox/main");
    assert_eq!(doc["next_action"]["action"], "login", "{doc}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 0);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRenew), 0);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_bearer_token_the_proxy_answers_401_and_forwards_nothing() {
    let env = Env::start().await;
    let (status, body) = env
        .call(
            reqwest::Method::GET,
            "/main/v1/accounts/list.json",
            None,
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let wrong = format!("{BEARER}x");
    let (status, _) = env
        .call(
            reqwest::Method::GET,
            "/main/v1/accounts/list.json",
            Some(&wrong),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = env.get("/nobody/v1/accounts/list.json").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("main"), "names the accounts: {body}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 0);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_in_flight_are_refused_at_once() {
    let env = Env::start_with("max_in_flight = 1").await;
    env.running.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::Delay(std::time::Duration::from_millis(500)),
        Times::N(1),
    );
    let slow = env.get("/main/v1/accounts/list.json");
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        env.get("/main/v1/accounts/list.json").await
    };
    let ((s1, b1), (s2, b2)) = tokio::join!(slow, second);
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(s2, 503, "{b2}");
    assert!(b2.contains("\"busy\""), "{b2}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 1);
    env.assert_no_leak();
}

#[test]
fn proxy_config_defaults_are_bounded() {
    let c = ProxyConfig::on(
        "127.0.0.1:0".parse().unwrap(),
        SecretSource::Env("X".into()),
    );
    assert_eq!(c.max_body_bytes, 1024 * 1024);
    assert_eq!(c.max_in_flight, 256);
    assert_eq!(c.timeout(), std::time::Duration::from_secs(30));
    let l = c.serve_limits();
    assert!(l.keep_alive);
    assert!(l.max_connections >= 8 && l.max_connections <= control::DEFAULT_MAX_CONNECTIONS);
    assert_eq!(l.header_read_timeout, control::DEFAULT_HEADER_READ_TIMEOUT);
    assert!(l.connection_timeout >= 4 * c.timeout());
    assert_eq!(l.shutdown_grace, control::DEFAULT_SHUTDOWN_GRACE);
}

/// Sends `request` on a fresh socket and reads until the proxy closes it
/// (`None` if it does not within 5 s); the answer joins the leak scan.
async fn raw(env: &Env, request: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(env.addr).await.unwrap();
    let _ = s.write_all(request).await;
    let answer = read_until_closed(&mut s, StdDuration::from_secs(5)).await;
    if let Some(a) = &answer {
        env.seen.lock().unwrap().push(a.clone());
    }
    answer
}

/// Reads until the peer closes; `None` if it does not within `within`.
async fn read_until_closed(s: &mut TcpStream, within: StdDuration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// `GET path` with the bearer token; `close`: the last on its connection.
fn authorized_get(path: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "GET {path} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {BEARER}\r\n{connection}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_beyond_max_connections_are_refused_at_once_and_served_again_once_freed() {
    let env = Env::start_limited("max_connections = 4", |l| {
        assert_eq!(l.max_connections, 4, "[proxy] max_connections");
        l.header_read_timeout = StdDuration::from_secs(60);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(env.addr).await.unwrap());
    }
    let request = authorized_get("/main/v1/accounts/list.json", true);
    for _ in 0..10 {
        let answer = raw(&env, &request)
            .await
            .expect("refused at once, not left hanging");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
            "{answer}"
        );
    }
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 0);
    // One idle socket goes away: its slot serves a real request.
    idle.pop();
    let mut served = false;
    for _ in 0..100 {
        let answer = raw(&env, &request).await.unwrap_or_default();
        if answer.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(served, "a freed slot serves again");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 1);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_filling_the_cap_time_out_and_a_request_is_served_after() {
    let header = StdDuration::from_millis(300);
    let env = Env::start_limited("max_connections = 4", |l| l.header_read_timeout = header).await;
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(env.addr).await.unwrap());
    }
    // Held open by the client, closed by the proxy.
    for s in &mut idle {
        let answer = read_until_closed(s, StdDuration::from_secs(5))
            .await
            .expect("a silent socket is closed by the proxy");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after >= StdDuration::from_millis(250),
        "{closed_after:?}"
    );
    assert!(closed_after < StdDuration::from_secs(4), "{closed_after:?}");
    let (status, body) = env.get("/main/v1/accounts/list.json").await;
    assert_eq!(status, 200, "{body}");
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_head_byte_by_byte_slower_than_the_timeout_is_dropped() {
    let env = Env::start_limited("", |l| {
        l.header_read_timeout = StdDuration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let mut s = TcpStream::connect(env.addr).await.unwrap();
    let head = authorized_get("/main/v1/accounts/list.json", true);
    // The whole head, one byte each 25 ms (about 2 s): never finished in time.
    let mut dropped = false;
    for b in &head[..head.len() - 2] {
        if s.write_all(&[*b]).await.is_err() {
            dropped = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
        if started.elapsed() > StdDuration::from_secs(3) {
            break;
        }
    }
    let answer = read_until_closed(&mut s, StdDuration::from_secs(3))
        .await
        .unwrap_or_else(|| panic!("not closed (write failed: {dropped})"));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_serves_requests_then_is_closed_when_idle() {
    let env = Env::start_limited("", |l| {
        l.header_read_timeout = StdDuration::from_millis(300);
    })
    .await;
    // Two requests on one connection, neither asking to close it.
    let mut two = authorized_get("/desk/profile", false);
    two.extend(authorized_get("/desk/profile", false));
    let started = Instant::now();
    let answer = raw(&env, &two).await.expect("closed once idle");
    let idle_for = started.elapsed();
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
    assert!(idle_for >= StdDuration::from_millis(250), "{idle_for:?}");
    assert_eq!(env.running.sim.calls(Endpoint::FyersProfile), 2);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_within_the_grace_while_clients_hold_half_sent_requests() {
    let grace = StdDuration::from_millis(300);
    let mut env = Env::start_limited("", |l| {
        l.header_read_timeout = StdDuration::from_secs(60);
        l.shutdown_grace = grace;
    })
    .await;
    let mut hostile = Vec::new();
    for i in 0..8 {
        let mut s = TcpStream::connect(env.addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"POST /desk/logout HTTP/1.1\r\nHost: x\r\nContent-Le")
                .await
                .unwrap();
        }
        hostile.push(s);
    }
    let (status, body) = env.get("/desk/profile").await;
    assert_eq!(status, 200, "{body}");
    let asked = Instant::now();
    env.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(StdDuration::from_secs(10), &mut env.task)
        .await
        .expect("shutdown is bounded")
        .unwrap();
    let took = asked.elapsed();
    assert!(took < grace + StdDuration::from_secs(2), "{took:?}");
    assert!(
        TcpStream::connect(env.addr).await.is_err(),
        "the port is closed"
    );
    for mut s in hostile {
        assert!(read_until_closed(&mut s, StdDuration::from_secs(2))
            .await
            .is_some());
    }
    assert_eq!(env.running.sim.calls(Endpoint::FyersLogout), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_gets_413_and_is_not_forwarded() {
    let env = Env::start_with("max_body_bytes = 64").await;
    let form = format!("symbols={}", "NSE:SBIN-EQ,".repeat(40));
    let (status, body) = env
        .call(
            reqwest::Method::POST,
            "/desk/logout",
            Some(BEARER),
            Some(&form),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("body_too_large") && body.contains("max_body_bytes"),
        "{body}"
    );
    assert_eq!(env.running.sim.calls(Endpoint::FyersLogout), 0);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_carry_no_secret() {
    let env = Env::start().await;
    // The broker drops the connection: 502.
    env.running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::DropConnection,
        Times::UntilCleared,
    );
    let (status, body) = env.get("/desk/profile").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("broker_unreachable"), "{body}");
    env.running.sim.clear_faults();
    // A wrong bearer: 401 (the real bearer is one of the scanned secrets).
    let (status, _) = env
        .call(
            reqwest::Method::GET,
            "/desk/profile",
            Some("wrong-bearer-token"),
            None,
        )
        .await;
    assert_eq!(status, 401);
    // An unknown account: 404; the midnight expiry: 503 with the person action.
    let (status, _) = env.get("/nobody/profile").await;
    assert_eq!(status, 404);
    env.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 5, 5, 30, 0).unwrap());
    let (status, _) = env.get("/main/v1/accounts/list.json").await;
    assert_eq!(status, 503);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_answer_comes_back_unchanged_status_headers_and_body() {
    let env = Env::start().await;
    let desk = env
        .accounts
        .iter()
        .find(|a| a.managed().key().label() == "desk")
        .unwrap();
    let rec = desk
        .store()
        .unwrap()
        .load(desk.managed().key())
        .await
        .unwrap()
        .unwrap();
    let token = rec
        .payload
        .iter()
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.expose_secret().to_owned())
        .unwrap();
    let c = env.running.credentials();
    let direct = env
        .http
        .get(format!("{}/profile", c.fyers_base_url))
        .header("authorization", format!("{}:{token}", c.fyers_client_id))
        .send()
        .await
        .unwrap();
    let via = env
        .http
        .get(format!("{}/desk/profile", env.proxy))
        .bearer_auth(BEARER)
        .send()
        .await
        .unwrap();
    assert_eq!(via.status(), direct.status());
    for name in ["content-type", "content-length"] {
        assert_eq!(
            via.headers().get(name),
            direct.headers().get(name),
            "{name}"
        );
    }
    let (direct, via) = (direct.bytes().await.unwrap(), via.bytes().await.unwrap());
    assert!(!via.is_empty());
    assert_eq!(via, direct, "the body byte for byte");
    assert_eq!(env.running.sim.calls(Endpoint::FyersProfile), 2);
}
