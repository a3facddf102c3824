//! The control surface over real HTTP on loopback.

mod common;

use std::sync::Arc;

use common::*;
use control::{ControlConfig, RateLimitConfig, SecretSource, Server};
use reqwest::StatusCode;
use token_core::{Clock, Error, ManagedAccount};

const TOKEN: &str = "ctl-62e05d417b7c09a1b9a5023bbea3ee893ce14f12";

fn config(dir: &tempfile::TempDir) -> ControlConfig {
    ControlConfig {
        rate_limit: RateLimitConfig {
            burst: 100,
            per_minute: 100,
        },
        ..control_config(dir.path(), TOKEN)
    }
}

struct Running {
    base: String,
    http: reqwest::Client,
    _background: control::Background,
    _dir: tempfile::TempDir,
}

async fn start(
    accounts: Vec<Arc<dyn ManagedAccount>>,
    clock: &token_core::ManualClock,
    adjust: impl FnOnce(&mut ControlConfig),
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(&dir);
    adjust(&mut cfg);
    let server = Server::new(accounts, &cfg, Arc::new(clock.clone())).unwrap();
    let background = server.start();
    let addr = serve(server.router()).await;
    Running {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _background: background,
        _dir: dir,
    }
}

impl Running {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.headers().clone(), r.text().await.unwrap())
    }
}

#[tokio::test]
async fn mutating_routes_require_the_bearer_token_and_reject_a_wrong_one() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let srv = start(vec![acct.erased()], &clock, |_| {}).await;
    for path in ["/refresh", "/keepalive"] {
        let (status, headers, body) = srv.call(reqwest::Method::POST, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(
            body, r#"{"error":"unauthorized"}"#,
            "a 401 carries no detail"
        );
        let (status, _, body) = srv
            .call(reqwest::Method::POST, path, Some("control-test-token-Zq82"))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!body.contains(TOKEN));
    }
    assert_eq!(acct.provider.renewals(), 0, "nothing ran without the token");
    let (status, _, body) = srv
        .call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"results":[{"account":"fake/sandbox/a","ok":true}]}"#
    );
    assert_eq!(acct.provider.renewals(), 1);
    let (status, _, _) = srv
        .call(reqwest::Method::POST, "/keepalive", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acct.provider.probes(), 1);
}

#[tokio::test]
async fn health_and_metrics_need_the_token_by_default_and_can_be_opened() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let srv = start(vec![acct.erased()], &clock, |_| {}).await;
    for path in ["/health", "/metrics"] {
        let (status, _, _) = srv.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _, _) = srv.call(reqwest::Method::GET, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let open = start(vec![acct.erased()], &clock, |c| {
        c.auth_health = false;
        c.auth_metrics = false;
    })
    .await;
    for path in ["/health", "/metrics"] {
        let (status, _, _) = open.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _, _) = open.call(reqwest::Method::POST, "/refresh", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "mutating routes always need the token"
    );
}

#[tokio::test]
async fn too_many_mutations_from_one_client_get_429_until_the_bucket_refills() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let srv = start(vec![acct.erased()], &clock, |c| {
        c.rate_limit = RateLimitConfig {
            burst: 2,
            per_minute: 2,
        };
    })
    .await;
    for _ in 0..2 {
        let (status, _, _) = srv
            .call(reqwest::Method::POST, "/keepalive", Some(TOKEN))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, body) = srv
        .call(reqwest::Method::POST, "/keepalive", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "30");
    assert_eq!(body, r#"{"error":"rate limited"}"#);
    let (status, _, _) = srv.call(reqwest::Method::POST, "/keepalive", None).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing tokens is limited too"
    );
    let (status, _, _) = srv.call(reqwest::Method::GET, "/health", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "reads are not limited");
    clock.advance(chrono::Duration::seconds(30));
    let (status, _, _) = srv
        .call(reqwest::Method::POST, "/keepalive", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acct.provider.probes(), 3);
}

