//! FYERS protocol and token lifetimes, over HTTP.

mod common;

use base64::Engine as _;
use broker_sim::config::DEMO_FYERS_PIN;
use broker_sim::{jwt, Endpoint, Fault, FyersAnswer, RateLimit, RunningSim, SimConfig, Times};
use chrono::{Duration, TimeZone, Utc};
use common::*;
use serde_json::{json, Value};

fn hash(c: &broker_sim::DemoCredentials) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{}:{}", c.fyers_client_id, c.fyers_secret_key));
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn post(running: &RunningSim, path: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}{}", running.fyers_base_url(), path))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn auth_code(running: &RunningSim) -> String {
    let c = running.credentials();
    let url = running
        .sim
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, "st")
        .unwrap();
    let u = url::Url::parse(&url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == "auth_code")
        .unwrap()
        .1
        .into_owned()
}

async fn exchange(running: &RunningSim, code: &str) -> (u16, Value) {
    let c = running.credentials();
    post(
        running,
        "/validate-authcode",
        json!({"grant_type":"authorization_code","appIdHash":hash(&c),"code":code}),
    )
    .await
}

async fn refresh(running: &RunningSim, refresh_token: &str, pin: &str) -> (u16, Value) {
    let c = running.credentials();
    post(
        running,
        "/validate-refresh-token",
        json!({"grant_type":"refresh_token","appIdHash":hash(&c),"refresh_token":refresh_token,"pin":pin}),
    )
    .await
}

async fn profile(running: &RunningSim, access: &str) -> (u16, Value) {
    let c = running.credentials();
    let r = http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .header("Authorization", format!("{}:{}", c.fyers_client_id, access))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn login(running: &RunningSim) -> (String, String) {
    let code = auth_code(running).await;
    let (status, v) = exchange(running, &code).await;
    assert_eq!(status, 200, "{v}");
    (
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn browser_login_redirects_with_auth_code_and_tokens_are_real_jwts() {
    let (running, _clock) = start().await;
    let c = running.credentials();
    let r = http()
        .get(format!("{}/generate-authcode", running.fyers_base_url()))
        .query(&[
            ("client_id", c.fyers_client_id.as_str()),
            ("redirect_uri", c.fyers_redirect_uri.as_str()),
            ("response_type", "code"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(&c.fyers_redirect_uri));
    let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(
        (q["s"].as_str(), q["code"].as_str(), q["state"].as_str()),
        ("ok", "200", "xyz")
    );
    let (status, v) = exchange(&running, &q["auth_code"]).await;
    assert_eq!(status, 200);
    assert_eq!(
        (v["s"].as_str(), v["code"].as_i64(), v["message"].as_str()),
        (Some("ok"), Some(200), Some(""))
    );
    let access = v["access_token"].as_str().unwrap();
    let key = SimConfig::default().fyers_jwt_key;
    let a = jwt::decode(access, key.as_bytes()).unwrap();
    assert_eq!(a["sub"], "access_token");
    assert_eq!(a["fy_id"], "XS00001");
    assert_eq!(a["iat"], a["nbf"]);
    // Issued 20:00 IST on 6 March: expires 06:00 IST on 7 March.
    assert_eq!(
        a["exp"].as_i64().unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0)
            .unwrap()
            .timestamp()
    );
    let rt = claims(v["refresh_token"].as_str().unwrap());
    assert_eq!(rt["sub"], "refresh_token");
    assert_eq!(
        rt["exp"].as_i64().unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 21, 0, 30, 0)
            .unwrap()
            .timestamp()
    );
    let (status, p) = profile(&running, access).await;
    assert_eq!(status, 200);
    assert_eq!(p["data"]["fy_id"], "XS00001");
}

#[tokio::test]
async fn generate_authcode_validates_client_id_and_exact_redirect_uri() {
    let (running, _clock) = start().await;
    let c = running.credentials();
    let get = |client: &str, redirect: &str| {
        let url = format!("{}/generate-authcode", running.fyers_base_url());
        let q = vec![
            ("client_id".to_owned(), client.to_owned()),
            ("redirect_uri".to_owned(), redirect.to_owned()),
            ("response_type".to_owned(), "code".to_owned()),
            ("state".to_owned(), "s1".to_owned()),
        ];
        async move { http().get(url).query(&q).send().await.unwrap() }
    };
    let r = get(&c.fyers_client_id, &format!("{}/", c.fyers_redirect_uri)).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["s"], "error");
    let r = get("WRONG-100", &c.fyers_redirect_uri).await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.contains("s=error") && loc.contains("code=-352") && loc.contains("state=s1"),
        "{loc}"
    );
    assert!(running
        .sim
        .approve_fyers("WRONG-100", &c.fyers_redirect_uri, "")
        .is_err());
    assert!(running
        .sim
        .approve_fyers(&c.fyers_client_id, "http://evil/", "")
        .is_err());
}

#[tokio::test]
async fn validate_authcode_checks_grant_hash_presence_single_use_and_expiry() {
    let (running, clock) = start().await;
    let c = running.credentials();
    let code = auth_code(&running).await;
    let call = |body: Value| post(&running, "/validate-authcode", body);
    let (s, v) = call(json!({"grant_type":"password","appIdHash":hash(&c),"code":code})).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-441)));
    let (s, v) =
        call(json!({"grant_type":"authorization_code","appIdHash":"00","code":code})).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-371)));
    let (_, v) = call(json!({"grant_type":"authorization_code","code":code})).await;
    assert_eq!(v["code"], -371);
    let (_, v) = call(json!({"grant_type":"authorization_code","appIdHash":hash(&c)})).await;
    assert_eq!(v["code"], -374);
    let (_, v) =
        call(json!({"grant_type":"authorization_code","appIdHash":hash(&c),"code":"not.a.jwt"}))
            .await;
    assert_eq!(v["code"], -437);
    // Not JSON at all: still the broker's shape.
    let r = http()
        .post(format!("{}/validate-authcode", running.fyers_base_url()))
        .body("{{{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["s"].as_str(), v["code"].as_i64()),
        (Some("error"), Some(-441))
    );
    // First use works, second does not.
    assert_eq!(exchange(&running, &code).await.0, 200);
    let (s, v) = exchange(&running, &code).await;
    assert_eq!(
        (s, v["code"].as_i64(), v["s"].as_str()),
        (400, Some(-437), Some("error"))
    );
    // Expiry after 8 hours.
    let code = auth_code(&running).await;
    clock.advance(Duration::hours(8));
    assert_eq!(exchange(&running, &code).await.1["code"], -437);
}

