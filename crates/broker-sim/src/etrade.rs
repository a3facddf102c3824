//! The E*TRADE side: OAuth 1.0a token endpoints, the authorize page, and a
//! few signed API endpoints that count as use (PROTOCOLS.md, "E*TRADE").
//!
//! Access tokens: active → inactive after the idle timeout without a signed
//! API call → renew reactivates the same pair → expired at the next
//! midnight America/New_York (renew then fails) → revoked tokens are
//! rejected.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use serde_json::json;

use crate::config::{EtradeProblem, SimConfig};
use crate::faults::Endpoint;
use crate::oauth1;
use crate::responses::{etrade_error, etrade_problem, etrade_rate_limited};
use crate::server::Conn;
use crate::{lock, BrokerSim, SimError};

#[derive(Debug)]
struct RequestToken {
    secret: String,
    created: DateTime<Utc>,
    verifier: Option<String>,
}

#[derive(Debug)]
struct AccessToken {
    secret: String,
    last_used: DateTime<Utc>,
    expires: DateTime<Utc>,
    revoked: bool,
}

/// E*TRADE token state.
#[derive(Debug, Default)]
pub(crate) struct EtradeState {
    request_tokens: HashMap<String, RequestToken>,
    access_tokens: HashMap<String, AccessToken>,
    /// (consumer key, nonce) → timestamp it came with.
    nonces: HashMap<(String, String), i64>,
}

impl EtradeState {
    pub(crate) fn approve(
        &mut self,
        request_token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, SimError> {
        let rt = self
            .request_tokens
            .get_mut(request_token)
            .ok_or(SimError::UnknownRequestToken)?;
        if now - rt.created >= ttl {
            return Err(SimError::RequestTokenExpired);
        }
        Ok(rt.verifier.get_or_insert_with(new_verifier).clone())
    }
}

/// The next 00:00 America/New_York strictly after `t`.
pub fn next_midnight_new_york(t: DateTime<Utc>) -> DateTime<Utc> {
    let local_date = t.with_timezone(&New_York).date_naive();
    let next = local_date.succ_opt().unwrap_or(local_date);
    let naive = next.and_time(NaiveTime::MIN);
    // Midnight always exists in New York (DST moves 02:00), but stay total.
    New_York
        .from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(t + Duration::hours(24))
}

/// A token or secret as E*TRADE makes them: base64 of random bytes.
fn new_token() -> String {
    let bytes: [u8; 31] = rand::random();
    STANDARD.encode(bytes)
}

/// A five-character verifier like `H92GX`.
fn new_verifier() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..5)
        .map(|_| {
            let i = rand::random_range(0..ALPHABET.len());
            char::from(ALPHABET[i])
        })
        .collect()
}

/// Which token, if any, a request must be signed with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signer {
    ConsumerOnly,
    RequestToken,
    AccessToken,
}

/// A request that passed signature, timestamp and nonce checks.
struct Verified {
    token: Option<String>,
    oauth: HashMap<String, String>,
}

/// The parts of a request the signature covers.
pub(crate) struct Raw {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl BrokerSim {
    fn etrade_fail(&self, problem: EtradeProblem) -> Response {
        etrade_problem(self.config().etrade_error_style, &problem)
    }

