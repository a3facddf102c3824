//! The FYERS API v3 side: login redirect, auth-code and refresh-token
//! exchanges, profile and logout (PROTOCOLS.md, "FYERS").
//!
//! - [`tokens`]: JWT minting, lifetimes and token state;
//! - [`login`]: the login URL that redirects with an auth code;
//! - [`exchange`]: `validate-authcode` and `validate-refresh-token`;
//! - [`api`]: `profile` and `logout`, which need a live access token.
//!
//! HTTP statuses: validation errors are 400, authentication failures (-16,
//! -15, -8) are 401, rate limiting (-429) is 429 with `Retry-After` and
//! `X-Retry-After-Ms`. The real API's statuses and several codes are not
//! documented: those are settings (`SimConfig::fyers_answers`).

mod api;
mod exchange;
mod login;
mod tokens;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub(crate) use api::{logout, profile};
pub(crate) use exchange::{validate_authcode, validate_refresh_token};
pub(crate) use login::{generate_authcode, redirect_url};
pub(crate) use tokens::FyersState;

use crate::responses::{fyers_error, fyers_message};
use crate::server::Conn;
use crate::BrokerSim;

/// What every FYERS handler extracts first.
type Ctx = (State<BrokerSim>, ConnectInfo<Conn>);

/// HTTP 400 with `code` and its usual message.
fn bad(code: i32) -> Response {
    fyers_error(StatusCode::BAD_REQUEST, code, fyers_message(code))
}

/// HTTP 401 with `code` and its usual message.
fn unauthorized(code: i32) -> Response {
    fyers_error(StatusCode::UNAUTHORIZED, code, fyers_message(code))
}

/// `{"s":"ok","code":200,"message":"",...body}`.
fn ok(mut body: Value) -> Response {
    if let Some(o) = body.as_object_mut() {
        o.insert("s".into(), "ok".into());
        o.insert("code".into(), 200.into());
        o.entry("message").or_insert("".into());
    }
    axum::Json(body).into_response()
}
