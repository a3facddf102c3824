//! The page at `/` for the person who keeps the bots alive, and its session
//! routes. The page and its assets are embedded (no CDN); they hold no
//! account data: everything comes from the authed JSON routes after
//! sign-in.
//!
//! | route | what |
//! |---|---|
//! | `GET /`, `GET /assets/{app.js,app.css}` | the page (open, read budget) |
//! | `POST /session` `{"token":"…"}` | sign in: sets the session cookie, answers `{"csrf":"…"}` |
//! | `GET /session` | `{"signed_in":bool,"csrf":…}` for the page after a reload |
//! | `POST /session/end` | sign out (session + CSRF header) |

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::guard::Route;
use super::session::{clear_cookie, over_https, set_cookie};
use super::{AppState, ClientIp, ErrorBody};

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const APP_CSS: &str = include_str!("../../assets/app.css");

/// Only the page's own scripts, styles and requests; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers every page response carries.
fn hardened(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    r
}

fn asset(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    kind: &'static str,
    body: &'static str,
) -> Response {
    if let Err(r) = state.guard.admit(Route::Read { open: true }, headers, ip.0) {
        return *r;
    }
    hardened(([(header::CONTENT_TYPE, kind)], body).into_response())
}

/// `GET /`.
pub(crate) async fn index(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    asset(&state, ip, &headers, "text/html; charset=utf-8", INDEX_HTML)
}

/// The embedded assets: name, content type, content.
const ASSETS: [(&str, &str, &str); 2] = [
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("app.css", "text/css; charset=utf-8", APP_CSS),
];

/// `GET /assets/{name}`: `app.js`, `app.css`.
pub(crate) async fn assets(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => asset(&state, ip, &headers, kind, body),
        None => hardened(StatusCode::NOT_FOUND.into_response()),
    }
}

#[derive(Deserialize)]
struct SignIn {
    token: SecretString,
}

#[derive(Serialize)]
struct SessionInfo {
    signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

fn bad_request(error: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
}

/// `POST /session`: sign in with the control token.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = serde_json::from_slice::<SignIn>(&body) else {
        return hardened(bad_request(
            "send JSON {\"token\": \"<the control token>\"} (the page at / does this)",
        ));
    };
    let session = match state.guard.sign_in(&form.token, &headers, ip.0) {
        Ok(s) => s,
        Err(r) => return hardened(*r),
    };
    let cookie = set_cookie(&session.id, over_https(&headers, state.allow_remote));
    let mut r = Json(SessionInfo {
        signed_in: true,
        csrf: Some(session.csrf),
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    hardened(r)
}

/// `GET /session`: whether this browser is signed in, and its CSRF token.
pub(crate) async fn session(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = state
        .guard
        .admit(Route::Read { open: true }, &headers, ip.0)
    {
        return *r;
    }
    let csrf = state.guard.sessions().csrf(&headers);
    hardened(
        Json(SessionInfo {
            signed_in: csrf.is_some(),
            csrf,
        })
        .into_response(),
    )
}

/// `POST /session/end`: sign out.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = state.guard.admit(Route::Mutation, &headers, ip.0) {
        return hardened(*r);
    }
    let ended = state.guard.sessions().close(&headers);
    let mut r = Json(SessionInfo {
        signed_in: false,
        csrf: None,
    })
    .into_response();
    if ended {
        let clear = clear_cookie(over_https(&headers, state.allow_remote));
        if let Ok(v) = HeaderValue::from_str(&clear) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    hardened(r)
}
