//! E*TRADE protocol and token state machine, over HTTP.

mod common;

use base64::Engine as _;
use broker_sim::{oauth1, Endpoint, EtradeErrorStyle, RateLimit, SimConfig};
use chrono::{Duration, TimeZone, Utc};
use common::*;

#[tokio::test]
async fn full_login_with_oauth1_request_signatures_is_accepted() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let r = et
        .get("/oauth/request_token", &[], None, Some("oob"), None)
        .await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let f = form(&body);
    // Values are percent-encoded base64 on the wire.
    assert!(body.contains("%3D") || body.contains("%2B") || body.contains("%2F"));
    assert!(base64::engine::general_purpose::STANDARD
        .decode(&f["oauth_token"])
        .is_ok());
    assert_eq!(f["oauth_callback_confirmed"], "true");

    // The browser page shows the verifier.
    let page = et
        .http
        .get(format!(
            "{}/e/t/etws/authorize?key={}&token={}",
            et.base,
            et.key,
            oauth1::encode(&f["oauth_token"])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let verifier = running.sim.approve_etrade(&f["oauth_token"]).unwrap();
    assert!(html.contains(&verifier), "page shows the verifier");

    let r = et
        .get(
            "/oauth/access_token",
            &[],
            Some((&f["oauth_token"], &f["oauth_token_secret"])),
            None,
            Some(&verifier),
        )
        .await;
    assert_eq!(r.status(), 200);
    let at = form(&r.text().await.unwrap());
    let token = (at["oauth_token"].clone(), at["oauth_token_secret"].clone());

    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["AccountListResponse"]["Accounts"]["Account"][0]["accountStatus"],
        "ACTIVE"
    );
    let r = et
        .get(
            "/v1/market/quote/aapl,msft.json",
            &[],
            Some((&token.0, &token.1)),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["QuoteResponse"]["QuoteData"][1]["Product"]["symbol"],
        "MSFT"
    );
    // Query parameters take part in the signature too.
    let r = et
        .get(
            "/v1/market/quote/IBM",
            &[("detailFlag", "ALL"), ("note", "a b+c")],
            Some((&token.0, &token.1)),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(running.sim.calls(Endpoint::EtradeQuote), 2);
}

#[tokio::test]
async fn one_character_change_to_any_signed_parameter_is_rejected() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    let path = "/v1/market/quote/IBM";
    let port = running
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let uri = oauth1::base_uri("http", "127.0.0.1", Some(port), path);
    let ts = running.sim.now().timestamp();
    let query = [("detailFlag", "ALL")];

    let send = |params: Vec<(String, String)>, q: String| {
        let http = et.http.clone();
        let url = format!("{}{}?{}", et.base, path, q);
        async move {
            http.get(url)
                .header("Authorization", header_from(&params))
                .send()
                .await
                .unwrap()
        }
    };
    let signed = |nonce: &str| {
        own_signed_params(
            "GET",
            &uri,
            &query,
            (&et.key, &et.secret),
            Some((&token.0, &token.1)),
            ts,
            nonce,
        )
    };
    // Untouched: accepted (our signer agrees with the server).
    let r = send(signed("base"), "detailFlag=ALL".into()).await;
    assert_eq!(r.status(), 200);

    // Tamper with each signed oauth parameter by one character.
    for (i, name) in [
        "oauth_nonce",
        "oauth_timestamp",
        "oauth_signature_method",
        "oauth_version",
        "oauth_signature",
        "oauth_consumer_key",
        "oauth_token",
    ]
    .iter()
    .enumerate()
    {
        let mut p = signed(&format!("t{i}"));
        let entry = p.iter_mut().find(|(k, _)| k == name).unwrap();
        let mut chars: Vec<char> = entry.1.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == '1' { '2' } else { '1' };
        entry.1 = chars.into_iter().collect();
        let r = send(p, "detailFlag=ALL".into()).await;
        assert_eq!(r.status(), 401, "{name} tampered must be rejected");
        let (_, msg) = error_message(r).await;
        let want = match *name {
            "oauth_consumer_key" => "oauth_problem=consumer_key_rejected",
            "oauth_token" => "oauth_problem=token_rejected",
            "oauth_signature_method" => "oauth_problem=signature_method_rejected",
            "oauth_version" => "oauth_problem=version_rejected",
            _ => "oauth_problem=signature_invalid",
        };
        assert_eq!(msg, want, "{name}");
    }
    // Tamper with the query parameter.
    let r = send(signed("q"), "detailFlag=ALM".into()).await;
    let (status, msg) = error_message(r).await;
    assert_eq!(
        (status, msg.as_str()),
        (401, "oauth_problem=signature_invalid")
    );
    // An extra unsigned parameter also breaks it.
    let r = send(signed("q2"), "detailFlag=ALL&x=1".into()).await;
    assert_eq!(error_message(r).await.1, "oauth_problem=signature_invalid");
}