    /// RFC 5849 checks, in the order a server can make them.
    fn verify(&self, raw: &Raw, signer: Signer) -> Result<Verified, EtradeProblem> {
        let config = self.config();
        let header = raw
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let header_params = oauth1::parse_authorization(header).map_err(|_| {
            EtradeProblem::ParameterAbsent(
                "oauth_consumer_key,oauth_signature,oauth_signature_method,oauth_nonce,oauth_timestamp"
                    .into(),
            )
        })?;
        let mut params: Vec<(String, String)> = header_params
            .into_iter()
            .filter(|(k, _)| k != "realm")
            .collect();
        params.extend(oauth1::parse_form(raw.uri.query().unwrap_or("")));
        let is_form = raw
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            params.extend(oauth1::parse_form(&String::from_utf8_lossy(&raw.body)));
        }
        let oauth: HashMap<String, String> = params
            .iter()
            .filter(|(k, _)| k.starts_with("oauth_"))
            .cloned()
            .collect();
        let mut required = vec![
            "oauth_consumer_key",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_nonce",
            "oauth_timestamp",
        ];
        if signer != Signer::ConsumerOnly {
            required.push("oauth_token");
        }
        let absent: Vec<&str> = required
            .into_iter()
            .filter(|k| !oauth.contains_key(*k))
            .collect();
        if !absent.is_empty() {
            return Err(EtradeProblem::ParameterAbsent(absent.join(",")));
        }
        let get = |k: &str| oauth.get(k).map(String::as_str).unwrap_or("");
        if get("oauth_signature_method") != "HMAC-SHA1" {
            return Err(EtradeProblem::SignatureMethodRejected);
        }
        if oauth.get("oauth_version").is_some_and(|v| v != "1.0") {
            return Err(EtradeProblem::VersionRejected);
        }
        if get("oauth_consumer_key") != config.etrade_consumer_key {
            return Err(EtradeProblem::ConsumerKeyRejected);
        }
        let now = self.now().timestamp();
        let window = config.etrade_timestamp_window.num_seconds();
        let ts: i64 = get("oauth_timestamp")
            .parse()
            .map_err(|_| EtradeProblem::ParameterRejected("oauth_timestamp".into()))?;
        if (ts - now).abs() > window {
            return Err(EtradeProblem::TimestampRefused {
                from: now - window,
                to: now + window,
            });
        }
        let token = oauth.get("oauth_token").cloned();
        let token_secret = {
            let state = lock(&self.inner.etrade);
            match (signer, token.as_deref()) {
                (Signer::ConsumerOnly, _) => String::new(),
                (Signer::RequestToken, Some(t)) => state
                    .request_tokens
                    .get(t)
                    .map(|r| r.secret.clone())
                    .ok_or(EtradeProblem::TokenRejected)?,
                (Signer::AccessToken, Some(t)) => state
                    .access_tokens
                    .get(t)
                    .map(|a| a.secret.clone())
                    .ok_or(EtradeProblem::TokenRejected)?,
                (_, None) => return Err(EtradeProblem::TokenRejected),
            }
        };
        let base_uri = request_base_uri(raw);
        let signed: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| k != "oauth_signature")
            .collect();
        let base = oauth1::base_string(raw.method.as_str(), &base_uri, &signed);
        if !oauth1::verify_hmac_sha1(
            &base,
            &config.etrade_consumer_secret,
            &token_secret,
            get("oauth_signature"),
        ) {
            return Err(EtradeProblem::SignatureInvalid);
        }
        {
            let mut state = lock(&self.inner.etrade);
            state
                .nonces
                .retain(|_, seen| (now - *seen).abs() <= 2 * window);
            let key = (
                config.etrade_consumer_key.clone(),
                get("oauth_nonce").to_owned(),
            );
            if state.nonces.contains_key(&key) {
                return Err(EtradeProblem::NonceUsed);
            }
            state.nonces.insert(key, ts);
        }
        Ok(Verified { token, oauth })
    }
}

/// `http://{Host}{path}` as the client must have signed it.
fn request_base_uri(raw: &Raw) -> String {
    let host = raw
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| raw.uri.authority().map(|a| a.as_str()))
        .unwrap_or("127.0.0.1");
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) => (h, Some(port)),
            Err(_) => (host, None),
        },
        None => (host, None),
    };
    oauth1::base_uri("http", host, port, raw.uri.path())
}

