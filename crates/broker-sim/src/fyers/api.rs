//! The calls that need a live access token (`Authorization:
//! client_id:access_token`): `GET /api/v3/profile`, the cheap probe, and
//! `POST /api/v3/logout`.

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde_json::json;

use super::{ok, unauthorized, Ctx};
use crate::faults::Endpoint;
use crate::responses::{fyers_answer, fyers_rate_limited};
use crate::{jwt, lock, BrokerSim};

/// Why an `Authorization` header was refused.
enum Refused {
    /// Missing, foreign or malformed: 401 with this code.
    Code(i32),
    /// Expired, revoked or unknown: `fyers_answers.dead_token`.
    Dead,
}

impl BrokerSim {
    /// The answer for a refused `Authorization` header.
    fn refusal(&self, r: Refused) -> Response {
        match r {
            Refused::Code(code) => unauthorized(code),
            Refused::Dead => fyers_answer(&self.config().fyers_answers.dead_token),
        }
    }

    /// Checks `Authorization: client_id:access_token`; returns the token.
    fn fyers_auth(&self, headers: &HeaderMap) -> Result<String, Refused> {
        let config = self.config();
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let Some((client_id, token)) = value.split_once(':') else {
            return Err(Refused::Code(-16));
        };
        if client_id != config.fyers_client_id {
            return Err(Refused::Code(-16));
        }
        if jwt::decode(token, config.fyers_jwt_key.as_bytes()).is_err() {
            return Err(Refused::Code(-15));
        }
        let now = self.now();
        let state = lock(&self.inner.fyers);
        match state.access_tokens.get(token) {
            Some(t) if !t.revoked && now < t.exp => Ok(token.to_owned()),
            _ => Err(Refused::Dead),
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
    if let Err(r) = sim.fyers_auth(&headers) {
        return sim.refusal(r);
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
        Err(r) => return sim.refusal(r),
    };
    if let Some(t) = lock(&sim.inner.fyers).access_tokens.get_mut(&token) {
        t.revoked = true;
    }
    ok(json!({"message": "Logout successful"}))
}