#[tokio::test]
async fn refresh_checks_pin_and_the_refresh_token_expires_at_0600_ist_after_15_days() {
    let (running, clock) = start().await;
    let (_, rt) = login(&running).await;
    let (s, v) = refresh(&running, &rt, "0000").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-16)));
    let (s, v) = refresh(&running, &rt, DEMO_FYERS_PIN).await;
    assert_eq!(s, 200);
    assert!(v.get("refresh_token").is_none(), "no rotation by default");
    let access = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(profile(&running, &access).await.0, 200);
    let (_, v) = refresh(&running, "garbage", DEMO_FYERS_PIN).await;
    assert_eq!(v["code"], -501);
    let c = running.credentials();
    let (_, v) = post(
        &running,
        "/validate-refresh-token",
        json!({"grant_type":"refresh_token","appIdHash":"x","refresh_token":rt,"pin":DEMO_FYERS_PIN}),
    )
    .await;
    assert_eq!(v["code"], -371);
    let _ = c;
    // 06:00 IST on 21 March = 00:30 UTC.
    clock.set(Utc.with_ymd_and_hms(2026, 3, 21, 0, 29, 59).unwrap());
    assert_eq!(refresh(&running, &rt, DEMO_FYERS_PIN).await.0, 200);
    clock.set(Utc.with_ymd_and_hms(2026, 3, 21, 0, 30, 0).unwrap());
    let (s, v) = refresh(&running, &rt, DEMO_FYERS_PIN).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(-501)));
}

