//! What E*TRADE's own clients see on the wire: pyetrade's unencoded
//! authorize URL, XML by default on the v1 data endpoints, the XML and
//! legacy error shapes, and the renew that answers 200 without helping.

mod common;

use broker_sim::{Endpoint, EtradeErrorStyle, Fault, Times};
use chrono::Duration;
use common::*;

/// A fresh request token (and its secret) straight from the simulator.
async fn request_token(et: &Et) -> (String, String) {
    let r = et
        .get("/oauth/request_token", &[], None, Some("oob"), None)
        .await;
    assert_eq!(r.status(), 200);
    let f = form(&r.text().await.unwrap());
    (f["oauth_token"].clone(), f["oauth_token_secret"].clone())
}

/// pyetrade 2.1.1 builds `authorize?key=K&token=T` without encoding T; a
/// `+` in T is a `+` (21 of 40 pyetrade logins failed when it was read as
/// a space).
#[tokio::test]
async fn authorize_page_reads_an_unencoded_plus_in_the_token_literally() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    // Base64 tokens of 31 random bytes hold a '+' about half the time.
    let mut tried = 0;
    let (rt, rs) = loop {
        let t = request_token(&et).await;
        tried += 1;
        if t.0.contains('+') {
            break t;
        }
        assert!(tried < 200, "no request token with '+' in 200 tries");
    };
    let url = format!("{}/e/t/etws/authorize?key={}&token={}", et.base, et.key, rt);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let page = r.text().await.unwrap();
    let verifier = page
        .split("value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let r = et
        .get(
            "/oauth/access_token",
            &[],
            Some((&rt, &rs)),
            None,
            Some(&verifier),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Percent-encoded tokens (what careful clients send) work too.
    let (rt2, _) = request_token(&et).await;
    let url = format!(
        "{}/e/t/etws/authorize?key={}&token={}",
        et.base,
        et.key,
        broker_sim::oauth1::encode(&rt2)
    );
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn data_endpoints_answer_xml_unless_json_is_asked_for() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    let now = || clock_ts(&clock);

    let r = et.get_at("/v1/accounts/list", &token, now(), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<?xml"), "{body}");
    assert!(
        body.contains("<AccountListResponse><Accounts><Account>")
            && body.contains("<accountId>84010429</accountId>"),
        "{body}"
    );

    let r = et
        .get_at(
            "/v1/market/quote/AAPL,MSFT",
            &token,
            now(),
            &[("Accept", "*/*")],
        )
        .await;
    let body = r.text().await.unwrap();
    assert_eq!(body.matches("<QuoteData>").count(), 2, "{body}");
    assert!(body.contains("<symbol>MSFT</symbol>"), "{body}");

    let r = et
        .get_at(
            "/v1/accounts/list",
            &token,
            now(),
            &[("Accept", "application/json")],
        )
        .await;
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["AccountListResponse"]["Accounts"]["Account"][0]["accountId"],
        "84010429"
    );
    let r = et
        .get_at("/v1/market/quote/IBM.json", &token, now(), &[])
        .await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["QuoteResponse"]["QuoteData"][0]["Product"]["symbol"],
        "IBM"
    );
}

fn clock_ts(clock: &token_core::clock::ManualClock) -> i64 {
    use token_core::clock::Clock;
    clock.now().timestamp()
}

#[tokio::test]
async fn xml_error_style_and_legacy_invalid_access_token_mode() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.set_etrade_error_style(EtradeErrorStyle::Xml);
    clock.advance(Duration::hours(2));
    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/xml");
    assert!(r.text().await.unwrap().ends_with(
        "<Error><code>401</code><message>oauth_problem=token_expired</message></Error>"
    ));

    running
        .sim
        .update_config(|c| c.etrade_legacy_token_errors = true);
    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(
        body.ends_with("<message>Invalid access token used</message></Error>"),
        "{body}"
    );
    assert!(!body.contains("oauth_problem"), "{body}");
    // Renew still speaks oauth_problem; only data calls use the legacy body.
    running.sim.set_etrade_error_style(EtradeErrorStyle::Json);
    assert_eq!(et.renew(&token).await.status(), 200);
    assert_eq!(et.accounts(&token).await.status(), 200);
    // Revoked tokens get it too.
    et.get(
        "/oauth/revoke_access_token",
        &[],
        Some((&token.0, &token.1)),
        None,
        None,
    )
    .await;
    let (status, message) = error_message(et.accounts(&token).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "Invalid access token used")
    );
}

#[tokio::test]
async fn legacy_invalid_access_token_is_also_a_fault() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::EtradeLegacyInvalidToken,
        Times::N(1),
    );
    let (status, message) = error_message(et.accounts(&token).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "Invalid access token used")
    );
    assert_eq!(et.accounts(&token).await.status(), 200);
}

/// wetrade issue 2: renew answered 200 while the token stayed unusable.
#[tokio::test]
async fn renew_without_effect_answers_200_and_the_token_stays_idle() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    clock.advance(Duration::hours(2));
    running.sim.inject_fault(
        Endpoint::EtradeRenew,
        Fault::RenewWithoutEffect,
        Times::N(1),
    );
    let r = et.renew(&token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Access Token has been renewed");
    let (status, message) = error_message(et.accounts(&token).await).await;
    assert_eq!(
        (status, message.as_str()),
        (401, "oauth_problem=token_expired")
    );
    assert_eq!(et.renew(&token).await.status(), 200);
    assert_eq!(et.accounts(&token).await.status(), 200);
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 2);
}

/// Keys with a registered callback send the browser there with
/// `oauth_verifier` in the query (a person may paste that whole URL).
#[tokio::test]
async fn a_registered_callback_gets_a_redirect_with_the_verifier() {
    let (running, _clock) = start().await;
    running.sim.update_config(|c| {
        c.etrade_registered_callback = Some("https://127.0.0.1:8182/cb?app=bot".into());
    });
    let et = Et::new(&running);
    let (rt, rs) = request_token(&et).await;
    let url = format!(
        "{}/e/t/etws/authorize?key={}&token={}",
        et.base,
        et.key,
        broker_sim::oauth1::encode(&rt)
    );
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/cb");
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["app"], "bot");
    assert_eq!(q["oauth_token"], rt);
    let r = et
        .get(
            "/oauth/access_token",
            &[],
            Some((&rt, &rs)),
            None,
            Some(&q["oauth_verifier"]),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The control API clears it: the page shows the verifier again.
    let r = http()
        .post(format!("{}/__sim/settings", running.base_url))
        .json(&serde_json::json!({"etrade_registered_callback": ""}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["etrade_registered_callback"], serde_json::Value::Null);
    let (rt, _) = request_token(&et).await;
    let url = format!("{}/e/t/etws/authorize?key={}&token={}", et.base, et.key, rt);
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
}

/// pyetrade issue 55: during an outage E*TRADE sent a window whose second
/// number is truncated. The fault reproduces it byte for byte.
#[tokio::test]
async fn a_malformed_timestamp_window_can_be_injected() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    let spec: broker_sim::FaultSpec = serde_json::from_value(serde_json::json!({
        "kind": "etrade_problem",
        "problem": {"timestamp_refused": {"from": 1636665132i64, "to": 16366687}}
    }))
    .unwrap();
    running
        .sim
        .inject_fault(Endpoint::EtradeAccountsList, spec.into(), Times::N(1));
    let (status, message) = error_message(et.accounts(&token).await).await;
    assert_eq!(
        (status, message.as_str()),
        (
            401,
            "oauth_problem=timestamp_refused,oauth_acceptable_timestamps=1636665132-16366687"
        )
    );
}
