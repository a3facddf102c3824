//! The FYERS API v3 side: login redirect, auth-code and refresh-token
//! exchanges, profile and logout (PROTOCOLS.md, "FYERS").
//!
//! Tokens are HS256 JWTs signed with the simulator's key. Access tokens end
//! at 06:00 Asia/Kolkata on the calendar day after issue; refresh tokens at
//! 06:00 IST `fyers_refresh_token_days` days after issue.
//!
//! HTTP statuses: validation errors are 400, authentication failures (-16,
//! -15, -8) are 401, rate limiting (-429) is 429 with `Retry-After`. The
//! real API's exact statuses are not documented; these are the usual ones.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::SimConfig;
use crate::faults::Endpoint;
use crate::jwt;
use crate::responses::{fyers_error, fyers_message, fyers_rate_limited};
use crate::server::Conn;
use crate::{lock, BrokerSim};

#[derive(Debug)]
struct Issued {
    exp: DateTime<Utc>,
    revoked: bool,
}

/// FYERS token state.
#[derive(Debug, Default)]
pub(crate) struct FyersState {
    /// Auth code `uuid` claim → already used?
    auth_codes: HashMap<String, bool>,
    access_tokens: HashMap<String, Issued>,
    refresh_tokens: HashMap<String, Issued>,
}

/// Lowercase hex SHA-256 of `"{client_id}:{secret_key}"`.
pub fn app_id_hash(client_id: &str, secret_key: &str) -> String {
    let digest = Sha256::digest(format!("{client_id}:{secret_key}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 06:00 Asia/Kolkata on the calendar day `days` after `t`'s IST date.
pub fn ist_0600_after_days(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let date = t.with_timezone(&Kolkata).date_naive();
    let date = date
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(date);
    let six = NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN);
    // India has no DST: 06:00 always exists exactly once.
    Kolkata
        .from_local_datetime(&date.and_time(six))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(t)
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// `client_id` without its `-100` type suffix, as the `app_id` claim has it.
fn app_id(client_id: &str) -> &str {
    client_id.split_once('-').map_or(client_id, |(a, _)| a)
}

impl FyersState {
    pub(crate) fn issue_auth_code(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let uuid = random_hex(16);
        let iat = now.timestamp();
        let claims = json!({
            "iss": "api.login.fyers.in",
            "iat": iat,
            "exp": (now + config.fyers_auth_code_ttl).timestamp(),
            "nbf": iat,
            "aud": "[\"x:0\", \"x:1\", \"x:2\", \"d:1\", \"d:2\", \"x:1\", \"x:0\"]",
            "sub": "auth_code",
            "display_name": config.fyers_fy_id,
            "oms": "K1",
            "hsm_key": random_hex(12),
            "nonce": "",
            "app_id": app_id(&config.fyers_client_id),
            "uuid": uuid,
            "ipAddr": "127.0.0.1",
            "scope": ""
        });
        self.auth_codes.insert(uuid, false);
        jwt::encode(&claims, config.fyers_jwt_key.as_bytes())
    }

    fn issue_access(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let exp = ist_0600_after_days(now, 1);
        let t = mint_token(config, now, exp, "access_token");
        self.access_tokens.insert(
            t.clone(),
            Issued {
                exp,
                revoked: false,
            },
        );
        t
    }

    fn issue_refresh(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let exp = ist_0600_after_days(now, config.fyers_refresh_token_days);
        let t = mint_token(config, now, exp, "refresh_token");
        self.refresh_tokens.insert(
            t.clone(),
            Issued {
                exp,
                revoked: false,
            },
        );
        t
    }
}

/// An HS256 JWT with the claims the real access and refresh tokens carry;
/// `sub` says which one it is.
fn mint_token(config: &SimConfig, now: DateTime<Utc>, exp: DateTime<Utc>, sub: &str) -> String {
    let iat = now.timestamp();
    let claims = json!({
        "iss": "api.fyers.in",
        "iat": iat,
        "exp": exp.timestamp(),
        "nbf": iat,
        "aud": ["d:1", "d:2", "x:0", "x:1", "x:2"],
        "sub": sub,
        "at_hash": format!("gAAAAA{}", random_hex(24)),
        "display_name": "",
        "oms": "K1",
        "hsm_key": random_hex(12),
        "isDdpiEnabled": "N",
        "isMtfEnabled": "N",
        "fy_id": config.fyers_fy_id,
        "appType": 100,
        "poa_flag": "N"
    });
    jwt::encode(&claims, config.fyers_jwt_key.as_bytes())
}

/// `{redirect_uri}?s=ok&code=200&auth_code=...&state=...`.
pub(crate) fn redirect_url(redirect_uri: &str, auth_code: &str, state: &str) -> String {
    with_query(
        redirect_uri,
        &[
            ("s", "ok"),
            ("code", "200"),
            ("auth_code", auth_code),
            ("state", state),
        ],
    )
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("{base}?{q}")
        }
    }
}

fn bad(code: i32) -> Response {
    fyers_error(StatusCode::BAD_REQUEST, code, fyers_message(code))
}

fn unauthorized(code: i32) -> Response {
    fyers_error(StatusCode::UNAUTHORIZED, code, fyers_message(code))
}

fn ok(mut body: Value) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("s".into(), "ok".into());
        o.insert("code".into(), 200.into());
        o.entry("message").or_insert("".into());
    }
    axum::Json(body).into_response()
}