#[tokio::test]
async fn timestamps_nonces_and_consumer_keys_are_checked() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let port: u16 = running
        .base_url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let uri = oauth1::base_uri("http", "127.0.0.1", Some(port), "/oauth/request_token");
    let now = running.sim.now().timestamp();
    let q = [("oauth_callback", "oob")];
    let go = |params: Vec<(String, String)>| {
        let http = et.http.clone();
        let url = format!("{}/oauth/request_token?oauth_callback=oob", et.base);
        async move {
            error_message(
                http.get(url)
                    .header("Authorization", header_from(&params))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let key = (et.key.as_str(), et.secret.as_str());
    // 5 minutes off is still fine; 5 minutes and a second is not.
    let ok = own_signed_params("GET", &uri, &q, key, None, now - 300, "a");
    assert_eq!(go(ok).await.0, 200);
    let late = own_signed_params("GET", &uri, &q, key, None, now + 301, "b");
    assert_eq!(
        go(late).await,
        (
            401,
            format!(
                "oauth_problem=timestamp_refused,oauth_acceptable_timestamps={}-{}",
                now - 300,
                now + 300
            )
        )
    );
    // Reused nonce.
    let first = own_signed_params("GET", &uri, &q, key, None, now, "same");
    assert_eq!(go(first).await.0, 200);
    let again = own_signed_params("GET", &uri, &q, key, None, now, "same");
    assert_eq!(go(again).await.1, "oauth_problem=nonce_used");
    // Unknown consumer key.
    let other = own_signed_params("GET", &uri, &q, ("nope", "x"), None, now, "c");
    assert_eq!(go(other).await.1, "oauth_problem=consumer_key_rejected");
    // Missing callback.
    let r = et.get("/oauth/request_token", &[], None, None, None).await;
    assert_eq!(
        error_message(r).await.1,
        "oauth_problem=parameter_absent,oauth_parameters_absent=oauth_callback"
    );
    // No or garbage Authorization header: a 401 in E*TRADE's shape, no panic.
    for h in ["", "OAuth garbage", "OAuth a=\"%ZZ", "Basic abc"] {
        let r = et
            .http
            .get(format!("{}/oauth/request_token", et.base))
            .header("Authorization", h)
            .send()
            .await
            .unwrap();
        let (status, msg) = error_message(r).await;
        assert_eq!(status, 401);
        assert!(msg.starts_with("oauth_problem=parameter_absent"), "{msg}");
    }
}

#[tokio::test]
async fn idle_at_two_hours_and_renew_revives_the_same_pair() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    clock.advance(Duration::hours(2) - Duration::seconds(1));
    assert_eq!(et.accounts(&token).await.status(), 200, "use resets idle");
    clock.advance(Duration::hours(2) - Duration::seconds(1));
    assert_eq!(et.accounts(&token).await.status(), 200);
    clock.advance(Duration::hours(2));
    let (status, msg) = error_message(et.accounts(&token).await).await;
    assert_eq!((status, msg.as_str()), (401, "oauth_problem=token_expired"));
    let r = et.renew(&token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "Access Token has been renewed");
    assert_eq!(
        et.accounts(&token).await.status(),
        200,
        "same pair works again"
    );
    assert_eq!(running.sim.calls(Endpoint::EtradeRenew), 1);
}

#[tokio::test]
async fn midnight_new_york_kills_the_token_and_renew_cannot_revive_it() {
    // Issued 09:30 EST on Friday 2026-03-06; dies at 00:00 EST = 05:00 UTC.
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    clock.set(Utc.with_ymd_and_hms(2026, 3, 7, 4, 59, 0).unwrap());
    assert_eq!(et.renew(&token).await.status(), 200);
    clock.set(Utc.with_ymd_and_hms(2026, 3, 7, 5, 0, 0).unwrap());
    let (status, msg) = error_message(et.renew(&token).await).await;
    assert_eq!((status, msg.as_str()), (401, "oauth_problem=token_expired"));
    assert_eq!(
        error_message(et.accounts(&token).await).await.1,
        "oauth_problem=token_expired"
    );
}

#[tokio::test]
async fn midnight_kill_follows_dst_on_the_spring_forward_day() {
    // Sunday 2026-03-08 10:00 EDT (14:00 UTC): clocks went forward at 02:00,
    // so this day ends at 00:00 EDT = 04:00 UTC, not 05:00.
    let (running, clock) = start_at(
        Utc.with_ymd_and_hms(2026, 3, 8, 14, 0, 0).unwrap(),
        SimConfig::default(),
    )
    .await;
    let et = Et::new(&running);
    let token = et.login().await;
    clock.set(Utc.with_ymd_and_hms(2026, 3, 9, 3, 59, 59).unwrap());
    assert_eq!(et.renew(&token).await.status(), 200);
    clock.set(Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap());
    assert_eq!(
        error_message(et.renew(&token).await).await.1,
        "oauth_problem=token_expired"
    );
}

#[tokio::test]
async fn revoked_tokens_are_rejected() {
    let (running, _clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    let r = et
        .get(
            "/oauth/revoke_access_token",
            &[],
            Some((&token.0, &token.1)),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(form(&r.text().await.unwrap())["oauth_token"], token.0);
    assert_eq!(
        error_message(et.accounts(&token).await).await.1,
        "oauth_problem=token_rejected"
    );
    assert_eq!(
        error_message(et.renew(&token).await).await.1,
        "oauth_problem=token_rejected"
    );
}

#[tokio::test]
async fn request_tokens_die_after_five_minutes_and_verifiers_are_single_use() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let new_rt = || async {
        let r = et
            .get("/oauth/request_token", &[], None, Some("oob"), None)
            .await;
        let f = form(&r.text().await.unwrap());
        (f["oauth_token"].clone(), f["oauth_token_secret"].clone())
    };
    // Expiry before approval.
    let (rt, _) = new_rt().await;
    clock.advance(Duration::minutes(5));
    assert!(matches!(
        running.sim.approve_etrade(&rt),
        Err(broker_sim::SimError::RequestTokenExpired)
    ));
    // Expiry between approval and exchange.
    let (rt, rs) = new_rt().await;
    let v = running.sim.approve_etrade(&rt).unwrap();
    clock.advance(Duration::minutes(5));
    let r = et
        .get("/oauth/access_token", &[], Some((&rt, &rs)), None, Some(&v))
        .await;
    assert_eq!(error_message(r).await.1, "oauth_problem=token_expired");
    // Wrong verifier, then the right one, then the right one again.
    let (rt, rs) = new_rt().await;
    let v = running.sim.approve_etrade(&rt).unwrap();
    let wrong = if v == "AAAAA" { "BBBBB" } else { "AAAAA" };
    let r = et
        .get(
            "/oauth/access_token",
            &[],
            Some((&rt, &rs)),
            None,
            Some(wrong),
        )
        .await;
    assert_eq!(error_message(r).await.1, "oauth_problem=token_rejected");
    let r = et
        .get("/oauth/access_token", &[], Some((&rt, &rs)), None, Some(&v))
        .await;
    assert_eq!(r.status(), 200);
    let r = et
        .get("/oauth/access_token", &[], Some((&rt, &rs)), None, Some(&v))
        .await;
    assert_eq!(error_message(r).await.1, "oauth_problem=token_rejected");
    assert!(running.sim.approve_etrade("never-issued").is_err());
}

#[tokio::test]
async fn html_error_style_is_selectable() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.set_etrade_error_style(EtradeErrorStyle::Html);
    clock.advance(Duration::days(1));
    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("HTTP Status 401 - oauth_problem=token_expired"));
}

#[tokio::test]
async fn rate_limit_answers_400_with_the_html_page() {
    let (running, clock) = start().await;
    let et = Et::new(&running);
    let token = et.login().await;
    running.sim.set_rate_limit(Some(RateLimit {
        max_requests: 2,
        window_millis: 1000,
    }));
    assert_eq!(et.accounts(&token).await.status(), 200);
    assert_eq!(et.accounts(&token).await.status(), 200);
    let r = et.accounts(&token).await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Number of requests exceeded the rate limit set"));
    clock.advance(Duration::seconds(1));
    assert_eq!(et.accounts(&token).await.status(), 200);
}
