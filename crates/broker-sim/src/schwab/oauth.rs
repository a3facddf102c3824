//! `GET /v1/oauth/authorize` (the login page) and `POST /v1/oauth/token`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use super::api::{before, schwab_json};
use super::state::{CodeRefusal, Issued, RefreshRefusal};
use crate::faults::Endpoint;
use crate::server::Conn;
use crate::{lock, BrokerSim};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    schwab_json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// `GET /v1/oauth/authorize`: checks `client_id` and the exact
/// `redirect_uri` (query-decoded, so raw or encoded both work), then shows
/// a page; a test approves through the control API.
pub(crate) async fn authorize(
    State(sim): State<BrokerSim>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = before(&sim, Endpoint::SchwabAuthorize, &conn).await {
        return r;
    }
    let cfg = sim.config().schwab;
    if q.get("client_id") != Some(&cfg.app_key) || q.get("redirect_uri") != Some(&cfg.callback_url)
    {
        // Schwab shows "Access Denied" after sign-in on a callback mismatch.
        return (
            StatusCode::FORBIDDEN,
            Html("<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>client_id or redirect_uri does not match the app registration (broker-sim)</BODY></HTML>"),
        )
            .into_response();
    }
    Html(
        "<html><head><title>Schwab login (broker-sim)</title></head><body>\
         <p>Simulated Charles Schwab login. Approve it with POST /__sim/schwab/approve \
         {\"authorize_url\": \"...\"}; the answer holds the redirect URL.</p></body></html>",
    )
    .into_response()
}

/// Checks `Authorization: Basic base64(app_key:app_secret)`.
fn basic_ok(headers: &HeaderMap, key: &str, secret: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .is_some_and(|pair| pair == format!("{key}:{secret}"))
}

fn issued(cfg_ttl: chrono::Duration, t: Issued) -> Response {
    schwab_json(
        StatusCode::OK,
        json!({
            "expires_in": cfg_ttl.num_seconds(),
            "token_type": "Bearer",
            "scope": "api",
            "refresh_token": t.refresh_token,
            "access_token": t.access_token,
            "id_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJicm9rZXItc2ltIn0.",
        }),
    )
}

/// `POST /v1/oauth/token`: `authorization_code` and `refresh_token` grants.
pub(crate) async fn token(
    State(sim): State<BrokerSim>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = before(&sim, Endpoint::SchwabToken, &conn).await {
        return r;
    }
    let cfg = sim.config().schwab;
    if !basic_ok(&headers, &cfg.app_key, &cfg.app_secret) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "form body expected",
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let now = sim.now();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    match get("grant_type") {
        "authorization_code" => {
            let r = lock(&sim.inner.schwab).redeem_code(get("code"), get("redirect_uri"), now, &cfg);
            match r {
                Ok(t) => issued(cfg.access_ttl, t),
                // UNCERTAIN: no capture of the real body exists.
                Err(why) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    match why {
                        CodeRefusal::Unknown => "authorization code unknown",
                        CodeRefusal::Used => "authorization code already used",
                        CodeRefusal::Expired => "authorization code expired",
                        CodeRefusal::RedirectMismatch => "redirect_uri mismatch",
                    },
                ),
            }
        }
        "refresh_token" => match lock(&sim.inner.schwab).refresh(get("refresh_token"), now, &cfg) {
            Ok(t) => issued(cfg.access_ttl, t),
            Err(RefreshRefusal::Expired) => oauth_error(
                StatusCode::from_u16(cfg.expired_refresh_status).unwrap_or(StatusCode::BAD_REQUEST),
                "invalid_client",
                "refresh token invalid",
            ),
            Err(RefreshRefusal::Authentication) => oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_token_type",
                "400 Bad Request: \"{\"error_description\":\"Exception while authenticating refresh token [tokenDigest=c2ltLWRpZ2VzdA, Exception=Failed refresh token authentication [tokenDigest=c2ltLWRpZ2VzdA]]\",\"error\":\"refresh_token_authentication_error\"}\"",
            ),
        },
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        ),
    }
}
