//! The Kite wire endpoints.

use std::collections::HashMap;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono_tz::Asia::Kolkata;
use serde_json::json;

use super::state::ExchangeError;
use super::{error, success, token_exception};
use crate::faults::Endpoint;
use crate::server::Conn;
use crate::BrokerSim;

type Ctx = (State<BrokerSim>, ConnectInfo<Conn>);

/// 400 InputException unless `X-Kite-Version: 3` is present (when required).
fn version_missing(sim: &BrokerSim, headers: &HeaderMap) -> Option<Response> {
    let required = sim.config().kite.require_version_header;
    let ok = headers
        .get("x-kite-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "3");
    (required && !ok).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "InputException",
            "Missing or invalid `X-Kite-Version` header: send `X-Kite-Version: 3`.",
        )
    })
}

/// `GET /connect/login?v=3&api_key=…`: the login page. The simulated
/// person logs in when the control API approves
/// (`POST /__sim/kite/approve`), which yields the redirect URL.
pub(crate) async fn login(
    (State(sim), ConnectInfo(conn)): Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::KiteLogin, &conn).await {
        return r;
    }
    if q.get("api_key").map(String::as_str) != Some(sim.config().kite.api_key.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "InputException",
            "Invalid `api_key`.",
        );
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html><head><title>Kite - Zerodha (broker-sim)</title></head>\
         <body><h1>Login to Kite</h1><p>broker-sim: approve this login with \
         POST /__sim/kite/approve, then read the redirect URL.</p></body></html>",
    )
        .into_response()
}

/// `POST /session/token`: the request-token exchange.
pub(crate) async fn session_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::KiteSessionToken, &conn).await {
        return r;
    }
    if let Some(r) = version_missing(&sim, &headers) {
        return r;
    }
    let c = sim.config().kite;
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    for field in ["api_key", "request_token", "checksum"] {
        if get(field).is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InputException",
                &format!("Missing `{field}`."),
            );
        }
    }
    if get("api_key") != c.api_key {
        return token_exception("Invalid `api_key`.");
    }
    let now = sim.now();
    let answer = sim.kite_state().exchange(
        &c.api_key,
        &c.api_secret,
        get("request_token"),
        get("checksum"),
        c.request_token_ttl,
        c.same_day_same_token,
        now,
    );
    let access_token = match answer {
        Ok((t, _)) => t,
        Err(ExchangeError::BadChecksum) => return token_exception("Invalid `checksum`."),
        Err(ExchangeError::StaleToken) => {
            return token_exception("Token is invalid or has expired.")
        }
    };
    let login_time = now
        .with_timezone(&Kolkata)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    success(json!({
        "user_type": "individual",
        "email": "sim@example.invalid",
        "user_name": "Sim User",
        "user_shortname": "Sim",
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO"],
        "products": ["CNC", "NRML", "MIS"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": null,
        "user_id": c.user_id,
        "api_key": c.api_key,
        "access_token": access_token,
        "public_token": format!("pub{}", &access_token[..8]),
        "enctoken": "",
        "refresh_token": "",
        "silo": "",
        "login_time": login_time,
        "meta": {"demat_consent": "physical"},
    }))
}

/// The access token from `Authorization: token api_key:access_token`, when
/// the api_key is the app's.
fn bearer(sim: &BrokerSim, headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (key, token) = v.strip_prefix("token ")?.split_once(':')?;
    (key == sim.config().kite.api_key).then(|| token.to_owned())
}

/// `GET /user/profile`.
pub(crate) async fn profile((State(sim), ConnectInfo(conn)): Ctx, headers: HeaderMap) -> Response {
    if let Some(r) = sim.before(Endpoint::KiteProfile, &conn).await {
        return r;
    }
    if let Some(r) = version_missing(&sim, &headers) {
        return r;
    }
    let live = bearer(&sim, &headers).is_some_and(|t| sim.kite_state().live(&t, sim.now()));
    if !live {
        return token_exception("Incorrect `api_key` or `access_token`.");
    }
    let c = sim.config().kite;
    success(json!({
        "user_id": c.user_id,
        "user_type": "individual",
        "email": "sim@example.invalid",
        "user_name": "Sim User",
        "user_shortname": "Sim",
        "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO"],
        "products": ["CNC", "NRML", "MIS"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"],
        "avatar_url": null,
        "meta": {"demat_consent": "physical"},
    }))
}

/// `DELETE /session/token?api_key=…&access_token=…`.
pub(crate) async fn logout(
    (State(sim), ConnectInfo(conn)): Ctx,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::KiteLogout, &conn).await {
        return r;
    }
    if let Some(r) = version_missing(&sim, &headers) {
        return r;
    }
    if q.get("api_key").map(String::as_str) != Some(sim.config().kite.api_key.as_str()) {
        return token_exception("Invalid `api_key`.");
    }
    let token = q.get("access_token").map(String::as_str).unwrap_or("");
    if sim.kite_state().revoke(token, sim.now()) {
        success(json!(true))
    } else {
        token_exception("Incorrect `api_key` or `access_token`.")
    }
}