fn form(pairs: &[(&str, &str)]) -> Response {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", oauth1::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

type Ctx = (State<BrokerSim>, ConnectInfo<Conn>);

fn raw(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Raw {
    Raw {
        method,
        uri,
        headers,
        body,
    }
}

/// The start of every signed endpoint: counters and injected faults, then
/// the OAuth 1.0a signature check (the broker's error shape on failure).
async fn signed(
    sim: &BrokerSim,
    conn: &Conn,
    endpoint: Endpoint,
    raw: &Raw,
    signer: Signer,
) -> Result<Verified, Response> {
    if let Some(r) = sim.before(endpoint, conn).await {
        return Err(r);
    }
    sim.verify(raw, signer).map_err(|p| sim.etrade_fail(p))
}

/// `GET /oauth/request_token`.
pub(crate) async fn request_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    let v = match signed(
        &sim,
        &conn,
        Endpoint::EtradeRequestToken,
        &raw,
        Signer::ConsumerOnly,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.oauth.get("oauth_callback").map(String::as_str) {
        Some("oob") => {}
        Some(_) => {
            return sim.etrade_fail(EtradeProblem::ParameterRejected("oauth_callback".into()))
        }
        None => return sim.etrade_fail(EtradeProblem::ParameterAbsent("oauth_callback".into())),
    }
    let (token, secret) = (new_token(), new_token());
    lock(&sim.inner.etrade).request_tokens.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            created: sim.now(),
            verifier: None,
        },
    );
    form(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

/// `GET /e/t/etws/authorize?key=...&token=...`: the page a person sees after
/// logging in, showing the verifier to copy.
pub(crate) async fn authorize(
    (State(sim), ConnectInfo(conn)): Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::EtradeAuthorize, &conn).await {
        return r;
    }
    let config = sim.config();
    let page_error = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<html><head><title>E*TRADE</title></head><body><h1>Authorization failed</h1><p>{msg}</p></body></html>"
            )),
        )
            .into_response()
    };
    if q.get("key").map(String::as_str) != Some(config.etrade_consumer_key.as_str()) {
        return page_error("The consumer key is not valid.");
    }
    let Some(token) = q.get("token") else {
        return page_error("The request token is missing.");
    };
    match sim.approve_etrade(token) {
        Ok(verifier) => Html(format!(
            "<html><head><title>E*TRADE - Authorize</title></head><body>\
             <p>Please copy the code below and paste it into the application.</p>\
             <input type=\"text\" id=\"verifier\" readonly value=\"{verifier}\"/>\
             <div class=\"verifier\">{verifier}</div></body></html>"
        ))
        .into_response(),
        Err(SimError::RequestTokenExpired) => page_error("The request token has expired."),
        Err(_) => page_error("The request token is not valid."),
    }
}

/// `GET /oauth/access_token`.
pub(crate) async fn access_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    let v = match signed(
        &sim,
        &conn,
        Endpoint::EtradeAccessToken,
        &raw,
        Signer::RequestToken,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(verifier) = v.oauth.get("oauth_verifier") else {
        return sim.etrade_fail(EtradeProblem::ParameterAbsent("oauth_verifier".into()));
    };
    let config = sim.config();
    let now = sim.now();
    let token = v.token.unwrap_or_default();
    let mut state = lock(&sim.inner.etrade);
    let Some(rt) = state.request_tokens.get(&token) else {
        return sim.etrade_fail(EtradeProblem::TokenRejected);
    };
    if now - rt.created >= config.etrade_request_token_ttl {
        state.request_tokens.remove(&token);
        drop(state);
        return sim.etrade_fail(EtradeProblem::TokenExpired);
    }
    if rt.verifier.as_deref() != Some(verifier.as_str()) {
        drop(state);
        return sim.etrade_fail(EtradeProblem::TokenRejected);
    }
    // Single use: the request token and its verifier die here.
    state.request_tokens.remove(&token);
    let (access, secret) = (new_token(), new_token());
    state.access_tokens.insert(
        access.clone(),
        AccessToken {
            secret: secret.clone(),
            last_used: now,
            expires: next_midnight_new_york(now),
            revoked: false,
        },
    );
    drop(state);
    form(&[("oauth_token", &access), ("oauth_token_secret", &secret)])
}

/// What an access token's state allows.
enum Use {
    /// Usable (and now marked used).
    Ok,
    /// Rejected with this problem.
    Fail(EtradeProblem),
}

impl BrokerSim {
    /// Applies the access-token state machine to a signed call. `renew`
    /// revives an idle token; other calls need an active one.
    fn use_access_token(&self, token: &str, config: &SimConfig, renew: bool) -> Use {
        let now = self.now();
        let mut state = lock(&self.inner.etrade);
        let Some(at) = state.access_tokens.get_mut(token) else {
            return Use::Fail(EtradeProblem::TokenRejected);
        };
        if at.revoked {
            return Use::Fail(EtradeProblem::TokenRejected);
        }
        if now >= at.expires {
            return Use::Fail(EtradeProblem::TokenExpired);
        }
        if !renew && now - at.last_used >= config.etrade_idle_timeout {
            return Use::Fail(config.etrade_idle_problem.clone());
        }
        at.last_used = now;
        Use::Ok
    }
}

