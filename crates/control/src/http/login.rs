//! Logging an account in over HTTP: the same one login in progress that the
//! daemon's alert, `tokenctl login` and Telegram show (token-core's
//! `PendingLogins`), started, returned and finished here.
//!
//! | route | auth | answers |
//! |---|---|---|
//! | `POST /login/{account}` | bearer or page session + CSRF | 200 `{"account","url","expects","instructions","expires_at","replaced","captured"}`; 404 unknown account; 409 the broker cannot authorize |
//! | `POST /login/{account}/complete` with `{"code": "..."}` (at most 8 KiB) | bearer or page session + CSRF | 200 `{"account","authorized":true}`; 422 `{"error","remedy"}` refused; 410 `{"error","url"}` expired (a new URL); 409 no login in progress; 413 body too large |
//! | `GET /callback/{broker}/{environment}/{label}` | the `state` of the login in progress | a small HTML page: 200 logged in; 403 wrong state; 410 no live login (used, replayed, expired) |
//!
//! `{account}` is the key as `/health` shows it, `broker/environment/label`
//! (slashes as they are, or `%2F`). The callback is what a broker redirects
//! the browser to when its registered redirect URI points at this server
//! (behind HTTPS, `[control] public_url` set to its public address): the
//! login finishes with nothing to paste, once. `"captured": true` in the
//! `POST /login` answer says so: the login URL sends the browser back to
//! this server's callback for the account, and the page need not ask for
//! anything.

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use token_core::{AccountKey, Error, ManagedAccount, Remedy};

use super::guard::Route;
use super::{AppState, ClientIp};

/// Largest `/complete` body accepted (a redirect URL with a JWT fits).
pub const MAX_COMPLETE_BODY: usize = 8 * 1024;

/// `POST /login/{account}` answer.
#[derive(Debug, Serialize)]
struct Started {
    account: String,
    url: String,
    expects: token_core::Expects,
    instructions: String,
    expires_at: Option<String>,
    replaced: bool,
    /// The broker redirects the browser to this server's callback for the
    /// account: the login finishes by itself, with nothing to paste.
    captured: bool,
}

/// `POST /login/{account}/complete` body.
#[derive(Deserialize)]
struct Complete {
    code: String,
}

#[derive(Debug, Serialize)]
struct Failure {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remedy: Option<Remedy>,
}

fn fail(code: StatusCode, error: impl Into<String>) -> Response {
    let body = Failure {
        error: error.into(),
        url: None,
        remedy: None,
    };
    (code, Json(body)).into_response()
}

/// The configured account `raw` names (`broker/environment/label`).
fn find(state: &AppState, raw: &str) -> Option<std::sync::Arc<dyn ManagedAccount>> {
    let key: AccountKey = raw.trim_matches('/').parse().ok()?;
    state.accounts.iter().find(|a| *a.key() == key).cloned()
}

/// `POST /login/{account}` and `POST /login/{account}/complete`.
pub(crate) async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Path(rest): Path<String>,
    body: Body,
) -> Response {
    if let Err(r) = state.guard.admit(Route::Mutation, &headers, ip.0) {
        return *r;
    }
    let completing = rest
        .strip_suffix("/complete")
        .filter(|a| find(&state, a).is_some() || find(&state, &rest).is_none());
    match completing {
        Some(account) => complete(&state, account, body).await,
        None => start(&state, &headers, &rest).await,
    }
}