#[tokio::test]
async fn access_tokens_die_at_0600_ist_and_on_logout() {
    let (running, clock) = start().await;
    let (access, _) = login(&running).await;
    clock.set(Utc.with_ymd_and_hms(2026, 3, 7, 0, 29, 59).unwrap());
    assert_eq!(profile(&running, &access).await.0, 200);
    clock.set(Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap());
    let (s, v) = profile(&running, &access).await;
    assert_eq!(
        (s, v["code"].as_i64(), v["message"].as_str()),
        (401, Some(-16), Some("Could not authenticate the user"))
    );

    let (access, _) = login(&running).await;
    let c = running.credentials();
    let r = http()
        .post(format!("{}/logout", running.fyers_base_url()))
        .header("Authorization", format!("{}:{}", c.fyers_client_id, access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(profile(&running, &access).await.1["code"], -16);
    // Malformed or missing Authorization.
    assert_eq!(profile(&running, "not-a-jwt").await.1["code"], -15);
    let r = http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(running.sim.calls(Endpoint::FyersProfile), 5);
}

#[tokio::test]
async fn rotation_mode_replaces_the_refresh_token() {
    let (running, _clock) = start().await;
    running.sim.set_fyers_rotation(true);
    let (_, rt1) = login(&running).await;
    let (s, v) = refresh(&running, &rt1, DEMO_FYERS_PIN).await;
    assert_eq!(s, 200);
    let rt2 = v["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(
        refresh(&running, &rt1, DEMO_FYERS_PIN).await.1["code"],
        -501,
        "old one is dead"
    );
    assert_eq!(refresh(&running, &rt2, DEMO_FYERS_PIN).await.0, 200);
}

#[tokio::test]
async fn refresh_disabled_mode_rejects_every_refresh() {
    let (running, _clock) = start().await;
    let (_, rt) = login(&running).await;
    running.sim.set_fyers_refresh_disabled(true);
    let (s, v) = refresh(&running, &rt, DEMO_FYERS_PIN).await;
    assert_eq!(
        (s, v["s"].as_str(), v["code"].as_i64()),
        (400, Some("error"), Some(-501))
    );
    running.sim.set_fyers_refresh_disabled(false);
    assert_eq!(refresh(&running, &rt, DEMO_FYERS_PIN).await.0, 200);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let (running, clock) = start().await;
    let (access, _) = login(&running).await;
    running.sim.set_rate_limit(Some(RateLimit {
        max_requests: 1,
        window_millis: 2000,
    }));
    assert_eq!(profile(&running, &access).await.0, 200);
    let c = running.credentials();
    let r = http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .header("Authorization", format!("{}:{}", c.fyers_client_id, access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["x-retry-after-ms"], "2000");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], -429);
    clock.advance(Duration::seconds(2));
    assert_eq!(profile(&running, &access).await.0, 200);
}

fn pin(running: &RunningSim) -> String {
    running.credentials().fyers_pin
}

/// PROTOCOLS.md: a token issued 2024-07-20 00:42 IST expired 06:00 the same
/// day; one issued 2026-08-15 14:20 IST expired 2026-08-16 06:00.
#[tokio::test]
async fn access_tokens_end_at_the_next_0600_ist_even_the_same_day() {
    // 2024-07-20 00:42 IST = 2024-07-19 19:12 UTC.
    let (running, clock) = start_at(
        Utc.with_ymd_and_hms(2024, 7, 19, 19, 12, 0).unwrap(),
        SimConfig::default(),
    )
    .await;
    let (access, refresh_token) = login(&running).await;
    let six_same_day = Utc.with_ymd_and_hms(2024, 7, 20, 0, 30, 0).unwrap();
    assert_eq!(
        claims(&access)["exp"].as_i64(),
        Some(six_same_day.timestamp())
    );
    clock.set(six_same_day - Duration::seconds(1));
    assert_eq!(profile(&running, &access).await.0, 200);
    clock.set(six_same_day);
    assert_eq!(profile(&running, &access).await.1["code"], -16);
    // A refresh at 14:20 IST gives a token ending 06:00 the next day.
    clock.set(Utc.with_ymd_and_hms(2024, 7, 20, 8, 50, 0).unwrap());
    let (s, v) = refresh(&running, &refresh_token, &pin(&running)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["exp"].as_i64(),
        Some(
            Utc.with_ymd_and_hms(2024, 7, 21, 0, 30, 0)
                .unwrap()
                .timestamp()
        )
    );
}

/// The field report: issued 2026-08-15 14:20 IST, refresh token until
/// 2026-08-30 06:00 IST.
#[tokio::test]
async fn refresh_tokens_last_fifteen_days_ending_0600_ist() {
    let issued = Utc.with_ymd_and_hms(2026, 8, 15, 8, 50, 0).unwrap();
    let (running, _clock) = start_at(issued, SimConfig::default()).await;
    let (_, refresh_token) = login(&running).await;
    assert_eq!(
        claims(&refresh_token)["exp"].as_i64(),
        Some(
            Utc.with_ymd_and_hms(2026, 8, 30, 0, 30, 0)
                .unwrap()
                .timestamp()
        )
    );
}

#[tokio::test]
async fn refused_refresh_wrong_pin_and_expired_refresh_answers_are_configurable() {
    let (running, clock) = start().await;
    let (_, rt) = login(&running).await;
    let wrong = "S1m-Wr0ng-P1n-Zq9vKx";
    running.sim.update_config(|c| {
        c.fyers_refresh_disabled = true;
        c.fyers_answers.refresh_refused =
            FyersAnswer::new(403, -502, "Refresh token flow discontinued");
        c.fyers_answers.wrong_pin = FyersAnswer::new(401, -18, "Incorrect PIN");
        c.fyers_answers.expired_refresh = FyersAnswer::new(401, -8, "Refresh token expired");
    });
    let (s, v) = refresh(&running, &rt, &pin(&running)).await;
    assert_eq!(
        (
            s,
            v["s"].as_str(),
            v["code"].as_i64(),
            v["message"].as_str()
        ),
        (
            403,
            Some("error"),
            Some(-502),
            Some("Refresh token flow discontinued")
        )
    );
    running.sim.set_fyers_refresh_disabled(false);
    let (s, v) = refresh(&running, &rt, wrong).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(-18)));
    assert_eq!(refresh(&running, &rt, &pin(&running)).await.0, 200);
    clock.advance(Duration::days(16));
    let (s, v) = refresh(&running, &rt, &pin(&running)).await;
    assert_eq!(
        (s, v["code"].as_i64(), v["message"].as_str()),
        (401, Some(-8), Some("Refresh token expired"))
    );
}

