//! Routing, and the HTTP control API under `/__sim/`.
//!
//! | method | path | body → answer |
//! |---|---|---|
//! | GET | `/__sim/clock` | → `{"now":RFC3339,"shares_manual_clock":bool}` |
//! | POST | `/__sim/clock/advance` | `{"seconds":N}` or `{"millis":N}` → clock |
//! | POST | `/__sim/clock/set` | `{"now":RFC3339}` → clock |
//! | POST | `/__sim/etrade/approve` | `{"request_token":T}` → `{"verifier":V}` |
//! | POST | `/__sim/fyers/approve` | `{"client_id","redirect_uri","state"}` → `{"redirect_url":U}` |
//! | POST | `/__sim/faults` | `{"endpoint":E,"fault":FaultSpec,"times":N?}` (no `times`: until cleared) |
//! | DELETE | `/__sim/faults` | clears all faults |
//! | GET | `/__sim/counters` | → `{"etrade_renew":N,...}` |
//! | DELETE | `/__sim/counters` | resets counters |
//! | GET | `/__sim/settings` | → current switches |
//! | POST | `/__sim/settings` | any of `fyers_rotation`, `fyers_refresh_disabled`, `etrade_error_style`, `etrade_timestamp_clock`, `etrade_legacy_token_errors`, `etrade_registered_callback` (`""` clears), `rate_limit`, `clear_rate_limit`, `fyers_refresh_refused`, `fyers_wrong_pin`, `fyers_expired_refresh`, `fyers_dead_token` |
//! | GET | `/__sim/credentials` | → demo URLs and credentials |

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{EtradeErrorStyle, FyersAnswer, RateLimit, TimestampClock};
use crate::faults::{Endpoint, FaultSpec, Times};
use crate::{etrade, fyers, BrokerSim};

/// Every route: both brokers and the control API.
pub(crate) fn router(sim: BrokerSim) -> Router {
    Router::new()
        .route("/oauth/request_token", any(etrade::request_token))
        .route("/oauth/access_token", any(etrade::access_token))
        .route("/oauth/renew_access_token", any(etrade::renew))
        .route("/oauth/revoke_access_token", any(etrade::revoke))
        .route("/e/t/etws/authorize", get(etrade::authorize))
        .route("/v1/accounts/list", get(etrade::accounts_list))
        .route("/v1/accounts/list.json", get(etrade::accounts_list))
        .route("/v1/market/quote/{symbols}", get(etrade::quote))
        .route("/api/v3/generate-authcode", get(fyers::generate_authcode))
        .route("/api/v3/validate-authcode", post(fyers::validate_authcode))
        .route(
            "/api/v3/validate-refresh-token",
            post(fyers::validate_refresh_token),
        )
        .route("/api/v3/profile", get(fyers::profile))
        .route("/api/v3/logout", post(fyers::logout))
        .route("/__sim/clock", get(clock))
        .route("/__sim/clock/advance", post(advance))
        .route("/__sim/clock/set", post(set_clock))
        .route("/__sim/etrade/approve", post(approve_etrade))
        .route("/__sim/etrade/revoke", post(revoke_etrade))
        .route("/__sim/fyers/approve", post(approve_fyers))
        .route("/__sim/faults", post(inject).delete(clear))
        .route("/__sim/counters", get(counters).delete(reset_counters))
        .route("/__sim/settings", get(settings).post(update_settings))
        .route("/__sim/credentials", get(credentials))
        .merge(crate::schwab::routes())
        .merge(crate::kite::routes())
        .fallback(not_found)
        .with_state(sim)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"s":"error","code":404,"message":"Not Found"})),
    )
        .into_response()
}

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// Parses a JSON body, answering 400 (never panicking) on bad input.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, BadBody> {
    serde_json::from_slice(body).map_err(|e| BadBody(e.to_string()))
}

/// A control request body that did not parse.
struct BadBody(String);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        control_error(
            StatusCode::BAD_REQUEST,
            format!("bad request body: {}", self.0),
        )
    }
}

fn clock_json(sim: &BrokerSim) -> Json<Value> {
    Json(json!({"now": sim.now().to_rfc3339(), "shares_manual_clock": sim.shares_manual_clock()}))
}

async fn clock(State(sim): State<BrokerSim>) -> Json<Value> {
    clock_json(&sim)
}

#[derive(Deserialize)]
struct Advance {
    seconds: Option<i64>,
    millis: Option<i64>,
}

async fn advance(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let a: Advance = match parse(&body) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let ms = a
        .seconds
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(0)
        .saturating_add(a.millis.unwrap_or(0));
    let Some(by) = Duration::try_milliseconds(ms) else {
        return control_error(StatusCode::BAD_REQUEST, "duration out of range");
    };
    sim.advance(by);
    clock_json(&sim).into_response()
}

#[derive(Deserialize)]
struct SetClock {
    now: DateTime<Utc>,
}

