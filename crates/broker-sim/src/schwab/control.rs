//! `/__sim/schwab/settings`: read the demo app (key, secret, callback) and
//! switch the uncertain behaviours over HTTP (for out-of-process clients
//! such as the interop suite).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::BrokerSim;

fn view(sim: &BrokerSim) -> Response {
    let c = sim.config().schwab;
    Json(json!({
        "app_key": c.app_key,
        "app_secret": c.app_secret,
        "callback_url": c.callback_url,
        "rotation": c.rotation,
        "login_revokes_older": c.login_revokes_older,
        "refresh_revokes_access": c.refresh_revokes_access,
        "expired_refresh_status": c.expired_refresh_status,
        "code_ttl_seconds": c.code_ttl.num_seconds(),
        "access_ttl_seconds": c.access_ttl.num_seconds(),
        "refresh_ttl_seconds": c.refresh_ttl.num_seconds(),
    }))
    .into_response()
}

/// `GET /__sim/schwab/settings`.
pub(crate) async fn get_settings(State(sim): State<BrokerSim>) -> Response {
    view(&sim)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    rotation: Option<bool>,
    login_revokes_older: Option<bool>,
    refresh_revokes_access: Option<bool>,
    expired_refresh_status: Option<u16>,
}

/// `POST /__sim/schwab/settings` with any of `rotation`,
/// `login_revokes_older`, `refresh_revokes_access`, `expired_refresh_status`.
pub(crate) async fn set_settings(State(sim): State<BrokerSim>, body: Bytes) -> Response {
    let p: Patch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("bad request body: {e}")})),
            )
                .into_response()
        }
    };
    if p.expired_refresh_status
        .is_some_and(|s| !(400..=599).contains(&s))
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "expired_refresh_status must be 400..599"})),
        )
            .into_response();
    }
    sim.update_config(|c| {
        let s = &mut c.schwab;
        s.rotation = p.rotation.unwrap_or(s.rotation);
        s.login_revokes_older = p.login_revokes_older.unwrap_or(s.login_revokes_older);
        s.refresh_revokes_access = p.refresh_revokes_access.unwrap_or(s.refresh_revokes_access);
        s.expired_refresh_status = p.expired_refresh_status.unwrap_or(s.expired_refresh_status);
    });
    view(&sim)
}
