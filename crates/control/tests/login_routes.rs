//! One login in progress per account, shared across processes and finished
//! from any entry point: two managers over one directory, the control
//! server's `/login` routes and the redirect capture at `/callback`, all
//! against broker-sim on the manual clock (issue 13, items 1, 3 and 6).

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::{Duration, TimeZone, Utc};
use control::{ControlConfig, RateLimitConfig, Server};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use token_core::store::DirPendingLogins;
use token_core::testing::FakeProvider;
use token_core::{
    Capabilities, Event, FileStore, ManagedAccount, ManualClock, TokenManager, TokenStore,
};

const TOKEN: &str = "ctl-5d0c3b9e71a24f86b0e9d4c7a1f3e5b2c8d6a047";

async fn sim(clock: &ManualClock) -> RunningSim {
    BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap()
}

fn clock() -> ManualClock {
    // 10:00 New York on a Monday.
    ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap())
}

/// One "process": its own store and pending-login handles over `dir`.
fn etrade(
    sim: &RunningSim,
    clock: &ManualClock,
    dir: &std::path::Path,
) -> TokenManager<etrade::EtradeCredentials> {
    let config = common::sim_etrade_config(sim);
    let provider =
        Arc::new(etrade::EtradeProvider::with_clock(config, Arc::new(clock.clone())).unwrap());
    let store: Arc<dyn TokenStore> = Arc::new(FileStore::open(dir).unwrap());
    TokenManager::builder("etrade/sandbox/main".parse().unwrap(), provider)
        .store(store)
        .pending_logins(Arc::new(DirPendingLogins::new(dir)))
        .policy(Arc::new(etrade::default_policy()))
        .clock(Arc::new(clock.clone()))
        .build()
}

fn fyers(
    sim: &RunningSim,
    clock: &ManualClock,
    dir: &std::path::Path,
) -> TokenManager<fyers::FyersCreds> {
    let config = common::sim_fyers_config(sim);
    let provider = Arc::new(fyers::FyersProvider::new(config, Arc::new(clock.clone())).unwrap());
    TokenManager::builder("fyers/production/main".parse().unwrap(), provider)
        .store(Arc::new(FileStore::open(dir).unwrap()))
        .pending_logins(Arc::new(DirPendingLogins::new(dir)))
        .policy(Arc::new(fyers::default_policy()))
        .clock(Arc::new(clock.clone()))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_over_one_directory_share_one_login_and_one_request_token() {
    let clock = clock();
    let sim = sim(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let first = etrade(&sim, &clock, dir.path());
    let second = etrade(&sim, &clock, dir.path());
    // Both ask at once (a daemon's alert and a `tokenctl login`): one request.
    let (a, b) = tokio::join!(first.begin_authorization(), second.begin_authorization());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.url, b.url, "one URL for one account");
    assert_eq!(sim.sim.calls(Endpoint::EtradeRequestToken), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = DirPendingLogins::new(dir.path()).path(first.key());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "it holds the request token secret");
    }
    // The person answers the first one's alert URL through the second.
    let verifier = sim
        .sim
        .approve_etrade(&common::query(&a.url, "token"))
        .unwrap();
    second
        .complete_authorization(&SecretString::from(verifier.clone()))
        .await
        .unwrap();
    assert_eq!(sim.sim.calls(Endpoint::EtradeRequestToken), 1);
    assert_eq!(sim.sim.calls(Endpoint::EtradeAccessToken), 1);
    // Single use: forgotten by both, and the first adopts the new token.
    assert!(first.pending_authorization().await.unwrap().is_none());
    assert!(first.reload_if_newer().await.unwrap());
    assert!(first.token().is_ok());
    let again = first
        .complete_authorization(&SecretString::from(verifier))
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("no login is in progress"),
        "{again}"
    );

    // A stale request is replaced, and the person is told the old URL is dead.
    let old = first.begin_authorization().await.unwrap();
    clock.advance(Duration::minutes(6));
    let fresh = second.login_request().await.unwrap();
    assert!(fresh.replaced);
    assert_ne!(fresh.request.url, old.url);
    assert_eq!(sim.sim.calls(Endpoint::EtradeRequestToken), 3);
    assert_eq!(
        first.begin_authorization().await.unwrap().url,
        fresh.request.url,
        "the replacement is shared too"
    );
    let mut second_events = second.subscribe();
    clock.advance(Duration::minutes(6));
    let err = second
        .complete_authorization(&SecretString::from("ZZ9QX"))
        .await
        .unwrap_err();
    let token_core::Error::AuthorizationExpired { url } = err else {
        panic!("expected AuthorizationExpired, got {err:?}");
    };
    assert_ne!(url, fresh.request.url);
    let warned = std::iter::from_fn(|| second_events.try_recv().ok()).any(|e| {
        matches!(e, Event::Warning { message, .. } if message.contains("no longer works") && message.contains(&url))
    });
    assert!(warned, "the replacement is announced with the new URL");
}