#[tokio::test]
async fn dead_access_tokens_answer_the_configured_code_such_as_minus_17() {
    let (running, clock) = start().await;
    let (access, _) = login(&running).await;
    clock.advance(Duration::days(1));
    running.sim.update_config(|c| {
        c.fyers_answers.dead_token = FyersAnswer::new(400, -17, "Token is invalid or expired");
    });
    let (s, v) = profile(&running, &access).await;
    assert_eq!(
        (s, v["code"].as_i64(), v["message"].as_str()),
        (400, Some(-17), Some("Token is invalid or expired"))
    );
    // And over the control API.
    let r = http()
        .post(format!("{}/__sim/settings", running.base_url))
        .json(&json!({"fyers_dead_token": {"status": 401, "code": -17, "message": "x"}}))
        .send()
        .await
        .unwrap();
    let settings: Value = r.json().await.unwrap();
    assert_eq!(settings["fyers_dead_token"]["status"], 401);
    assert_eq!(
        profile(&running, &access).await,
        (401, json!({"s":"error","code":-17,"message":"x"}))
    );
}

#[tokio::test]
async fn permission_error_fault_is_a_403_and_rate_limits_carry_retry_after_ms() {
    let (running, _clock) = start().await;
    let (access, _) = login(&running).await;
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::FyersPermissionError,
        Times::N(1),
    );
    let (s, v) = profile(&running, &access).await;
    assert_eq!((s, v["code"].as_i64()), (403, Some(-373)));
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::RateLimited {
            retry_after_secs: 3,
        },
        Times::N(1),
    );
    let c = running.credentials();
    let r = http()
        .get(format!("{}/profile", running.fyers_base_url()))
        .header("Authorization", format!("{}:{}", c.fyers_client_id, access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(r.headers()["x-retry-after-ms"], "3000");
    running.sim.inject_fault(
        Endpoint::FyersProfile,
        Fault::FyersAnswer(FyersAnswer::new(503, -96, "An unexpected error occurred")),
        Times::N(1),
    );
    assert_eq!(profile(&running, &access).await.1["code"], -96);
    assert_eq!(profile(&running, &access).await.0, 200);
}
