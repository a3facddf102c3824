//! The local signing proxy for Schwab and Kite against broker-sim, in
//! process on a shared ManualClock (issue 17 item 3): a GET through the
//! proxy reaches the simulator with `Authorization: Bearer …` (Schwab) or
//! `Authorization: token api_key:access_token` + `X-Kite-Version: 3` (Kite),
//! which the simulator checks, and comes back byte for byte as the
//! simulator answered; no token or secret in any answer.

mod common;

use std::sync::{Arc, Mutex};

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::{ManualClock, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::Config;
use tokenctl::proxy::ProxyAccount;

/// Cannot occur by chance in any answer.
const BEARER: &str = "Px7Zq-S3cr3t-4b1d9e-schwab-kite-proxy-bearer";

struct Env {
    running: RunningSim,
    _dir: tempfile::TempDir,
    proxy: String,
    http: reqwest::Client,
    /// Per account label: its access token (for the direct calls).
    access: Vec<(String, String)>,
    /// Every secret that must never appear in an answer.
    secrets: Vec<String>,
    /// Every answer the proxy gave (status, headers, body).
    seen: Mutex<Vec<String>>,
}

impl Env {
    /// Schwab `sw` and Kite `kt`, both logged in through the simulator, on
    /// a Wednesday at 10:00 New York, the proxy on a free loopback port.
    async fn start() -> Env {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 4, 15, 0, 0).unwrap());
        let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
            .await
            .unwrap();
        let sim = running.sim.config();
        let dir = tempfile::tempdir().unwrap();
        common::write_private(&dir.path().join("schwab_secret"), &sim.schwab.app_secret);
        common::write_private(&dir.path().join("kite_secret"), &sim.kite.api_secret);
        common::write_private(&dir.path().join("proxy-token"), BEARER);
        let text = format!(
            r#"
[proxy]
token = {{ file = "proxy-token" }}

[[account]]
broker = "schwab"
environment = "sandbox"
label = "sw"
app_key = "{app_key}"
app_secret = {{ file = "schwab_secret" }}
callback_url = "{callback}"
base_url = "{base}"

[[account]]
broker = "kite"
environment = "sandbox"
label = "kt"
api_key = "{api_key}"
api_secret = {{ file = "kite_secret" }}
redirect_url = "{redirect}"
base_url = "{base}"
"#,
            app_key = sim.schwab.app_key,
            callback = sim.schwab.callback_url,
            api_key = sim.kite.api_key,
            redirect = sim.kite.redirect_url,
            base = running.base_url,
        );
        let path = dir.path().join("tokenctl.toml");
        std::fs::write(&path, &text).unwrap();
        let registry = tokenctl::Registry::new()
            .register::<schwab::Schwab>()
            .register::<kite::Kite>();
        let config = Config::parse(&text, &path, &registry).unwrap();
        let shared: Arc<dyn token_core::Clock> = Arc::new(clock.clone());
        let mut served = Vec::new();
        let mut access = Vec::new();
        let mut secrets = vec![
            BEARER.to_owned(),
            sim.schwab.app_secret.clone(),
            sim.kite.api_secret.clone(),
        ];
        for cfg in &config.accounts {
            let acct = Account::open(cfg, shared.clone(), Mode::Online)
                .await
                .unwrap();
            let m = acct.managed();
            let request = m.begin_authorization().await.unwrap();
            let redirect = if cfg.key.broker() == "schwab" {
                running.sim.approve_schwab_url(&request.url).unwrap()
            } else {
                running.sim.approve_kite(&sim.kite.api_key).unwrap()
            };
            m.complete_authorization(&SecretString::from(redirect))
                .await
                .unwrap();
            let rec = acct.store().unwrap().load(m.key()).await.unwrap().unwrap();
            for (name, value) in rec.payload.iter() {
                if name == "access_token" {
                    access.push((cfg.key.label().to_owned(), value.expose_secret().to_owned()));
                }
                if matches!(name, "access_token" | "refresh_token" | "id_token") {
                    secrets.push(value.expose_secret().to_owned());
                }
            }
            served.push(ProxyAccount {
                managed: m,
                target: acct.proxy_target(),
            });
        }
        assert_eq!(access.len(), 2, "both accounts hold an access token");
        let cfg = config.proxy_table().unwrap().unwrap();
        let bearer =
            control::BearerToken::configured(&cfg.token.as_ref().unwrap().read().unwrap()).unwrap();
        let router = tokenctl::proxy::router(served, Some(bearer), &cfg).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(tokenctl::proxy::serve(
            listener,
            router,
            cfg.serve_limits(),
            std::future::pending(),
        ));
        running.sim.reset_counters();
        Env {
            running,
            _dir: dir,
            proxy,
            http: reqwest::Client::new(),
            access,
            secrets,
            seen: Mutex::default(),
        }
    }

    fn access(&self, label: &str) -> &str {
        &self.access.iter().find(|(l, _)| l == label).unwrap().1
    }

    /// GET `path` through the proxy with its bearer token: (status, body).
    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}{path}", self.proxy))
            .bearer_auth(BEARER)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = format!("{:?}", resp.headers());
        let body = resp.bytes().await.unwrap().to_vec();
        self.seen.lock().unwrap().push(format!(
            "{status}\n{headers}\n{}",
            String::from_utf8_lossy(&body)
        ));
        (status, body)
    }

    /// GET `path` on the simulator directly with `headers`: (status, body).
    async fn direct(&self, path: &str, headers: &[(&str, String)]) -> (u16, Vec<u8>) {
        let mut req = self.http.get(format!("{}{path}", self.running.base_url));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    /// No answer the proxy gave carried a token or secret.
    fn assert_no_leak(&self) {
        common::assert_no_secret_in(&self.seen.lock().unwrap(), &self.secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schwab_get_gets_the_bearer_header_and_the_answer_comes_back_unchanged() {
    let env = Env::start().await;
    let path = "/trader/v1/accounts/accountNumbers";
    let (status, body) = env.get(&format!("/sw{path}")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(env.running.sim.calls(Endpoint::SchwabAccountNumbers), 1);
    // What the simulator answers a bot sending the bearer token itself:
    // the same bytes. A wrong scheme is refused, so the proxy sent Bearer.
    let bearer = format!("Bearer {}", env.access("sw"));
    let (direct_status, direct) = env.direct(path, &[("authorization", bearer)]).await;
    assert_eq!((status, &body), (direct_status, &direct));
    assert!(String::from_utf8_lossy(&body).contains("hashValue"));
    let wrong = format!("token {}", env.access("sw"));
    let (refused, _) = env.direct(path, &[("authorization", wrong)]).await;
    assert_eq!(refused, 401);
    env.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kite_get_gets_the_token_header_and_api_version_and_the_answer_comes_back_unchanged() {
    let env = Env::start().await;
    let (status, body) = env.get("/kt/user/profile").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(env.running.sim.calls(Endpoint::KiteProfile), 1);
    let api_key = env.running.sim.config().kite.api_key;
    let auth = format!("token {api_key}:{}", env.access("kt"));
    let version = ("x-kite-version", "3".to_owned());
    let (direct_status, direct) = env
        .direct(
            "/user/profile",
            &[("authorization", auth.clone()), version.clone()],
        )
        .await;
    assert_eq!((status, &body), (direct_status, &direct));
    let profile: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(profile["status"], "success", "{profile}");
    // The simulator refuses either header missing, so the proxy sent both.
    let (no_version, _) = env
        .direct("/user/profile", &[("authorization", auth)])
        .await;
    assert_eq!(no_version, 400);
    let (no_token, _) = env.direct("/user/profile", &[version]).await;
    assert_eq!(no_token, 403);
    env.assert_no_leak();
}
