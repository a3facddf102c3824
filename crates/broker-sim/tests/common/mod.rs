//! Test helpers: a simulator on a manual clock, and an E*TRADE client that
//! signs with the independent `oauth1-request` crate.
#![allow(dead_code)]

use std::collections::HashMap;
use std::num::NonZeroU64;

use broker_sim::{oauth1, BrokerSim, RunningSim, SimConfig};
use chrono::{DateTime, TimeZone, Utc};
use token_core::clock::ManualClock;

/// 2026-03-06 14:30 UTC = 09:30 New York (EST) = 20:00 Kolkata.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap()
}

pub async fn start_at(at: DateTime<Utc>, config: SimConfig) -> (RunningSim, ManualClock) {
    let clock = ManualClock::new(at);
    let sim = BrokerSim::start_with_manual_clock(config, clock.clone())
        .await
        .unwrap();
    (sim, clock)
}

pub async fn start() -> (RunningSim, ManualClock) {
    start_at(t0(), SimConfig::default()).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

pub fn nonce() -> String {
    format!("n{}", rand::random::<u64>())
}

/// An E*TRADE client signing with `oauth1-request`.
pub struct Et {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub secret: String,
    pub sim: BrokerSim,
}

impl Et {
    pub fn new(running: &RunningSim) -> Self {
        let c = running.credentials();
        Self {
            http: http(),
            base: running.base_url.clone(),
            key: c.etrade_consumer_key,
            secret: c.etrade_consumer_secret,
            sim: running.sim.clone(),
        }
    }

    /// GET `path` (with `query`), signed by oauth1-request.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: Option<(&str, &str)>,
        callback: Option<&str>,
        verifier: Option<&str>,
    ) -> reqwest::Response {
        let ts = self.sim.now().timestamp();
        self.get_signed_at(path, query, token, callback, verifier, ts, &[])
            .await
    }

    /// GET `path` with an access token, `oauth_timestamp` = `ts` and extra
    /// headers.
    pub async fn get_at(
        &self,
        path: &str,
        token: &(String, String),
        ts: i64,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let t = Some((token.0.as_str(), token.1.as_str()));
        self.get_signed_at(path, &[], t, None, None, ts, headers)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn get_signed_at(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: Option<(&str, &str)>,
        callback: Option<&str>,
        verifier: Option<&str>,
        ts: i64,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let uri = format!("{}{}", self.base, path);
        let mut b = oauth1_request::Builder::<_, _, &str>::new(
            oauth1_request::Credentials::new(self.key.as_str(), self.secret.as_str()),
            oauth1_request::HMAC_SHA1,
        );
        if let Some((t, s)) = token {
            b.token(oauth1_request::Credentials::new(t, s));
        }
        b.callback(callback);
        b.verifier(verifier);
        let n = nonce();
        b.nonce(n.as_str());
        b.timestamp(NonZeroU64::new(ts as u64));
        let mut sorted: Vec<(&str, &str)> = query.to_vec();
        sorted.sort();
        let params = oauth1_request::ParameterList::new(sorted.clone());
        let header = b.get(&uri, &params);
        let url = oauth1_request::to_query(uri, &params);
        let mut req = self.http.get(url).header("Authorization", header);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// The whole login: request token, approval, access token.
    pub async fn login(&self) -> (String, String) {
        let r = self
            .get("/oauth/request_token", &[], None, Some("oob"), None)
            .await;
        assert_eq!(r.status(), 200);
        let f = form(&r.text().await.unwrap());
        let (rt, rs) = (f["oauth_token"].clone(), f["oauth_token_secret"].clone());
        let verifier = self.sim.approve_etrade(&rt).unwrap();
        let r = self
            .get(
                "/oauth/access_token",
                &[],
                Some((&rt, &rs)),
                None,
                Some(&verifier),
            )
            .await;
        assert_eq!(r.status(), 200);
        let f = form(&r.text().await.unwrap());
        (f["oauth_token"].clone(), f["oauth_token_secret"].clone())
    }

    pub async fn renew(&self, t: &(String, String)) -> reqwest::Response {
        self.get(
            "/oauth/renew_access_token",
            &[],
            Some((&t.0, &t.1)),
            None,
            None,
        )
        .await
    }

    pub async fn accounts(&self, t: &(String, String)) -> reqwest::Response {
        self.get(
            "/v1/accounts/list.json",
            &[],
            Some((&t.0, &t.1)),
            None,
            None,
        )
        .await
    }
}

/// OAuth parameters for a request signed by the simulator's own
/// implementation, so a test can tamper after signing.
pub fn own_signed_params(
    method: &str,
    base_uri: &str,
    query: &[(&str, &str)],
    consumer: (&str, &str),
    token: Option<(&str, &str)>,
    timestamp: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    let mut oauth: Vec<(String, String)> = vec![
        ("oauth_consumer_key".into(), consumer.0.into()),
        ("oauth_nonce".into(), nonce.into()),
        ("oauth_signature_method".into(), "HMAC-SHA1".into()),
        ("oauth_timestamp".into(), timestamp.to_string()),
        ("oauth_version".into(), "1.0".into()),
    ];
    if let Some((t, _)) = token {
        oauth.push(("oauth_token".into(), t.into()));
    }
    let mut all = oauth.clone();
    all.extend(query.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let base = oauth1::base_string(method, base_uri, &all);
    let sig = oauth1::hmac_sha1_signature(&base, consumer.1, token.map_or("", |t| t.1));
    oauth.push(("oauth_signature".into(), sig));
    oauth
}

pub fn header_from(params: &[(String, String)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", oauth1::encode(k), oauth1::encode(v)))
        .collect();
    format!("OAuth realm=\"\",{}", parts.join(","))
}

pub async fn error_message(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    (
        status,
        v["Error"]["message"].as_str().unwrap_or("").to_owned(),
    )
}
