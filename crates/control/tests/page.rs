//! The page at `/` and its session over real HTTP on loopback: sign-in with
//! the control token, the session cookie as an alternative to the bearer
//! token, CSRF (header + origin) on every write, sign-out, the event feed.
//! The browser itself is driven in `browser.rs`.

mod common;

use std::sync::Arc;

use common::*;
use control::{ControlConfig, RateLimitConfig, RouteLimits, Server};
use reqwest::header::{HeaderMap, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use token_core::ManagedAccount;

const TOKEN: &str = "ctl-S3cr3t-Qw7Zp-9c41e0b7d25a8f36e1c4b9a0d7f2";

struct Page {
    base: String,
    origin: String,
    http: reqwest::Client,
    _background: control::Background,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A signed-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn start(accounts: Vec<Arc<dyn ManagedAccount>>, clock: &token_core::ManualClock) -> Page {
    start_with(accounts, clock, RouteLimits::default()).await
}

/// Budgets large enough for a test that sends many refused requests.
fn generous() -> RouteLimits {
    let rl = |n| RateLimitConfig {
        burst: n,
        per_minute: n,
    };
    RouteLimits {
        failures_per_source: rl(100),
        failures_total: rl(100),
        ..RouteLimits::default()
    }
}

async fn start_with(
    accounts: Vec<Arc<dyn ManagedAccount>>,
    clock: &token_core::ManualClock,
    limits: RouteLimits,
) -> Page {
    let dir = tempfile::tempdir().unwrap();
    let cfg: ControlConfig = control_config(dir.path(), TOKEN);
    let zones = accounts
        .iter()
        .map(|a| (a.key().clone(), "America/New_York".to_string()));
    let server = Server::new(accounts.clone(), &cfg, Arc::new(clock.clone()))
        .unwrap()
        .with_route_limits(limits)
        .with_zones(zones);
    let background = server.start();
    let addr = serve(server.router()).await;
    Page {
        base: format!("http://{addr}"),
        origin: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _background: background,
        _dir: dir,
    }
}

impl Page {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.unwrap();
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    async fn sign_in(&self, token: &str, origin: &str) -> Reply {
        let body = serde_json::json!({ "token": token }).to_string();
        self.send(
            Method::POST,
            "/session",
            &[("content-type", "application/json"), ("origin", origin)],
            Some(body),
        )
        .await
    }

    async fn signed_in(&self) -> Browser {
        let r = self.sign_in(TOKEN, &self.origin).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let set = r.headers[SET_COOKIE].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        Browser {
            cookie,
            csrf: r.json()["csrf"].as_str().unwrap().to_string(),
        }
    }

    /// A write as the page makes it (cookie, CSRF header, own origin).
    async fn write(&self, b: &Browser, path: &str) -> Reply {
        self.send(
            Method::POST,
            path,
            &[
                (COOKIE.as_str(), &b.cookie),
                ("x-csrf-token", &b.csrf),
                (ORIGIN.as_str(), &self.origin),
            ],
            None,
        )
        .await
    }

    async fn read(&self, b: &Browser, path: &str) -> Reply {
        self.send(Method::GET, path, &[(COOKIE.as_str(), &b.cookie)], None)
            .await
    }
}

#[tokio::test]
async fn the_page_is_served_to_anyone_but_holds_no_account_data() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start(vec![acct.erased()], &clock).await;
    let r = page.send(Method::GET, "/", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .body
        .contains(r#"<label for="token">Control token</label>"#));
    assert!(
        !r.body.contains("fake/sandbox/a"),
        "no account on the page itself"
    );
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers["x-frame-options"], "DENY");
    for asset in ["/assets/app.js", "/assets/app.css"] {
        let r = page.send(Method::GET, asset, &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(
            !r.body.contains("http://") && !r.body.contains("https://"),
            "no CDN in {asset}"
        );
    }
    let missing = page.send(Method::GET, "/assets/other.js", &[], None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // Without a session: no health, no events, and GET /session says so.
    for path in ["/health", "/events"] {
        let r = page.send(Method::GET, path, &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!r.body.contains("fake/sandbox/a"), "{path}: {}", r.body);
    }
    let r = page.send(Method::GET, "/session", &[], None).await;
    assert_eq!(r.json(), serde_json::json!({"signed_in": false}));
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_counts_against_the_api_failure_limit() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start(vec![acct.erased()], &clock).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = page
            .sign_in("ctl-wrong-guess-Zq81-0000000000000000", &page.origin)
            .await;
        assert!(!r.headers.contains_key(SET_COOKIE));
        codes.push(r.status.as_u16());
    }
    assert_eq!(
        codes,
        [401, 401, 401, 401, 401, 429],
        "5 failures a source, as the API"
    );
    // The API's own failures come from the same budget.
    let r = page
        .send(
            Method::POST,
            "/refresh",
            &[("authorization", "Bearer nope")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The right token is still let in (its own budget).
    let b = page.signed_in().await;
    assert_eq!(b.csrf.len(), 64);
    // Not JSON: a clear 400, no session.
    let r = page
        .send(
            Method::POST,
            "/session",
            &[("origin", &page.origin)],
            Some(format!("token={TOKEN}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"].as_str().unwrap().contains("send JSON"));
}

#[tokio::test]
async fn the_session_cookie_is_httponly_strict_and_works_where_the_bearer_token_does() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start(vec![acct.erased()], &clock).await;
    let r = page.sign_in(TOKEN, &page.origin).await;
    let set = r.headers[SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("bt_session="), "{set}");
    assert!(
        set.contains("HttpOnly; SameSite=Strict; Path=/; Max-Age="),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain-HTTP loopback");
    let proxied = page
        .send(
            Method::POST,
            "/session",
            &[("origin", &page.origin), ("x-forwarded-proto", "https")],
            Some(serde_json::json!({ "token": TOKEN }).to_string()),
        )
        .await;
    assert!(proxied.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .ends_with("; Secure"));

    let b = page.signed_in().await;
    let health = page.read(&b, "/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["accounts"][0]["key"]["label"], "a");
    let again = page.read(&b, "/session").await.json();
    assert_eq!(
        again["csrf"].as_str(),
        Some(b.csrf.as_str()),
        "a reload gets its CSRF token"
    );
    let before = acct.provider.renewals();
    let r = page.write(&b, "/refresh?account=fake/sandbox/a").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(acct.provider.renewals(), before + 1);
    let r = page.write(&b, "/keepalive?account=fake/sandbox/a").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_forged_cross_site_request_or_one_without_the_session_changes_nothing() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start_with(vec![acct.erased()], &clock, generous()).await;
    let b = page.signed_in().await;
    let before = (
        acct.provider.renewals(),
        acct.provider.probes(),
        acct.provider.authorizations(),
    );
    let evil = "https://evil.example";
    let forged: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // A cross-site HTML form: the cookie (if a browser sent it), no header.
        (
            "form",
            vec![
                (COOKIE.as_str(), &b.cookie),
                ("origin", evil),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        ),
        // The right CSRF token (leaked somehow) from another origin.
        (
            "origin",
            vec![
                (COOKIE.as_str(), &b.cookie),
                ("x-csrf-token", &b.csrf),
                ("origin", evil),
            ],
        ),
        // Same origin but no CSRF header.
        (
            "no header",
            vec![(COOKIE.as_str(), &b.cookie), ("origin", &page.origin)],
        ),
        // A wrong CSRF header.
        (
            "wrong header",
            vec![
                (COOKIE.as_str(), &b.cookie),
                ("origin", &page.origin),
                ("x-csrf-token", "0000"),
            ],
        ),
        // No Origin at all.
        (
            "no origin",
            vec![(COOKIE.as_str(), &b.cookie), ("x-csrf-token", &b.csrf)],
        ),
        // The browser says it is cross-site.
        (
            "sec-fetch-site",
            vec![
                (COOKIE.as_str(), &b.cookie),
                ("x-csrf-token", &b.csrf),
                ("origin", &page.origin),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
    ];
    for (what, headers) in &forged {
        for path in [
            "/refresh",
            "/keepalive",
            "/session/end",
            "/login/fake/sandbox/a",
            "/login/fake/sandbox/a/complete",
        ] {
            let r = page
                .send(Method::POST, path, headers, Some("x=1".into()))
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{what} {path}: {}", r.body);
        }
    }
    // No session at all.
    for path in ["/refresh", "/keepalive"] {
        let r = page
            .send(Method::POST, path, &[("origin", &page.origin)], None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let after = (
        acct.provider.renewals(),
        acct.provider.probes(),
        acct.provider.authorizations(),
    );
    assert_eq!(after, before, "nothing changed");
    // A sign-in posted from another site is refused too.
    assert_eq!(
        page.sign_in(TOKEN, evil).await.status,
        StatusCode::FORBIDDEN
    );
    // The session survived all of it.
    assert_eq!(page.read(&b, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_the_data_is_gone() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start(vec![acct.erased()], &clock).await;
    let b = page.signed_in().await;
    let other = page.signed_in().await;
    let r = page.write(&b, "/session/end").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    for path in ["/health", "/events"] {
        let r = page.read(&b, path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(!r.body.contains("fake/sandbox/a"));
    }
    assert_eq!(
        page.write(&b, "/refresh").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        page.read(&other, "/health").await.status,
        StatusCode::OK,
        "others stay"
    );
    // Sessions expire on the server's clock.
    clock.advance(chrono::Duration::hours(12));
    assert_eq!(
        page.read(&other, "/health").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn events_of_the_last_day_are_served_with_the_exchange_zone() {
    let clock = start_clock();
    let acct = FakeAccount::logged_in("a", &clock).await;
    let page = start(vec![acct.erased()], &clock).await;
    let b = page.signed_in().await;
    assert_eq!(page.write(&b, "/keepalive").await.status, StatusCode::OK);
    assert_eq!(page.write(&b, "/refresh").await.status, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let feed = loop {
        let feed = page.read(&b, "/events").await.json();
        if feed["accounts"][0]["events"].as_array().map_or(0, Vec::len) >= 2 {
            break feed;
        }
        assert!(tokio::time::Instant::now() < deadline, "no events: {feed}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let t = &feed["accounts"][0];
    assert_eq!(t["account"], "fake/sandbox/a");
    assert_eq!(t["zone"], "America/New_York");
    let names: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keep_alive_sent", "renewed"]);
    // A day later they have left the timeline.
    clock.advance(chrono::Duration::hours(13));
    let b = page.signed_in().await;
    clock.advance(chrono::Duration::hours(11) + chrono::Duration::seconds(1));
    let feed = page.read(&b, "/events").await.json();
    assert_eq!(feed["accounts"][0]["events"], serde_json::json!([]));
}