async fn start(state: &AppState, headers: &HeaderMap, raw: &str) -> Response {
    let Some(account) = find(state, raw) else {
        return fail(StatusCode::NOT_FOUND, "unknown account");
    };
    let key = account.key().to_string();
    if !account.can_authorize() {
        return fail(
            StatusCode::CONFLICT,
            format!("{key}: its broker offers no interactive login"),
        );
    }
    match account.login_request().await {
        Ok(begun) => {
            let r = begun.request;
            let captured =
                public_base(state, headers).is_some_and(|base| captured_here(&base, &key, &r.url));
            let body = Started {
                account: key,
                url: r.url,
                expects: r.expects,
                instructions: r.instructions,
                expires_at: r.expires_at.map(|t| t.to_rfc3339()),
                replaced: begun.replaced,
                captured,
            };
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(Error::Unsupported(_)) => fail(
            StatusCode::CONFLICT,
            format!("{key}: its broker offers no interactive login"),
        ),
        Err(e) => refused(StatusCode::BAD_GATEWAY, &e),
    }
}

/// A failure with the error's words (token-core errors never carry
/// secrets) and the remedy.
fn refused(code: StatusCode, e: &Error) -> Response {
    let body = Failure {
        error: e.to_string(),
        url: None,
        remedy: Some(e.remedy()),
    };
    (code, Json(body)).into_response()
}

async fn complete(state: &AppState, raw: &str, body: Body) -> Response {
    let Some(account) = find(state, raw) else {
        return fail(StatusCode::NOT_FOUND, "unknown account");
    };
    let key = account.key().to_string();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_COMPLETE_BODY).await else {
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is limited to {MAX_COMPLETE_BODY} bytes"),
        );
    };
    let Ok(Complete { code }) = serde_json::from_slice::<Complete>(&bytes) else {
        // Never echo the body: it holds the code.
        return fail(
            StatusCode::BAD_REQUEST,
            r#"send JSON {"code": "<verifier or the whole redirect URL>"}"#,
        );
    };
    match account.pending_authorization().await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return fail(
                StatusCode::CONFLICT,
                format!("{key}: no login in progress; start one with POST /login/{key}"),
            )
        }
        Err(e) => return refused(StatusCode::BAD_GATEWAY, &e),
    }
    finish(account.as_ref(), SecretString::from(code)).await
}

/// Completes the login in progress with `answer`: 200, 410 (expired, with
/// the new URL), 502 (broker unreachable) or 422 (refused).
async fn finish(account: &dyn ManagedAccount, answer: SecretString) -> Response {
    let key = account.key().to_string();
    match account.complete_authorization(&answer).await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({"account": key, "authorized": true})),
        )
            .into_response(),
        Err(Error::AuthorizationExpired { url }) => {
            let body = Failure {
                error: format!(
                    "{key}: that login request expired and its URL no longer works; open the new one"
                ),
                url: Some(url),
                remedy: Some(Remedy::LogIn),
            };
            (StatusCode::GONE, Json(body)).into_response()
        }
        // The broker could not be reached: not the person's answer's fault.
        Err(e) if matches!(e.remedy(), Remedy::Wait { .. }) => refused(StatusCode::BAD_GATEWAY, &e),
        Err(e) => refused(StatusCode::UNPROCESSABLE_ENTITY, &e),
    }
}

/// `GET /callback/{broker}/{environment}/{label}` (or the whole key after
/// the broker): the broker's redirect, checked against the `state` of the
/// login in progress, used once.
pub(crate) async fn callback(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Path((broker, rest)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    // No bearer token (the browser arrives from the broker), but the same
    // per-source and global budgets as any open route.
    if let Err(r) = state
        .guard
        .admit(Route::Read { open: true }, &headers, ip.0)
    {
        return *r;
    }
    let rest = rest.trim_matches('/');
    let account = find(&state, rest).or_else(|| find(&state, &format!("{broker}/{rest}")));
    let Some(account) = account.filter(|a| a.key().broker() == broker) else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown account",
            "No account here matches this address.",
        );
    };
    let key = account.key().to_string();
    let request = match account.pending_authorization().await {
        Ok(Some(r)) if r.expires_at.is_none_or(|e| e > state.clock.now()) => r,
        Ok(_) => {
            return page(
                StatusCode::GONE,
                "No login in progress",
                &format!("{key} has no live login waiting for this answer (it was already used, or it expired). Nothing was changed; start a new login."),
            )
        }
        Err(_) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "Login not finished",
                &format!("{key}: the login in progress could not be read; try again."),
            )
        }
    };
    let given = query_param(uri.query(), "state");
    let expected = query_param(
        url::Url::parse(&request.url)
            .ok()
            .and_then(|u| u.query().map(str::to_owned))
            .as_deref(),
        "state",
    );
    let matches = match (given, expected) {
        (Some(g), Some(e)) => bool::from(g.as_bytes().ct_eq(e.as_bytes())),
        _ => false,
    };
    if !matches {
        return page(
            StatusCode::FORBIDDEN,
            "Login not accepted",
            &format!("This answer does not belong to the login in progress for {key}. Nothing was changed."),
        );
    }
    let Some(base) = public_base(&state, &headers) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Login not finished",
            "The request has no Host header; set [control] public_url.",
        );
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let full = SecretString::from(format!("{base}{path}"));
    match account.complete_authorization(&full).await {
        Ok(()) => page(
            StatusCode::OK,
            "Logged in",
            &format!("Account {key} is logged in; you can close this page."),
        ),
        Err(Error::AuthorizationExpired { .. }) => page(
            StatusCode::GONE,
            "Login expired",
            &format!("That login request for {key} had expired; a new one was started. Open the link from the newest message."),
        ),
        Err(e) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Login not finished",
            &format!("{key}: {e}"),
        ),
    }
}

