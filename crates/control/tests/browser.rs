//! The page at `/` in a real browser (headless Debian chromium through
//! chromedriver), against the control server with an E*TRADE and a FYERS
//! account on broker-sim, all on loopback and on one manual clock:
//! wrong token refused; sign in; both brokers shown; the simulator moves past
//! midnight New York; the E*TRADE card asks for a person; its login is opened
//! from the page, approved in the simulator and the verifier pasted; the card
//! turns healthy; sign out and the data is gone. Screenshots of the signed-in
//! page at desktop and phone widths go to `target/screenshots/`, and the
//! HTML and JSON the page was served are scanned for every secret the run
//! handled.
//!
//! Redirect capture: a FYERS account whose redirect URI is the control
//! server's own `/callback/...` logs in from the page with nothing pasted;
//! the broker's redirect lands on the callback in the browser and the card
//! turns healthy by itself; a second visit to the callback changes nothing.

mod common;
mod webdriver;

use std::path::PathBuf;
use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use token_core::{ManagedAccount, ManualClock};

use common::{control_config, query};
use tokio::net::TcpListener;
use webdriver::Driver;

const TOKEN: &str = "ctl-S3cr3t-Qw7Zp-4be1d09a7c35f28e6b1d0c9a";
const ETRADE: &str = "etrade/sandbox/main";
const FYERS: &str = "fyers/production/main";