type Ctx = (State<BrokerSim>, ConnectInfo<Conn>);

/// `GET /api/v3/generate-authcode`: the login page. The simulated person
/// logs in at once, so it redirects straight to the app.
pub(crate) async fn generate_authcode(
    (State(sim), ConnectInfo(conn)): Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersGenerateAuthcode, &conn).await {
        return r;
    }
    let config = sim.config();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("redirect_uri") != config.fyers_redirect_uri {
        // Never redirect to an unregistered URI.
        return fyers_error(StatusCode::BAD_REQUEST, -352, "Invalid redirect_uri");
    }
    let state = get("state");
    let error = |message: &str| {
        let url = with_query(
            &config.fyers_redirect_uri,
            &[
                ("s", "error"),
                ("code", "-352"),
                ("message", message),
                ("state", state),
            ],
        );
        found(&url)
    };
    if get("client_id") != config.fyers_client_id {
        return error("Invalid app id");
    }
    if get("response_type") != "code" {
        return error("Invalid response_type");
    }
    match sim.approve_fyers(get("client_id"), get("redirect_uri"), state) {
        Ok(url) => found(&url),
        Err(_) => error("Invalid request"),
    }
}

fn found(url: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, url.to_owned())]).into_response()
}

fn body_json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `POST /api/v3/validate-authcode`.
pub(crate) async fn validate_authcode(
    (State(sim), ConnectInfo(conn)): Ctx,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersValidateAuthcode, &conn).await {
        return r;
    }
    let config = sim.config();
    let v = body_json(&body);
    if field(&v, "grant_type") != Some("authorization_code") {
        return bad(-441);
    }
    if field(&v, "appIdHash")
        != Some(app_id_hash(&config.fyers_client_id, &config.fyers_secret_key).as_str())
    {
        return bad(-371);
    }
    let Some(code) = field(&v, "code") else {
        return bad(-374);
    };
    let now = sim.now();
    let Ok(claims) = jwt::decode(code, config.fyers_jwt_key.as_bytes()) else {
        return bad(-437);
    };
    let uuid = claims.get("uuid").and_then(Value::as_str).unwrap_or("");
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let right_app =
        claims.get("app_id").and_then(Value::as_str) == Some(app_id(&config.fyers_client_id));
    let mut state = lock(&sim.inner.fyers);
    let fresh = matches!(state.auth_codes.get(uuid), Some(false));
    if claims.get("sub").and_then(Value::as_str) != Some("auth_code")
        || !right_app
        || !fresh
        || now.timestamp() >= exp
    {
        return bad(-437);
    }
    state.auth_codes.insert(uuid.to_owned(), true);
    let access = state.issue_access(&config, now);
    let refresh = state.issue_refresh(&config, now);
    drop(state);
    ok(json!({"access_token": access, "refresh_token": refresh}))
}

/// `POST /api/v3/validate-refresh-token`.
pub(crate) async fn validate_refresh_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersValidateRefreshToken, &conn).await {
        return r;
    }
    let config = sim.config();
    let v = body_json(&body);
    if field(&v, "grant_type") != Some("refresh_token") {
        return bad(-441);
    }
    if field(&v, "appIdHash")
        != Some(app_id_hash(&config.fyers_client_id, &config.fyers_secret_key).as_str())
    {
        return bad(-371);
    }
    if config.fyers_refresh_disabled {
        return fyers_error(
            StatusCode::BAD_REQUEST,
            -501,
            "Invalid refresh token: the refresh token flow is not available",
        );
    }
    let now = sim.now();
    let Some(refresh) = field(&v, "refresh_token") else {
        return bad(-501);
    };
    let valid_sig = jwt::decode(refresh, config.fyers_jwt_key.as_bytes())
        .is_ok_and(|c| c.get("sub").and_then(Value::as_str) == Some("refresh_token"));
    let mut state = lock(&sim.inner.fyers);
    let alive = state
        .refresh_tokens
        .get(refresh)
        .is_some_and(|r| !r.revoked && now < r.exp);
    if !valid_sig || !alive {
        return bad(-501);
    }
    if field(&v, "pin") != Some(config.fyers_pin.as_str()) {
        return fyers_error(StatusCode::BAD_REQUEST, -16, "Invalid PIN");
    }
    let access = state.issue_access(&config, now);
    if config.fyers_rotation {
        if let Some(old) = state.refresh_tokens.get_mut(refresh) {
            old.revoked = true;
        }
        let new_refresh = state.issue_refresh(&config, now);
        drop(state);
        return ok(json!({"access_token": access, "refresh_token": new_refresh}));
    }
    drop(state);
    ok(json!({"access_token": access}))
}