/// The scheme and host the broker sent the browser to: `[control]
/// public_url`, else `http://` and the `Host` header.
fn public_base(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &state.public_url {
        return Some(url.clone());
    }
    let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}"))
}

/// Whether the login at `login_url` ends at this server's callback for
/// the account `key`: one of its query values (the redirect URI, whatever
/// the broker calls it) is `{base}/callback/{key}` on the same origin.
fn captured_here(base: &str, key: &str, login_url: &str) -> bool {
    let (Ok(base), Ok(login)) = (url::Url::parse(base), url::Url::parse(login_url)) else {
        return false;
    };
    let callback = format!("{}/callback/{key}", base.path().trim_end_matches('/'));
    login.query_pairs().any(|(_, value)| {
        url::Url::parse(&value)
            .is_ok_and(|to| to.origin() == base.origin() && to.path() == callback)
    })
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A small HTML page (no script, nothing from the request but escaped text).
fn page(code: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{t}</title><h1>{t}</h1><p>{m}</p>",
        t = escape(title),
        m = escape(message)
    );
    let mut r = (code, Html(body)).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::captured_here;

    const KEY: &str = "fyers/production/main";

    fn login(redirect: &str) -> String {
        let mut u = url::Url::parse("http://127.0.0.1:9/api/v3/generate-authcode").unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", "APP-100")
            .append_pair("redirect_uri", redirect)
            .append_pair("state", "st-Qw7Zp");
        u.to_string()
    }

    #[test]
    fn a_login_is_captured_only_when_it_returns_to_this_servers_callback_for_the_account() {
        let base = "https://tokens.example.com";
        let here = login("https://tokens.example.com/callback/fyers/production/main");
        assert!(captured_here(base, KEY, &here));
        assert!(captured_here("https://tokens.example.com/", KEY, &here));
        // Under a path prefix.
        let prefixed = login("https://tokens.example.com/ctl/callback/fyers/production/main");
        assert!(captured_here(
            "https://tokens.example.com/ctl",
            KEY,
            &prefixed
        ));
        assert!(!captured_here(base, KEY, &prefixed));
        for other in [
            "https://evil.example.com/callback/fyers/production/main",
            "http://tokens.example.com/callback/fyers/production/main",
            "https://tokens.example.com:8443/callback/fyers/production/main",
            "https://tokens.example.com/callback/fyers/production/other",
            "https://tokens.example.com/fyers/callback",
            "http://127.0.0.1/fyers/callback",
        ] {
            assert!(!captured_here(base, KEY, &login(other)), "{other}");
        }
        // A code typed by a person (no redirect at all), or no URL.
        assert!(!captured_here(
            base,
            KEY,
            "https://us.etrade.com/e/t/etws/authorize?key=k&token=t"
        ));
        assert!(!captured_here(base, KEY, "not a url"));
        assert!(!captured_here("not a url", KEY, &here));
    }
}