/// Secrets to look for, and what the page was served.
#[derive(Default)]
struct Scan {
    secrets: Vec<(&'static str, String)>,
    served: Vec<(String, String)>,
}

impl Scan {
    fn secret(&mut self, what: &'static str, value: &str) {
        assert!(value.len() >= 5, "{what} too short to scan for");
        self.secrets.push((what, value.to_string()));
    }
    fn check(&self) {
        assert!(self.served.len() >= 8, "scanned what was served");
        let real = self
            .served
            .iter()
            .filter(|(_, t)| t.contains(ETRADE))
            .count();
        assert!(real >= 4, "the scanned answers carried account data");
        assert!(contains("code: H92GX.", "H92GX") && !contains("xH92GX", "H92GX"));
        for (place, text) in &self.served {
            for (what, secret) in &self.secrets {
                assert!(
                    !contains(text, secret),
                    "{what} leaked into {place}:\n{text}"
                );
            }
        }
    }
}

/// Whether `text` holds `secret`; a short one (an E*TRADE verifier is 5
/// characters) only as a whole word, so that it cannot match by chance
/// inside the page's own code.
fn contains(text: &str, secret: &str) -> bool {
    if secret.len() >= 12 {
        return text.contains(secret);
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(secret).any(|(i, _)| {
        !alnum(text[..i].chars().next_back()) && !alnum(text[i + secret.len()..].chars().next())
    })
}

/// Lists visible elements whose own text has a contrast ratio under 4.5
/// against the nearest opaque background.
const CONTRAST: &str = r#"
const lum = (c) => {
  const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = (e) => {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    const m = c.match(/[\d.]+/g);
    if (m && (m.length < 4 || Number(m[3]) > 0)) return c;
  }
  return 'rgb(255, 255, 255)';
};
const low = [];
let checked = 0;
for (const e of document.querySelectorAll('body *')) {
  if (!e.getClientRects().length) continue;
  if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  checked++;
  const a = lum(getComputedStyle(e).color), b = lum(background(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(e.tagName + '.' + e.className + ' ' + ratio.toFixed(2));
}
if (checked < 30) low.push('only ' + checked + ' texts checked');
return low;
"#;

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

fn card(key: &str) -> String {
    format!(r#"article[data-account="{key}"]"#)
}

fn status_is(key: &str, status: &str) -> String {
    format!(
        r#"document.querySelector('{}')?.dataset.status === '{status}'"#,
        card(key)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_sees_both_brokers_logs_etrade_in_after_midnight_and_signs_out() {
    let Some((chromedriver, chromium)) = webdriver::binaries() else {
        return;
    };
    // Thursday 2026-03-05 20:00 New York (Friday 06:30 Kolkata).
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 1, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .unwrap();
    let c = running.credentials();
    let mut scan = Scan::default();
    scan.secret("control token", TOKEN);
    scan.secret("E*TRADE consumer secret", &c.etrade_consumer_secret);
    scan.secret("FYERS secret key", &c.fyers_secret_key);
    scan.secret("FYERS PIN", &c.fyers_pin);

    // The control server, as `tokenctl run --listen` builds it.
    let et = common::etrade_manager(&running, &clock);
    let fy = common::fyers_manager(&running, &clock);
    let accounts: Vec<Arc<dyn ManagedAccount>> = vec![Arc::new(et.clone()), Arc::new(fy.clone())];
    let dir = tempfile::tempdir().unwrap();
    let server = control::Server::new(
        accounts.clone(),
        &control_config(dir.path(), TOKEN),
        Arc::new(clock.clone()),
    )
    .unwrap()
    .with_zones([
        (et.key().clone(), "America/New_York".to_string()),
        (fy.key().clone(), "Asia/Kolkata".to_string()),
    ]);
    let _background = server.start();
    // Both accounts logged in, as a person did earlier (the server sees it).
    let url = et.begin_authorization().await.unwrap().url;
    let verifier = running.sim.approve_etrade(&query(&url, "token")).unwrap();
    et.complete_authorization(&SecretString::from(verifier))
        .await
        .unwrap();
    let url = fy.begin_authorization().await.unwrap().url;
    let redirect = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &query(&url, "state"),
        )
        .unwrap();
    scan.secret("FYERS auth code", &query(&redirect, "auth_code"));
    fy.complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    let record = et.token().unwrap();
    scan.secret(
        "E*TRADE access token",
        record.payload.oauth_token.expose_secret(),
    );
    scan.secret(
        "E*TRADE token secret",
        record.payload.oauth_token_secret.expose_secret(),
    );
    let fyers_creds = fy.token().unwrap().payload.clone();
    scan.secret(
        "FYERS access token",
        fyers_creds.access_token.expose_secret(),
    );
    if let Some(r) = &fyers_creds.refresh_token {
        scan.secret("FYERS refresh token", r.expose_secret());
    }

    let addr = common::serve(server.router()).await;
    let base = format!("http://{addr}");

    let driver = Driver::start(&chromedriver, &chromium).await;
    driver.goto(&format!("{base}/")).await;
    driver
        .wait_for(
            "the sign-in form",
            "!document.getElementById('signin').hidden",
        )
        .await;

    // A wrong token is refused and shows nothing.
    driver
        .type_into("#token", "ctl-wrong-Zq81-guess-0000000000000000")
        .await;
    driver.click("#signin-button").await;
    driver
        .wait_for(
            "the refusal",
            "document.getElementById('signin-error').textContent.includes('Wrong')",
        )
        .await;
    assert_eq!(
        driver
            .js("return document.querySelectorAll('article.card').length")
            .await,
        0
    );

    // Sign in: both brokers, healthy, with their timelines.
    driver.type_into("#token", TOKEN).await;
    driver.click("#signin-button").await;
    for key in [ETRADE, FYERS] {
        driver.wait_for(key, &status_is(key, "healthy")).await;
    }
    // Everything after this happens without a reload: the marker stays.
    driver.js("window.notReloaded = true; return null").await;
    let cookie = driver.js("return document.cookie").await;
    assert_eq!(
        cookie, "",
        "the session cookie is HttpOnly: scripts cannot read it"
    );
    driver
        .wait_for(
            "the E*TRADE login in the timeline",
            &format!(
                r#"document.querySelector('{} li[data-event="authorized"]')"#,
                card(ETRADE)
            ),
        )
        .await;
    let time = driver
        .text(&format!(
            r#"{} li[data-event="authorized"] time"#,
            card(ETRADE)
        ))
        .await;
    assert!(
        time.contains("20:00") && time.contains("01:00 UTC"),
        "New York and UTC: {time}"
    );
    let time = driver
        .text(&format!(
            r#"{} li[data-event="authorized"] time"#,
            card(FYERS)
        ))
        .await;
    assert!(
        time.contains("06:30") && time.contains("01:00 UTC"),
        "Kolkata and UTC: {time}"
    );
    scan.served
        .push(("page, signed in".into(), driver.source().await));

    // Past midnight New York: E*TRADE tokens die; the card asks for a person.
    clock.set(Utc.with_ymd_and_hms(2026, 3, 6, 5, 5, 0).unwrap());
    et.maintain().await;
    driver
        .wait_for("E*TRADE critical", &status_is(ETRADE, "critical"))
        .await;
    let person = driver
        .text(&format!(r#"{} [data-field="person"]"#, card(ETRADE)))
        .await;
    assert!(person.starts_with("A person must log in"), "{person}");
    assert_eq!(
        driver
            .js(&format!(
                "return document.querySelector('{}').dataset.status",
                card(FYERS)
            ))
            .await,
        "healthy",
        "FYERS is untouched"
    );

    // Readable contrast: every visible text at least 4.5:1 (WCAG AA) on
    // its background, in the state with the most colours on screen.
    let low = driver.js(CONTRAST).await;
    assert_eq!(low, json!([]), "text below 4.5:1");

    // Log in from the page.
    driver
        .click(&format!("{} button.primary", card(ETRADE)))
        .await;
    let link = format!("{} .login a.open", card(ETRADE));
    driver
        .wait_for(
            "the login link",
            &format!("document.querySelector('{link}')"),
        )
        .await;
    let login_url = driver.attribute(&link, "href").await.unwrap();
    assert_eq!(
        driver.attribute(&link, "target").await.as_deref(),
        Some("_blank")
    );
    let label = driver
        .text(&format!(
            r#"{} .login label[for="code-etrade-sandbox-main"]"#,
            card(ETRADE)
        ))
        .await;
    assert!(label.contains("verifier"), "a labelled field: {label}");
    let shots = screenshot_dir();
    driver
        .screenshot(&shots.join("page-desktop-login.png"))
        .await;
    driver.resize(390, 844).await;
    let fits = driver
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "no sideways scrolling at phone width");
    driver.screenshot(&shots.join("page-phone-login.png")).await;
    driver.resize(1280, 900).await;
    scan.served
        .push(("page, login open".into(), driver.source().await));

    let verifier = running
        .sim
        .approve_etrade(&query(&login_url, "token"))
        .unwrap();
    scan.secret("E*TRADE verifier", &verifier);
    driver
        .type_into("#code-etrade-sandbox-main", &verifier)
        .await;
    driver
        .click(&format!("{} .login button[type=submit]", card(ETRADE)))
        .await;
    driver
        .wait_for("E*TRADE healthy again", &status_is(ETRADE, "healthy"))
        .await;
    assert!(et.token().is_ok(), "the account really has a token");
    let fresh = et.token().unwrap();
    scan.secret(
        "new E*TRADE access token",
        fresh.payload.oauth_token.expose_secret(),
    );
    scan.secret(
        "new E*TRADE token secret",
        fresh.payload.oauth_token_secret.expose_secret(),
    );
    driver
        .wait_for(
            "the new login in the timeline",
            &format!(
                r#"document.querySelectorAll('{} li[data-event="authorized"]').length === 2"#,
                card(ETRADE)
            ),
        )
        .await;
    driver.js("window.scrollTo(0, 0); return null").await;
    driver.screenshot(&shots.join("page-desktop.png")).await;
    driver.resize(390, 844).await;
    driver.screenshot(&shots.join("page-phone.png")).await;
    driver.resize(1280, 900).await;
    scan.served
        .push(("page, healthy".into(), driver.source().await));

    // Everything the page is served, as it is served (with the session).
    let session_cookie = {
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/session"))
            .header("origin", &base)
            .json(&json!({ "token": TOKEN }))
            .send()
            .await
            .unwrap();
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        scan.served
            .push(("POST /session".into(), r.text().await.unwrap()));
        set.split(';').next().unwrap().to_string()
    };
    for path in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/health",
        "/events",
        "/session",
    ] {
        let r = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("cookie", &session_cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        scan.served
            .push((format!("GET {path}"), r.text().await.unwrap()));
    }

    assert_eq!(
        driver.js("return window.notReloaded === true").await,
        true,
        "live updates, no reload"
    );

    // Sign out: the data is gone from the page and from the server's answers.
    driver.click("#sign-out").await;
    driver
        .wait_for(
            "the sign-in form",
            "!document.getElementById('signin').hidden",
        )
        .await;
    let html = driver.source().await;
    assert!(!html.contains(ETRADE) && !html.contains(FYERS), "{html}");
    let status = driver
        .js("return fetch('/health').then((r) => r.status)")
        .await;
    assert_eq!(status, 401, "the session is over on the server too");
    scan.served.push(("page, signed out".into(), html));
    driver.quit().await;
    scan.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fyers_login_from_the_page_completes_by_redirect_capture_with_nothing_pasted() {
    let Some((chromedriver, chromium)) = webdriver::binaries() else {
        return;
    };
    // Monday 2026-03-02 10:00 Kolkata.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    // The control server's address first: the FYERS app's registered
    // redirect URI is its callback for the account.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{base}/callback/{FYERS}");
    let config = SimConfig {
        fyers_redirect_uri: callback.clone(),
        ..SimConfig::default()
    };
    let running = BrokerSim::start_with_manual_clock(config, clock.clone())
        .await
        .unwrap();
    // No token yet: the card needs a person.
    let fy = common::fyers_manager(&running, &clock);
    let accounts: Vec<Arc<dyn ManagedAccount>> = vec![Arc::new(fy.clone())];
    let dir = tempfile::tempdir().unwrap();
    let mut control = control_config(dir.path(), TOKEN);
    control.public_url = Some(base.clone());
    let server = control::Server::new(accounts, &control, Arc::new(clock.clone()))
        .unwrap()
        .with_zones([(fy.key().clone(), "Asia/Kolkata".to_string())]);
    let _background = server.start();
    common::serve_on(listener, server.router());

    let driver = Driver::start(&chromedriver, &chromium).await;
    driver.goto(&format!("{base}/")).await;
    driver
        .wait_for(
            "the sign-in form",
            "!document.getElementById('signin').hidden",
        )
        .await;
    driver.type_into("#token", TOKEN).await;
    driver.click("#signin-button").await;
    driver
        .wait_for("FYERS critical", &status_is(FYERS, "critical"))
        .await;
    let person = driver
        .text(&format!(r#"{} [data-field="person"]"#, card(FYERS)))
        .await;
    assert!(person.starts_with("A person must log in"), "{person}");
    let dashboard = driver.window().await;

    // Log in from the page: the page asks for nothing.
    driver
        .click(&format!("{} button.primary", card(FYERS)))
        .await;
    let link = format!("{} .login a.open", card(FYERS));
    driver
        .wait_for(
            "the login link",
            &format!("document.querySelector('{link}')"),
        )
        .await;
    let told = driver
        .text(&format!("{} .login .captured", card(FYERS)))
        .await;
    assert_eq!(told, "Log in at the broker; this page updates by itself.");
    let form = format!("{} .login form", card(FYERS));
    let hidden = format!("document.querySelector('{form}').hidden");
    assert_eq!(driver.js(&format!("return {hidden}")).await, true);
    assert_eq!(
        driver
            .js(&format!(
                "return document.querySelector('{form}').getClientRects().length"
            ))
            .await,
        0,
        "no paste field on screen"
    );
    let paste = format!("{} .login button.paste-instead", card(FYERS));
    assert_eq!(driver.text(&paste).await, "Paste instead");
    let login_url = driver.attribute(&link, "href").await.unwrap();
    assert_eq!(query(&login_url, "redirect_uri"), callback);
    driver
        .screenshot(&screenshot_dir().join("page-capture.png"))
        .await;
    // The paste field is still there, one click away.
    driver.click(&paste).await;
    assert_eq!(driver.js(&format!("return {hidden}")).await, false);
    let label = driver
        .text(&format!(
            r#"{} .login label[for="code-fyers-production-main"]"#,
            card(FYERS)
        ))
        .await;
    assert!(label.contains("full address"), "a labelled field: {label}");

    // Follow the broker's URL as a person does (a new tab): the simulated
    // broker approves at once and redirects the browser to the callback.
    driver.click(&link).await;
    let mut broker_tab = None;
    for _ in 0..100 {
        broker_tab = driver.windows().await.into_iter().find(|w| *w != dashboard);
        if broker_tab.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let broker_tab = broker_tab.expect("the login link opens a tab");

    // The dashboard updates by itself: healthy, nothing typed anywhere.
    driver
        .wait_for("FYERS healthy", &status_is(FYERS, "healthy"))
        .await;
    driver
        .wait_for(
            "the page says so",
            &format!(
                "document.querySelector('{} .login').textContent === 'Logged in.'",
                card(FYERS)
            ),
        )
        .await;
    assert!(fy.token().is_ok(), "the account really has a token");
    assert_eq!(running.sim.calls(Endpoint::FyersValidateAuthcode), 1);
    assert_eq!(
        driver
            .js(&format!(
                r#"return document.querySelectorAll('{} li[data-event="authorized"]').length"#,
                card(FYERS)
            ))
            .await,
        json!(1)
    );
    driver
        .screenshot(&screenshot_dir().join("page-capture-healthy.png"))
        .await;

    // The broker tab ended on this server's callback, by the broker's redirect.
    driver.switch_to(&broker_tab).await;
    driver
        .wait_for(
            "the callback page",
            "document.querySelector('h1')?.textContent === 'Logged in'",
        )
        .await;
    let landed = driver.js("return location.href").await;
    let landed = landed.as_str().unwrap().to_string();
    // Neither page shows a secret the login handled.
    let callback_page = driver.source().await;
    driver.switch_to(&dashboard).await;
    let dashboard_page = driver.source().await;
    driver.switch_to(&broker_tab).await;
    let c = running.credentials();
    let token = fy.token().unwrap().payload.clone();
    let mut secrets = vec![
        ("FYERS secret key", c.fyers_secret_key.clone()),
        ("FYERS PIN", c.fyers_pin.clone()),
        ("FYERS auth code", query(&landed, "auth_code")),
        (
            "FYERS access token",
            token.access_token.expose_secret().to_string(),
        ),
    ];
    if let Some(r) = &token.refresh_token {
        secrets.push(("FYERS refresh token", r.expose_secret().to_string()));
    }
    for (what, secret) in &secrets {
        for (place, page) in [("callback", &callback_page), ("dashboard", &dashboard_page)] {
            assert!(!contains(page, secret), "{what} on the {place} page");
        }
    }
    assert!(dashboard_page.contains(FYERS) && callback_page.contains("Logged in"));
    assert!(
        landed.starts_with(&format!("{callback}?")),
        "the browser is on the callback: {landed}"
    );
    assert_eq!(query(&landed, "state"), query(&login_url, "state"));

    // A second visit to the same callback URL changes nothing.
    let before = fy.current().unwrap();
    driver.goto(&landed).await;
    driver
        .wait_for(
            "the refusal",
            "document.querySelector('h1')?.textContent === 'No login in progress'",
        )
        .await;
    let again = reqwest::get(&landed).await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(Arc::ptr_eq(&before, &fy.current().unwrap()));
    assert_eq!(running.sim.calls(Endpoint::FyersValidateAuthcode), 1);
    driver.switch_to(&dashboard).await;
    assert_eq!(
        driver
            .js(&format!(
                "return document.querySelector('{}').dataset.status",
                card(FYERS)
            ))
            .await,
        "healthy"
    );
    driver.quit().await;
}
