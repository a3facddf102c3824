//! The Zerodha Kite Connect v3 side (PROTOCOLS.md, "Zerodha Kite Connect
//! v3"), independent of the `kite` adapter: its own checksum and rules.
//!
//! - [`settings`]: api key and secret, redirect URL, the uncertain switches;
//! - [`state`]: single-use 5-minute request tokens, access tokens dying at
//!   the next 06:00 IST on the simulator clock;
//! - [`session`]: `/connect/login`, `POST`/`DELETE /session/token`,
//!   `/user/profile`;
//! - [`control`]: `/__sim/kite/approve`, `/__sim/kite/redirect`,
//!   `/__sim/kite/settings`.
//!
//! Every answer has `Content-Type: application/json` (the official client
//! fails without it) and every error is `{"status":"error","message":…,
//! "error_type":…}` (it fails without `error_type`).

mod control;
mod session;
pub mod settings;
mod state;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub(crate) use state::KiteState;

use crate::faults::{Fault, Rejection};
use crate::responses::FaultOutcome;
use crate::BrokerSim;

/// The Kite routes, merged into the simulator's router.
pub(crate) fn routes() -> Router<BrokerSim> {
    Router::new()
        .route("/connect/login", get(session::login))
        .route(
            "/session/token",
            post(session::session_token).delete(session::logout),
        )
        .route("/user/profile", get(session::profile))
        .route("/__sim/kite/approve", post(control::approve))
        .route("/__sim/kite/redirect", get(control::redirect))
        .route(
            "/__sim/kite/settings",
            get(control::settings).post(control::update_settings),
        )
}

/// `{"status":"error","message":…,"error_type":…}` with `status`.
pub(crate) fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body =
        json!({"status": "error", "message": message, "error_type": error_type, "data": null});
    (status, axum::Json(body)).into_response()
}

/// `{"status":"success","data":…}`.
pub(crate) fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// 403 TokenException.
pub(crate) fn token_exception(message: &str) -> Response {
    error(StatusCode::FORBIDDEN, "TokenException", message)
}

/// A fault in Kite's own shapes; `None` leaves it to the generic renderer
/// (delays, dropped connections, truncated and malformed bodies).
pub(crate) fn render_fault(fault: &Fault) -> Option<FaultOutcome> {
    let r = match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (ty, msg) = match code {
                400 => ("InputException", "Invalid input"),
                403 => ("TokenException", "Incorrect `api_key` or `access_token`."),
                429 => ("NetworkException", "Too many requests"),
                502..=504 => ("NetworkException", "Gateway error: please retry"),
                _ => ("GeneralException", "Something went wrong"),
            };
            error(status, ty, msg)
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "NetworkException",
                "Too many requests",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            r
        }
        Fault::Unauthorized(Rejection::Etrade(_) | Rejection::Fyers(_)) => {
            token_exception("Incorrect `api_key` or `access_token`.")
        }
        Fault::FyersPermissionError => error(
            StatusCode::FORBIDDEN,
            "PermissionException",
            "Insufficient permission for that call.",
        ),
        _ => return None,
    };
    Some(FaultOutcome::Respond(r))
}