#[tokio::test]
async fn health_status_code_follows_the_accounts() {
    let clock = start_clock();
    let good = FakeAccount::logged_in("good", &clock).await;
    let srv = start(vec![good.erased()], &clock, |_| {}).await;
    let (status, _, body) = srv.call(reqwest::Method::GET, "/health", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["accounts"][0]["key"]["label"], "good", "{body}");

    // Failures being retried: degraded, still 200.
    good.provider
        .fail_renewals([Error::transient("503 from broker")]);
    let (status, _, _) = srv
        .call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (status, _, body) = srv.call(reqwest::Method::GET, "/health", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""status":"degraded""#), "{body}");

    // An account nobody logged in to: critical, 503.
    let never = FakeAccount::new("never", &clock);
    never.manager.maintain().await;
    let srv = start(vec![good.erased(), never.erased()], &clock, |_| {}).await;
    let (status, _, body) = srv.call(reqwest::Method::GET, "/health", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(r#""status":"critical""#), "{body}");
    assert!(
        body.contains("https://fake.invalid/authorize"),
        "the URL to open is in the report"
    );
}

#[tokio::test]
async fn one_account_can_be_targeted_and_unknown_ones_are_404() {
    let clock = start_clock();
    let a = FakeAccount::logged_in("a", &clock).await;
    let b = FakeAccount::logged_in("b", &clock).await;
    let srv = start(vec![a.erased(), b.erased()], &clock, |_| {}).await;
    let (status, _, _) = srv
        .call(
            reqwest::Method::POST,
            "/refresh?account=fake/sandbox/b",
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((a.provider.renewals(), b.provider.renewals()), (0, 1));
    let (status, _, _) = srv
        .call(
            reqwest::Method::POST,
            "/refresh?account=fake/sandbox/zzz",
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = srv
        .call(
            reqwest::Method::POST,
            "/refresh?account=nonsense",
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = srv
        .call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.matches(r#""ok":true"#).count(), 2);
}

/// Checks every line against the Prometheus text format (0.0.4): HELP/TYPE
/// comments, then `name{label="value",...} number` samples of declared
/// metrics. Returns (name with labels, value) pairs.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut declared = std::collections::HashMap::new();
    let mut samples = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name_ok(name), "bad HELP line {line:?}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(
                name_ok(name)
                    && ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE line {line:?}"
            );
            assert!(
                declared
                    .insert(name.to_string(), kind.to_string())
                    .is_none(),
                "TYPE twice for {name}"
            );
        } else {
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "stray line {line:?}"
            );
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let name = series.split('{').next().unwrap();
            assert!(name_ok(name), "bad metric name in {line:?}");
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .unwrap_or_else(|| panic!("bad labels in {line:?}"));
                    for pair in inner.split("\",") {
                        let (k, v) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label in {line:?}"));
                        assert!(name_ok(k), "bad label name in {line:?}");
                        assert!(
                            !v.trim_end_matches('"').contains('"') || v.contains("\\\""),
                            "unescaped quote in {line:?}"
                        );
                    }
                }
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|b| declared.get(*b).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(
                declared.contains_key(base),
                "sample of undeclared metric in {line:?}"
            );
            samples.push((series.to_string(), value));
        }
    }
    samples
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_carry_the_promised_series() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    let mut record = acct.provider.issue(acct.manager.key());
    record.meta.expires_at = Some(clock.now() + chrono::Duration::hours(6));
    record.meta.refresh_expires_at = Some(clock.now() + chrono::Duration::days(15));
    acct.manager.install_authorized(record).await.unwrap();
    let srv = start(vec![acct.erased()], &clock, |_| {}).await;
    srv.call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    acct.provider
        .fail_renewals([Error::transient("503"), Error::rejected("token_rejected")]);
    srv.call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    srv.call(reqwest::Method::POST, "/refresh", Some(TOKEN))
        .await;
    // Failures reach the metrics through the event stream.
    let http = srv.http.clone();
    let url = format!("{}/metrics", srv.base);
    let mut text = String::new();
    for _ in 0..200 {
        let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        text = r.text().await.unwrap();
        if text.contains("kind=\"rejected\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let samples = parse_prometheus(&text);
    let get = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
    };
    let acct_label = "{account=\"fake/sandbox/a\"}";
    assert_eq!(
        get(&format!("broker_tokens_renewals_total{acct_label}")),
        1.0
    );
    assert_eq!(
        get("broker_tokens_renewal_failures_total{account=\"fake/sandbox/a\",kind=\"transient\"}"),
        1.0
    );
    assert_eq!(
        get("broker_tokens_renewal_failures_total{account=\"fake/sandbox/a\",kind=\"rejected\"}"),
        1.0
    );
    assert_eq!(
        get(&format!(
            "broker_tokens_renewal_duration_seconds_count{acct_label}"
        )),
        1.0
    );
    assert_eq!(
        get(&format!("broker_tokens_seconds_to_expiry{acct_label}")),
        6.0 * 3600.0
    );
    assert_eq!(
        get(&format!(
            "broker_tokens_seconds_to_refresh_expiry{acct_label}"
        )),
        15.0 * 86400.0
    );
    assert_eq!(
        get(&format!(
            "broker_tokens_reauthorization_required{acct_label}"
        )),
        1.0
    );
    assert_eq!(
        get(&format!("broker_tokens_account_status{acct_label}")),
        1.0
    );
    // No login window: the person is to log in now.
    assert_eq!(
        get("broker_tokens_next_person_action_timestamp_seconds{account=\"fake/sandbox/a\",remedy=\"log_in\"}"),
        clock.now().timestamp() as f64
    );
    assert_eq!(
        get(&format!("broker_tokens_login_window_missed{acct_label}")),
        0.0
    );
}

#[tokio::test]
async fn no_secret_ever_appears_in_a_response() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let srv = start(vec![acct.erased()], &clock, |c| {
        c.auth_health = false;
        c.auth_metrics = false;
    })
    .await;
    acct.provider
        .fail_renewals([Error::rejected("token_rejected")]);
    let mut all = String::new();
    for (m, p) in [
        (reqwest::Method::POST, "/refresh"),
        (reqwest::Method::GET, "/health"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::POST, "/keepalive"),
    ] {
        let (_, headers, body) = srv.call(m, p, Some(TOKEN)).await;
        all.push_str(&body);
        all.push_str(&format!("{headers:?}"));
    }
    assert!(all.contains("fake/sandbox/a"), "responses were real");
    assert!(!all.contains("tok-0"), "the broker token never appears");
    assert!(!all.contains(TOKEN), "the bearer token never appears");
}

#[tokio::test]
async fn serve_runs_until_shutdown_on_the_given_listener() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(vec![acct.erased()], &cfg, Arc::new(clock.clone())).unwrap();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_err());
}

