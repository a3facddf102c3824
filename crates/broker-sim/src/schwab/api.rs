//! `GET /trader/v1/accounts/accountNumbers`, Schwab-style faults, and the
//! programmatic login approval.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::{Endpoint, Fault};
use crate::responses::{render_fault, FaultOutcome};
use crate::server::Conn;
use crate::{lock, BrokerSim, RunningSim, SimError};

/// JSON with Schwab's content type and correlation header.
pub(crate) fn schwab_json(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(
        "schwab-client-correlid",
        HeaderValue::from_static("00000000-0000-4000-8000-000000000b51"),
    );
    r
}

/// The edge's intermittent "Access Denied" page.
fn access_denied() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html")],
        "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \
         You don't have permission to access \"http&#58;&#47;&#47;api&#46;schwabapi&#46;com&#47;v1&#47;oauth&#47;token\" on this server.<P>\n</BODY>\n</HTML>\n",
    )
        .into_response()
}

fn client_not_authorized() -> Response {
    schwab_json(
        StatusCode::UNAUTHORIZED,
        json!({"errors":[{"id":"5f0c1a9e-0000-4000-8000-000000000401","status":401,"title":"Unauthorized","detail":"Client not authorized"}]}),
    )
}

/// Counts the request and applies a queued fault in Schwab's terms: status
/// 403 is the edge "Access Denied" page, 429 carries `Retry-After`.
pub(crate) async fn before(sim: &BrokerSim, endpoint: Endpoint, conn: &Conn) -> Option<Response> {
    sim.inner.counters.hit(endpoint);
    let fault = lock(&sim.inner.faults).take(endpoint)?;
    let r = match fault {
        Fault::Status(403) => access_denied(),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            schwab_json(
                status,
                json!({"error": "server_error", "error_description": status.canonical_reason().unwrap_or("Error")}),
            )
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut r = schwab_json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"errors":[{"status":429,"title":"Too Many Requests"}]}),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Fault::Unauthorized(_) => client_not_authorized(),
        other => match render_fault(endpoint, other, sim.config().etrade_error_style) {
            FaultOutcome::Respond(r) => r,
            FaultOutcome::Delay(d) => {
                tokio::time::sleep(d).await;
                return None;
            }
            FaultOutcome::Drop => {
                conn.kill();
                Response::new(axum::body::Body::empty())
            }
        },
    };
    Some(r)
}

/// `GET /trader/v1/accounts/accountNumbers` with `Authorization: Bearer`.
pub(crate) async fn account_numbers(
    State(sim): State<BrokerSim>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = before(&sim, Endpoint::SchwabAccountNumbers, &conn).await {
        return r;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !lock(&sim.inner.schwab).access_ok(token, sim.now()) {
        return client_not_authorized();
    }
    schwab_json(
        StatusCode::OK,
        json!([{"accountNumber":"12345678","hashValue":"E5B8C5A1D4C3B2A19F8E7D6C5B4A39281706F5E4D3C2B1A0"}]),
    )
}

impl BrokerSim {
    /// Completes a Schwab login as if a person had: checks `client_id` and
    /// the exact `redirect_uri`, issues a one-time code, and returns the
    /// redirect URL `{redirect_uri}?code=C0...%40&session=...[&state=...]`.
    pub fn approve_schwab(
        &self,
        client_id: &str,
        redirect_uri: &str,
        state: Option<&str>,
    ) -> Result<String, SimError> {
        let cfg = self.config().schwab;
        if client_id != cfg.app_key {
            return Err(SimError::UnknownClientId);
        }
        if redirect_uri != cfg.callback_url {
            return Err(SimError::RedirectUriMismatch);
        }
        let code = lock(&self.inner.schwab).issue_code(redirect_uri, self.now());
        let mut url = url::Url::parse(redirect_uri).map_err(|_| SimError::RedirectUriMismatch)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("code", &code)
                .append_pair("session", "9d0c3c52-5a8c-4f62-b1c6-000000000001");
            if let Some(s) = state {
                q.append_pair("state", s);
            }
        }
        Ok(url.to_string())
    }

    /// [`BrokerSim::approve_schwab`] for an authorize URL as a client built
    /// it (its `client_id`, `redirect_uri` and `state`).
    pub fn approve_schwab_url(&self, authorize_url: &str) -> Result<String, SimError> {
        let url = url::Url::parse(authorize_url).map_err(|_| SimError::RedirectUriMismatch)?;
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        self.approve_schwab(
            q.get("client_id").map(String::as_str).unwrap_or(""),
            q.get("redirect_uri").map(String::as_str).unwrap_or(""),
            q.get("state").map(String::as_str),
        )
    }
}

impl RunningSim {
    /// The Schwab API host (`/v1/oauth/...`, `/trader/v1/...`).
    pub fn schwab_base_url(&self) -> String {
        self.base_url.clone()
    }
}

#[derive(Deserialize)]
struct Approve {
    authorize_url: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
}

/// `POST /__sim/schwab/approve` with `{"authorize_url": ...}` or
/// `{"client_id", "redirect_uri", "state"}`: `{"redirect_url": ...}`.
pub(crate) async fn approve_http(State(sim): State<BrokerSim>, body: Bytes) -> Response {
    let a: Approve = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("bad request body: {e}")})),
            )
                .into_response()
        }
    };
    let r = match &a.authorize_url {
        Some(u) => sim.approve_schwab_url(u),
        None => sim.approve_schwab(
            a.client_id.as_deref().unwrap_or(""),
            a.redirect_uri.as_deref().unwrap_or(""),
            a.state.as_deref(),
        ),
    };
    match r {
        Ok(url) => axum::Json(json!({"redirect_url": url})).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
