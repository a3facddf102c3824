//! The two token exchanges: `POST /api/v3/validate-authcode` (auth code →
//! access + refresh token) and `POST /api/v3/validate-refresh-token`
//! (refresh token + PIN → access token), the latter possibly discontinued
//! by the broker (PROTOCOLS.md, "Refresh may be gone").

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::tokens::{app_id, app_id_hash};
use super::{bad, ok, Ctx};
use crate::faults::Endpoint;
use crate::jwt;
use crate::lock;
use crate::responses::fyers_answer;

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

/// `POST /api/v3/validate-refresh-token`. With `fyers_refresh_disabled` it
/// answers `fyers_answers.refresh_refused`; an expired or unknown refresh
/// token gets `fyers_answers.expired_refresh`, a wrong PIN
/// `fyers_answers.wrong_pin`.
pub(crate) async fn validate_refresh_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    body: Bytes,
) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersValidateRefreshToken, &conn).await {
        return r;
    }
    let config = sim.config();
    let answers = &config.fyers_answers;
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
        return fyers_answer(&answers.refresh_refused);
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
        return fyers_answer(&answers.expired_refresh);
    }
    if field(&v, "pin") != Some(config.fyers_pin.as_str()) {
        return fyers_answer(&answers.wrong_pin);
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