#[test]
fn the_documented_toml_shape_parses_and_defaults_to_loopback() {
    #[derive(serde::Deserialize)]
    struct File {
        control: ControlConfig,
        notify: control::NotifyConfig,
    }
    let readme = include_str!("../README.md");
    let start = readme.find("```toml").unwrap() + "```toml".len();
    let end = start + readme[start..].find("```").unwrap();
    let file: File = toml::from_str(&readme[start..end]).unwrap();
    assert!(file.control.listen.ip().is_loopback());
    assert_eq!(
        file.control.token,
        SecretSource::Env("BROKER_TOKENS_CONTROL_TOKEN".into())
    );
    let tg = file.notify.telegram.unwrap();
    assert_eq!(tg.base_url, control::config::TELEGRAM_API);
    assert!(tg.reauth);
    assert!(file.notify.webhook.is_some());
    let minimal: ControlConfig =
        toml::from_str("token = { file = \"/run/secrets/control\" }").unwrap();
    assert_eq!(minimal.listen, "127.0.0.1:9184".parse().unwrap());
    assert!(toml::from_str::<ControlConfig>("token = \"inline\"").is_err());
}

#[test]
fn a_missing_token_is_a_clear_error() {
    let cfg = ControlConfig {
        listen: control::config::DEFAULT_LISTEN,
        allow_remote: false,
        token: SecretSource::Env("CONTROL_TEST_UNSET_TOKEN_VAR".into()),
        auth_health: true,
        auth_metrics: true,
        rate_limit: RateLimitConfig::default(),
        public_url: None,
    };
    let clock = start_clock();
    let err = Server::new(vec![], &cfg, Arc::new(clock.clone())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "control.token: environment variable CONTROL_TEST_UNSET_TOKEN_VAR is not set"
    );
    let _ = clock.now();
}

#[tokio::test]
async fn an_open_health_check_never_shows_where_to_log_in() {
    let clock = start_clock();
    let acct = FakeAccount::new("a", &clock);
    acct.manager.maintain().await; // no credentials: a login is started
    let url = acct.manager.health().reauthorization_url;
    assert!(
        url.as_deref().is_some_and(|u| u.contains("authorize")),
        "{url:?}"
    );
    let srv = start(vec![acct.erased()], &clock, |c| c.auth_health = false).await;
    let (status, _, open) = srv.call(reqwest::Method::GET, "/health", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let open: serde_json::Value = serde_json::from_str(&open).unwrap();
    assert_eq!(open["accounts"][0]["reauthorization_required"], true);
    assert_eq!(
        open["accounts"][0]["reauthorization_url"],
        serde_json::Value::Null
    );
    let (_, _, authed) = srv.call(reqwest::Method::GET, "/health", Some(TOKEN)).await;
    let authed: serde_json::Value = serde_json::from_str(&authed).unwrap();
    assert_eq!(
        authed["accounts"][0]["reauthorization_url"].as_str(),
        url.as_deref()
    );
    // The timeline (which holds the same URL) is never open.
    let (status, _, _) = srv.call(reqwest::Method::GET, "/events", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metrics_show_the_last_pre_market_check() {
    use token_core::testing::{utc, FakeProvider};
    let clock = token_core::ManualClock::new(utc(2026, 12, 1, 12, 50));
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let key: token_core::AccountKey = "fake/sandbox/a".parse().unwrap();
    let manager = token_core::TokenManager::builder(key.clone(), provider.clone())
        .clock(Arc::new(clock.clone()))
        .configure(|c| c.check_at = Some("08:00 America/New_York Mon-Fri".parse().unwrap()))
        .build();
    manager
        .install_authorized(provider.issue(&key))
        .await
        .unwrap();
    manager.maintain().await; // plans the check: 08:00 New York = 13:00 UTC
    clock.set(utc(2026, 12, 1, 13, 0));
    manager.maintain().await;
    let accounts: Vec<Arc<dyn ManagedAccount>> = vec![Arc::new(manager)];
    let text = control::metrics::Metrics::new().render(clock.now(), &accounts);
    let at = utc(2026, 12, 1, 13, 0).timestamp();
    assert!(
        text.contains(&format!(
            "broker_tokens_last_check_timestamp_seconds{{account=\"fake/sandbox/a\"}} {at}\n"
        )),
        "{text}"
    );
    assert!(text.contains("broker_tokens_last_check_ok{account=\"fake/sandbox/a\"} 1\n"));
}