async fn set_clock(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    match parse::<SetClock>(&body) {
        Ok(s) => {
            sim.set_time(s.now);
            clock_json(&sim).into_response()
        }
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
struct ApproveEtrade {
    request_token: String,
}

async fn approve_etrade(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let a: ApproveEtrade = match parse(&body) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match sim.approve_etrade(&a.request_token) {
        Ok(v) => Json(json!({"verifier": v})).into_response(),
        Err(e) => control_error(StatusCode::NOT_FOUND, e.to_string()),
    }
}

async fn revoke_etrade(State(sim): State<BrokerSim>) -> Json<Value> {
    Json(json!({"revoked": sim.revoke_etrade_access_tokens()}))
}

#[derive(Deserialize)]
struct ApproveFyers {
    client_id: String,
    redirect_uri: String,
    #[serde(default)]
    state: String,
}

async fn approve_fyers(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let a: ApproveFyers = match parse(&body) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    match sim.approve_fyers(&a.client_id, &a.redirect_uri, &a.state) {
        Ok(url) => Json(json!({"redirect_url": url})).into_response(),
        Err(e) => control_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Deserialize)]
struct Inject {
    endpoint: Endpoint,
    fault: FaultSpec,
    times: Option<u32>,
}

async fn inject(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let i: Inject = match parse(&body) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    let times = i.times.map_or(Times::UntilCleared, Times::N);
    sim.inject_fault(i.endpoint, i.fault.into(), times);
    Json(json!({"ok": true})).into_response()
}

async fn clear(State(sim): State<BrokerSim>) -> Json<Value> {
    sim.clear_faults();
    Json(json!({"ok": true}))
}

async fn counters(State(sim): State<BrokerSim>) -> Json<Value> {
    let map: serde_json::Map<String, Value> = Endpoint::ALL
        .iter()
        .map(|e| (e.name(), Value::from(sim.calls(*e))))
        .collect();
    Json(Value::Object(map))
}

async fn reset_counters(State(sim): State<BrokerSim>) -> Json<Value> {
    sim.reset_counters();
    Json(json!({"ok": true}))
}

fn settings_json(sim: &BrokerSim) -> Json<Value> {
    let c = sim.config();
    Json(json!({
        "fyers_rotation": c.fyers_rotation,
        "fyers_refresh_disabled": c.fyers_refresh_disabled,
        "etrade_error_style": c.etrade_error_style,
        "etrade_timestamp_clock": c.etrade_timestamp_clock,
        "etrade_legacy_token_errors": c.etrade_legacy_token_errors,
        "etrade_registered_callback": c.etrade_registered_callback,
        "rate_limit": c.rate_limit,
        "fyers_refresh_refused": c.fyers_answers.refresh_refused,
        "fyers_wrong_pin": c.fyers_answers.wrong_pin,
        "fyers_expired_refresh": c.fyers_answers.expired_refresh,
        "fyers_dead_token": c.fyers_answers.dead_token,
    }))
}

async fn settings(State(sim): State<BrokerSim>) -> Json<Value> {
    settings_json(&sim)
}

#[derive(Deserialize)]
struct Settings {
    fyers_rotation: Option<bool>,
    fyers_refresh_disabled: Option<bool>,
    etrade_error_style: Option<EtradeErrorStyle>,
    etrade_timestamp_clock: Option<TimestampClock>,
    etrade_legacy_token_errors: Option<bool>,
    /// A URL registers a callback; `""` removes it.
    etrade_registered_callback: Option<String>,
    fyers_refresh_refused: Option<FyersAnswer>,
    fyers_wrong_pin: Option<FyersAnswer>,
    fyers_expired_refresh: Option<FyersAnswer>,
    fyers_dead_token: Option<FyersAnswer>,
    /// `null` is "no change"; `{"max_requests":0,...}` effectively blocks.
    rate_limit: Option<RateLimit>,
    /// Set true to remove the rate limit.
    #[serde(default)]
    clear_rate_limit: bool,
}

async fn update_settings(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let s: Settings = match parse(&body) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    if let Some(v) = s.fyers_rotation {
        sim.set_fyers_rotation(v);
    }
    if let Some(v) = s.fyers_refresh_disabled {
        sim.set_fyers_refresh_disabled(v);
    }
    if let Some(v) = s.etrade_error_style {
        sim.set_etrade_error_style(v);
    }
    sim.update_config(|c| {
        if let Some(v) = s.etrade_timestamp_clock {
            c.etrade_timestamp_clock = v;
        }
        if let Some(v) = s.etrade_legacy_token_errors {
            c.etrade_legacy_token_errors = v;
        }
        if let Some(v) = s.etrade_registered_callback {
            c.etrade_registered_callback = Some(v).filter(|v| !v.is_empty());
        }
        let a = &mut c.fyers_answers;
        for (slot, v) in [
            (&mut a.refresh_refused, s.fyers_refresh_refused),
            (&mut a.wrong_pin, s.fyers_wrong_pin),
            (&mut a.expired_refresh, s.fyers_expired_refresh),
            (&mut a.dead_token, s.fyers_dead_token),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
    });
    if s.rate_limit.is_some() || s.clear_rate_limit {
        sim.set_rate_limit(s.rate_limit);
    }
    settings_json(&sim).into_response()
}

async fn credentials(State(sim): State<BrokerSim>) -> Response {
    let base = sim.inner.base_url.get().cloned().unwrap_or_default();
    Json(sim.credentials_for(&base)).into_response()
}
