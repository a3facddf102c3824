//! broker-sim's Schwab side over raw HTTP (no adapter code): the authorize
//! page's exact redirect-URI match, programmatic approval, one-time codes,
//! its own Basic-auth check, both grants, the bearer-checked probe.

use std::collections::HashMap;

use base64::Engine as _;
use broker_sim::{BrokerSim, SimConfig};
use chrono::{Duration, TimeZone, Utc};
use serde_json::Value;
use token_core::clock::ManualClock;

async fn sim(config: SimConfig) -> (ManualClock, broker_sim::RunningSim) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(config, clock.clone())
        .await
        .unwrap();
    (clock, running)
}

fn basic(key: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"))
    )
}

fn code_of(redirect: &str) -> String {
    url::Url::parse(redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn token(
    running: &broker_sim::RunningSim,
    auth: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/oauth/token", running.schwab_base_url()))
        .header("authorization", auth)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn authorize_page_matches_the_redirect_uri_exactly_raw_or_encoded() {
    let (_clock, running) = sim(SimConfig::default()).await;
    let cfg = running.sim.config().schwab;
    let base = running.schwab_base_url();
    let encoded: String =
        url::form_urlencoded::byte_serialize(cfg.callback_url.as_bytes()).collect();
    for redirect in [cfg.callback_url.clone(), encoded] {
        let url = format!(
            "{base}/v1/oauth/authorize?client_id={}&redirect_uri={redirect}",
            cfg.app_key
        );
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200, "{url}");
    }
    let slash = format!(
        "{base}/v1/oauth/authorize?client_id={}&redirect_uri={}/",
        cfg.app_key, cfg.callback_url
    );
    let r = reqwest::get(&slash).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Access Denied"));
    assert!(running
        .sim
        .approve_schwab(&cfg.app_key, &format!("{}/", cfg.callback_url), None)
        .is_err());
}

#[tokio::test]
async fn codes_end_in_at_work_once_within_30_seconds_and_tokens_have_six_fields() {
    let (clock, running) = sim(SimConfig::default()).await;
    let cfg = running.sim.config().schwab;
    let auth = basic(&cfg.app_key, &cfg.app_secret);
    let redirect = running
        .sim
        .approve_schwab(&cfg.app_key, &cfg.callback_url, Some("st-123"))
        .unwrap();
    assert!(redirect.contains("%40&session=") && redirect.ends_with("&state=st-123"));
    let code = code_of(&redirect);
    assert!(code.starts_with("C0.") && code.ends_with('@'));
    let grant = |c: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", c.to_string()),
            ("redirect_uri", cfg.callback_url.clone()),
        ]
    };
    let g = grant(&code);
    let form: Vec<(&str, &str)> = g.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Wrong Basic auth first: the code survives it.
    let (s, v) = token(&running, &basic(&cfg.app_key, "S3cr3t-Zq9vKx-no"), &form).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    let (s, v) = token(&running, &auth, &form).await;
    assert_eq!(s, 200, "{v}");
    let keys: Vec<_> = {
        let mut k: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(v["expires_in"], 1800);
    let (s, v) = token(&running, &auth, &form).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "reused"
    );

    let late = code_of(
        &running
            .sim
            .approve_schwab(&cfg.app_key, &cfg.callback_url, None)
            .unwrap(),
    );
    clock.advance(Duration::seconds(30));
    let g = grant(&late);
    let form: Vec<(&str, &str)> = g.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, _) = token(&running, &auth, &form).await;
    assert_eq!(s, 400, "expired");
}

#[tokio::test]
async fn refresh_echoes_or_rotates_and_the_probe_checks_the_bearer() {
    for rotation in [false, true] {
        let mut config = SimConfig::default();
        config.schwab.rotation = rotation;
        let (_clock, running) = sim(config).await;
        let cfg = running.sim.config().schwab;
        let auth = basic(&cfg.app_key, &cfg.app_secret);
        let code = code_of(
            &running
                .sim
                .approve_schwab(&cfg.app_key, &cfg.callback_url, None)
                .unwrap(),
        );
        let (_, v) = token(
            &running,
            &auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &cfg.callback_url),
            ],
        )
        .await;
        let rt = v["refresh_token"].as_str().unwrap().to_string();
        let (s, r) = token(
            &running,
            &auth,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(r["refresh_token"].as_str() == Some(rt.as_str()), !rotation);
        let probe = |t: String| {
            let url = format!(
                "{}/trader/v1/accounts/accountNumbers",
                running.schwab_base_url()
            );
            async move {
                let r = reqwest::Client::new()
                    .get(url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (s, body) = probe(r["access_token"].as_str().unwrap().to_string()).await;
        assert_eq!(s, 200);
        assert!(body.contains("hashValue"));
        let (s, body) = probe("I0.not-a-token@".into()).await;
        assert_eq!(s, 401);
        assert!(body.contains("Client not authorized"));
    }
}

#[tokio::test]
async fn approval_over_the_control_api_reads_the_authorize_url() {
    let (_clock, running) = sim(SimConfig::default()).await;
    let cfg = running.sim.config().schwab;
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &cfg.app_key)
        .append_pair("redirect_uri", &cfg.callback_url)
        .append_pair("state", "xyz");
    let authorize = format!(
        "{}/v1/oauth/authorize?{}",
        running.schwab_base_url(),
        q.finish()
    );
    let body: HashMap<String, String> = reqwest::Client::new()
        .post(format!(
            "{}/__sim/schwab/approve",
            running.schwab_base_url()
        ))
        .json(&serde_json::json!({ "authorize_url": authorize }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["redirect_url"].starts_with(&cfg.callback_url));
    assert!(body["redirect_url"].ends_with("&state=xyz"));
}

#[tokio::test]
async fn settings_over_http_switch_rotation_and_refuse_unknown_fields() {
    let (_clock, running) = sim(SimConfig::default()).await;
    let url = format!("{}/__sim/schwab/settings", running.schwab_base_url());
    let c = reqwest::Client::new();
    let v: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["rotation"], false);
    assert_eq!(v["app_key"], running.sim.config().schwab.app_key);
    let v: Value = c
        .post(&url)
        .json(&serde_json::json!({"rotation": true, "expired_refresh_status": 401}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["rotation"], true);
    assert!(running.sim.config().schwab.rotation);
    assert_eq!(running.sim.config().schwab.expired_refresh_status, 401);
    let r = c
        .post(&url)
        .json(&serde_json::json!({"rotate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