/// `GET /oauth/renew_access_token`.
pub(crate) async fn renew(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    let v = match signed(
        &sim,
        &conn,
        Endpoint::EtradeRenew,
        &raw,
        Signer::AccessToken,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let config = sim.config();
    match sim.use_access_token(v.token.as_deref().unwrap_or(""), &config, true) {
        Use::Ok => (
            [(header::CONTENT_TYPE, "text/plain")],
            "Access Token has been renewed",
        )
            .into_response(),
        Use::Fail(p) => sim.etrade_fail(p),
    }
}

/// `GET /oauth/revoke_access_token`.
pub(crate) async fn revoke(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    let v = match signed(
        &sim,
        &conn,
        Endpoint::EtradeRevoke,
        &raw,
        Signer::AccessToken,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = v.token.unwrap_or_default();
    let mut state = lock(&sim.inner.etrade);
    match state.access_tokens.get_mut(&token) {
        Some(at) if !at.revoked => {
            at.revoked = true;
            let secret = at.secret.clone();
            drop(state);
            form(&[("oauth_token", &token), ("oauth_token_secret", &secret)])
        }
        _ => {
            drop(state);
            sim.etrade_fail(EtradeProblem::TokenRejected)
        }
    }
}

/// Shared path of the signed data endpoints.
async fn api_call(
    sim: &BrokerSim,
    conn: &Conn,
    endpoint: Endpoint,
    raw: Raw,
    body: impl FnOnce(&BrokerSim) -> Response,
) -> Response {
    let v = match signed(sim, conn, endpoint, &raw, Signer::AccessToken).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let config = sim.config();
    if !sim.within_rate_limit(&config.etrade_consumer_key) {
        return etrade_rate_limited();
    }
    match sim.use_access_token(v.token.as_deref().unwrap_or(""), &config, false) {
        Use::Ok => body(sim),
        Use::Fail(p) => sim.etrade_fail(p),
    }
}

/// `GET /v1/accounts/list` and `/v1/accounts/list.json`.
pub(crate) async fn accounts_list(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    api_call(&sim, &conn, Endpoint::EtradeAccountsList, raw, |_| {
        axum::Json(json!({
            "AccountListResponse": {"Accounts": {"Account": [{
                "accountId": "84010429",
                "accountIdKey": "JIdOIAcSpwR1Jva7RQBraQ",
                "accountMode": "MARGIN",
                "accountDesc": "Brokerage",
                "accountName": "Simulated",
                "accountType": "INDIVIDUAL",
                "institutionType": "BROKERAGE",
                "accountStatus": "ACTIVE",
                "closedDate": 0
            }]}}
        }))
        .into_response()
    })
    .await
}

/// `GET /v1/market/quote/{symbols}` (comma-separated, optional `.json`).
pub(crate) async fn quote(
    (State(sim), ConnectInfo(conn)): Ctx,
    Path(symbols): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = raw(method, uri, headers, body);
    let symbols = symbols.strip_suffix(".json").unwrap_or(&symbols).to_owned();
    api_call(&sim, &conn, Endpoint::EtradeQuote, raw, move |sim| {
        let list: Vec<&str> = symbols.split(',').filter(|s| !s.is_empty()).collect();
        if list.is_empty() || list.len() > 25 {
            return etrade_error(
                sim.config().etrade_error_style,
                StatusCode::BAD_REQUEST,
                "Invalid symbol list",
            );
        }
        let now = sim.now();
        let data: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let last = 100.0 + 7.25 * i as f64;
                json!({
                    "dateTime": now.with_timezone(&New_York).format("%H:%M:%S %Z %m-%d-%Y").to_string(),
                    "dateTimeUTC": now.timestamp(),
                    "quoteStatus": "REALTIME",
                    "ahFlag": "false",
                    "All": {"lastTrade": last, "bid": last - 0.01, "ask": last + 0.01, "totalVolume": 1_000_000},
                    "Product": {"symbol": s.to_ascii_uppercase(), "securityType": "EQ"}
                })
            })
            .collect();
        axum::Json(json!({"QuoteResponse": {"QuoteData": data}})).into_response()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_new_york_follows_dst() {
        // Winter: EST, midnight is 05:00 UTC.
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 20, 0, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 1, 16, 5, 0, 0).unwrap()
        );
        // 2026-03-08 is the spring-forward day: issued on the 7th (EST),
        // the day ends at 00:00 EST on the 8th; issued on the 8th after the
        // change, it ends at 00:00 EDT on the 9th (04:00 UTC).
        let t = Utc.with_ymd_and_hms(2026, 3, 8, 15, 0, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap()
        );
        // 2026-11-01 fall-back day: a 25-hour day; ends 00:00 EST on the 2nd.
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 4, 30, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 11, 2, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn verifiers_look_like_etrade_ones() {
        let v = new_verifier();
        assert_eq!(v.len(), 5);
        assert!(v
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }
}
