//! The Kite control API: approve a login as a person would, read the
//! redirect URL, and change the Kite settings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::settings::KiteSimConfig;
use crate::BrokerSim;

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

/// `POST /__sim/kite/approve` (`{}` or `{"api_key":K}`) →
/// `{"redirect_url":U}`.
pub(crate) async fn approve(State(sim): State<BrokerSim>, body: axum::body::Bytes) -> Response {
    let v: serde_json::Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return bad("body must be JSON: {} or {\"api_key\":K}"),
        }
    };
    let key = v
        .get("api_key")
        .and_then(|k| k.as_str())
        .map_or_else(|| sim.config().kite.api_key, str::to_owned);
    match sim.approve_kite(&key) {
        Ok(url) => Json(json!({"redirect_url": url})).into_response(),
        Err(e) => bad(&e.to_string()),
    }
}

/// `GET /__sim/kite/redirect` → `{"redirect_url":U|null}` (the last one).
pub(crate) async fn redirect(State(sim): State<BrokerSim>) -> Response {
    let url = sim.kite_state().last_redirect.clone();
    Json(json!({"redirect_url": url})).into_response()
}

/// `GET /__sim/kite/settings` → the Kite settings (demo secret included).
pub(crate) async fn settings(State(sim): State<BrokerSim>) -> Response {
    Json(sim.config().kite).into_response()
}

/// `POST /__sim/kite/settings` with any fields of the settings (missing
/// fields keep their current values) → the new settings.
pub(crate) async fn update_settings(
    State(sim): State<BrokerSim>,
    body: axum::body::Bytes,
) -> Response {
    let mut current = match serde_json::to_value(sim.config().kite) {
        Ok(v) => v,
        Err(_) => return bad("cannot read the settings"),
    };
    let patch: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Object(m)) => serde_json::Value::Object(m),
        _ => return bad("body must be a JSON object of Kite settings"),
    };
    if let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            cur.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<KiteSimConfig>(current) {
        Ok(new) => {
            sim.update_config(|c| c.kite = new.clone());
            Json(new).into_response()
        }
        Err(e) => bad(&format!("bad Kite settings: {e}")),
    }
}

impl BrokerSim {
    /// Completes a Kite login as if a person had: issues a single-use
    /// request token and returns the redirect URL
    /// (`{redirect_url}?action=login&type=login&status=success&request_token=…`).
    pub fn approve_kite(&self, api_key: &str) -> Result<String, crate::SimError> {
        let c = self.config().kite;
        if api_key != c.api_key {
            return Err(crate::SimError::UnknownKiteApiKey);
        }
        let now = self.now();
        let mut state = self.kite_state();
        let token = state.issue_request_token(now);
        let pairs = [
            ("action", "login"),
            ("type", "login"),
            ("status", "success"),
            ("request_token", token.as_str()),
        ];
        let url = match url::Url::parse(&c.redirect_url) {
            Ok(mut u) => {
                u.query_pairs_mut().extend_pairs(pairs);
                u.to_string()
            }
            Err(_) => format!(
                "{}?{}",
                c.redirect_url,
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            ),
        };
        state.last_redirect = Some(url.clone());
        Ok(url)
    }

    /// The Kite state, locked.
    pub(crate) fn kite_state(&self) -> std::sync::MutexGuard<'_, super::KiteState> {
        crate::lock(&self.inner.kite)
    }
}