impl BrokerSim {
    /// Checks `Authorization: client_id:access_token`; returns the token.
    fn fyers_auth(&self, headers: &HeaderMap) -> Result<String, i32> {
        let config = self.config();
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let Some((client_id, token)) = value.split_once(':') else {
            return Err(-16);
        };
        if client_id != config.fyers_client_id {
            return Err(-16);
        }
        if jwt::decode(token, config.fyers_jwt_key.as_bytes()).is_err() {
            return Err(-15);
        }
        let now = self.now();
        let state = lock(&self.inner.fyers);
        match state.access_tokens.get(token) {
            Some(t) if !t.revoked && now < t.exp => Ok(token.to_owned()),
            _ => Err(-16),
        }
    }

    /// Per-client rate limit; the 429 carries the rest of the window.
    fn fyers_rate_check(&self) -> Option<Response> {
        let config = self.config();
        if self.within_rate_limit(&config.fyers_client_id) {
            return None;
        }
        let secs = config
            .rate_limit
            .map_or(1, |l| (l.window_millis.max(1000) / 1000) as u64);
        Some(fyers_rate_limited(secs))
    }
}

/// `GET /api/v3/profile`.
pub(crate) async fn profile((State(sim), ConnectInfo(conn)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersProfile, &conn).await {
        return r;
    }
    if let Some(r) = sim.fyers_rate_check() {
        return r;
    }
    if let Err(code) = sim.fyers_auth(&headers) {
        return unauthorized(code);
    }
    let config = sim.config();
    ok(json!({"data": {
        "fy_id": config.fyers_fy_id,
        "name": "SIM USER",
        "display_name": null,
        "image": null,
        "email_id": "sim.user@example.invalid",
        "PAN": "AAAPZ0000Z",
        "pin_change_date": "01-01-2026 00:00:00",
        "pwd_change_date": null,
        "mobile_number": "9999999999",
        "totp": false,
        "pwd_to_expire": 90,
        "ddpi_enabled": false,
        "mtf_enabled": false
    }}))
}

/// `POST /api/v3/logout`: the access token stops working.
pub(crate) async fn logout((State(sim), ConnectInfo(conn)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersLogout, &conn).await {
        return r;
    }
    let token = match sim.fyers_auth(&headers) {
        Ok(t) => t,
        Err(code) => return unauthorized(code),
    };
    if let Some(t) = lock(&sim.inner.fyers).access_tokens.get_mut(&token) {
        t.revoked = true;
    }
    ok(json!({"message": "Logout successful"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_hash_matches_the_protocol_vector() {
        assert_eq!(
            app_id_hash("app_id", "app_secret"),
            "7c7120d2b5004f8de22d8dc2da0453b4d7e6211e37a4108b8371266ecff00498"
        );
    }

    #[test]
    fn access_tokens_end_at_0600_ist_on_the_next_calendar_day() {
        // 2026-03-06 02:00 IST = 2026-03-05 20:30 UTC: still the 7th at 06:00 IST.
        let t = Utc.with_ymd_and_hms(2026, 3, 5, 20, 30, 0).unwrap();
        assert_eq!(
            ist_0600_after_days(t, 1),
            Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap()
        );
        let t = Utc.with_ymd_and_hms(2026, 3, 6, 12, 0, 0).unwrap();
        assert_eq!(
            ist_0600_after_days(t, 15),
            Utc.with_ymd_and_hms(2026, 3, 21, 0, 30, 0).unwrap()
        );
    }

    #[test]
    fn redirect_url_keeps_existing_query_and_encodes() {
        assert_eq!(
            redirect_url("https://app.example/cb?x=1", "a.b.c", "s t"),
            "https://app.example/cb?x=1&s=ok&code=200&auth_code=a.b.c&state=s+t"
        );
    }
}