struct Running {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn serve(
    accounts: Vec<Arc<dyn ManagedAccount>>,
    clock: &ManualClock,
    public_url: Option<&str>,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ControlConfig {
        rate_limit: RateLimitConfig {
            burst: 100,
            per_minute: 100,
        },
        public_url: public_url.map(str::to_owned),
        ..common::control_config(dir.path(), TOKEN)
    };
    let server = Server::new(accounts, &cfg, Arc::new(clock.clone())).unwrap();
    let addr = common::serve(server.router()).await;
    Running {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Running {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, String) {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn complete(&self, account: &str, code: &str) -> (StatusCode, Value, String) {
        let body = serde_json::json!({ "code": code }).to_string();
        let (status, text) = self
            .post(
                &format!("/login/{account}/complete"),
                Some(TOKEN),
                Some(body),
            )
            .await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_routes_start_return_refuse_expire_and_complete() {
    let clock = clock();
    let sim = sim(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let manager = etrade(&sim, &clock, dir.path());
    let no_login = TokenManager::builder(
        "fake/sandbox/nologin".parse().unwrap(),
        Arc::new(
            FakeProvider::new(Arc::new(clock.clone())).with_capabilities(Capabilities {
                authorize: false,
                ..Capabilities::ALL
            }),
        ),
    )
    .clock(Arc::new(clock.clone()))
    .build();
    let srv = serve(
        vec![Arc::new(manager.clone()), Arc::new(no_login)],
        &clock,
        None,
    )
    .await;
    let key = "etrade/sandbox/main";

    // Bearer auth like every write route.
    let (status, _) = srv.post(&format!("/login/{key}"), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = srv
        .post(
            &format!("/login/{key}/complete"),
            Some("wrong-Qz81"),
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Unknown account, and a broker without interactive login.
    let (status, body) = srv
        .post("/login/etrade/sandbox/nobody", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (status, body) = srv
        .post("/login/fake/sandbox/nologin", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Start, then the same request again (also by its %2F form).
    let (status, body) = srv.post(&format!("/login/{key}"), Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["account"], key);
    assert_eq!(started["expects"], "verifier");
    assert_eq!(started["replaced"], false);
    assert!(started["instructions"].as_str().unwrap().len() > 10);
    let expires = started["expires_at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let url = started["url"].as_str().unwrap().to_owned();
    let (_, body) = srv
        .post("/login/etrade%2Fsandbox%2Fmain", Some(TOKEN), None)
        .await;
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["url"], url.as_str());
    assert_eq!(sim.sim.calls(Endpoint::EtradeRequestToken), 1);

    // A refused code: 422 with the remedy, the code never echoed.
    let (status, json, text) = srv.complete(key, "WR0NG-Qz7Kx").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert_eq!(json["remedy"]["remedy"], "log_in", "{text}");
    assert!(!text.contains("WR0NG-Qz7Kx"), "{text}");
    // A body over 8 KiB is refused before anything else.
    let (status, _, _) = srv.complete(key, &"x".repeat(9000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // The pasted E*TRADE callback URL completes it.
    let token = common::query(&url, "token");
    let verifier = sim.sim.approve_etrade(&token).unwrap();
    let mut callback = url::Url::parse("https://bot.example.com/etrade/cb").unwrap();
    callback
        .query_pairs_mut()
        .append_pair("oauth_token", &token)
        .append_pair("oauth_verifier", &verifier);
    let (status, json, text) = srv.complete(key, callback.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        json,
        serde_json::json!({"account": key, "authorized": true})
    );
    assert!(manager.token().is_ok());
    // Single use: nothing in progress any more.
    let (status, _, text) = srv.complete(key, &verifier).await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");

    // Expired: 410 with the new URL, which the next start returns.
    let (_, body) = srv.post(&format!("/login/{key}"), Some(TOKEN), None).await;
    let old: Value = serde_json::from_str(&body).unwrap();
    clock.advance(Duration::minutes(6));
    let (status, json, text) = srv.complete(key, "ZZ9QX").await;
    assert_eq!(status, StatusCode::GONE, "{text}");
    let new_url = json["url"].as_str().unwrap();
    assert_ne!(new_url, old["url"].as_str().unwrap());
    assert!(json["error"].as_str().unwrap().contains("no longer works"));
    let (_, body) = srv.post(&format!("/login/{key}"), Some(TOKEN), None).await;
    let current: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(current["url"].as_str().unwrap(), new_url);
    assert_eq!(current["replaced"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fyers_redirect_is_captured_once_and_only_with_the_right_state() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    let sim = sim(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let manager = fyers(&sim, &clock, dir.path());
    let srv = serve(
        vec![Arc::new(manager.clone())],
        &clock,
        Some("https://tokens.example.com/"),
    )
    .await;
    let (status, body) = srv
        .post("/login/fyers/production/main", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["expects"], "redirect_url");
    assert_eq!(
        started["captured"], false,
        "the sim's redirect URI is not this server's callback"
    );
    let url = started["url"].as_str().unwrap();
    let c = sim.credentials();
    let redirect = sim
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &common::query(url, "state"),
        )
        .unwrap();
    let query = url::Url::parse(&redirect)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let state = common::query(&redirect, "state");
    let path = "/callback/fyers/production/main";

    // A wrong state changes nothing (no bearer token is needed to get here).
    let forged = query.replace(&state, "f0rged-state-Qz");
    let (status, page) = srv.get(&format!("{path}?{forged}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(manager.token().is_err());
    assert!(manager.pending_authorization().await.unwrap().is_some());
    assert_eq!(sim.sim.calls(Endpoint::FyersValidateAuthcode), 0);
    // Another broker's path or an unknown account: 404.
    let (status, _) = srv
        .get(&format!("/callback/etrade/production/main?{query}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The right one logs the account in.
    let (status, page) = srv.get(&format!("{path}?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Account fyers/production/main is logged in; you can close this page."),
        "{page}"
    );
    assert!(
        !page.contains(&common::query(&redirect, "auth_code")),
        "no secret on the page"
    );
    assert!(manager.token().is_ok());
    assert_eq!(sim.sim.calls(Endpoint::FyersValidateAuthcode), 1);

    // A replay is refused and changes nothing.
    let before = manager.current().unwrap();
    let (status, page) = srv.get(&format!("{path}?{query}")).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(Arc::ptr_eq(&before, &manager.current().unwrap()));
    assert_eq!(sim.sim.calls(Endpoint::FyersValidateAuthcode), 1);
}
