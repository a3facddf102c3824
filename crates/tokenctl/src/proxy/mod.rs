//! The local signing proxy (`tokenctl run --proxy ADDR`, `[proxy]`): a bot
//! sends the broker request it would have sent, unsigned, to
//! `http://ADDR/{account}/{path}?{query}`; the proxy authenticates it with
//! the account's token as the broker bundle says ([`token_core::bundle::RequestAuth`]),
//! forwards it to `{api_base}/{path}?{query}` (HTTPS, or plain HTTP to
//! loopback only), streams the answer back unchanged and counts the call as
//! use. An inactive-token answer is renewed once; a GET or HEAD is then
//! retried, nothing else is (its answer is passed back as it was). With no usable token the proxy answers
//! `503` with the person action, without contacting the broker.
//!
//! `{account}` is the account's label, or `broker.environment.label`.
//! TCP clients send `Authorization: Bearer TOKEN` (the `[proxy]` token,
//! compared in constant time); a Unix socket is created 0600 and needs no
//! token. The proxy's own answers never carry a secret.

mod config;
mod target;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use token_core::{ManagedAccount, Unavailable};

pub use config::ProxyConfig;
pub use target::{Answer, ForwardError, Outgoing, ProxyTarget, Target, INSPECT_LIMIT};

/// One account the proxy serves.
#[derive(Clone)]
pub struct ProxyAccount {
    /// The account.
    pub managed: Arc<dyn ManagedAccount>,
    /// How to forward for it; `None`: its broker has no proxy support.
    pub target: Option<Arc<dyn ProxyTarget>>,
}

struct Shared {
    accounts: HashMap<String, ProxyAccount>,
    bearer: Option<control::BearerToken>,
    http: reqwest::Client,
    max_body: usize,
    in_flight: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
}

/// Headers that belong to one connection, never forwarded either way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's routes over `accounts`. `bearer`: the token TCP clients must
/// send (`None` for a Unix socket, whose permissions decide).
pub fn router(
    accounts: Vec<ProxyAccount>,
    bearer: Option<control::BearerToken>,
    config: &ProxyConfig,
) -> Result<Router, String> {
    let http = reqwest::Client::builder()
        .timeout(config.timeout())
        .connect_timeout(config.timeout().min(std::time::Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut map = HashMap::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    for a in &accounts {
        *labels
            .entry(a.managed.key().label().to_owned())
            .or_default() += 1;
    }
    for a in accounts {
        let k = a.managed.key();
        map.insert(
            format!("{}.{}.{}", k.broker(), k.environment(), k.label()),
            a.clone(),
        );
        if labels.get(k.label()) == Some(&1) {
            map.insert(k.label().to_owned(), a);
        }
    }
    let shared = Arc::new(Shared {
        accounts: map,
        bearer,
        http,
        max_body: config.max_body_bytes,
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight)),
        max_in_flight: config.max_in_flight,
    });
    Ok(Router::new().fallback(handle).with_state(shared))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "error": code, "message": message.into() });
    (status, axum::Json(body)).into_response()
}

/// The 503 a bot gets when only a person can help: the account, why, and
/// the person action with when it is due (the JSON sink's `next_action`).
fn no_token(account: &dyn ManagedAccount, why: &str) -> Response {
    let health = account.health();
    let body = json!({
        "error": "no_usable_token",
        "account": health.key.to_string(),
        "message": why,
        "next_action": crate::sink::next_action_now(&health, why),
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    // Held until the answer's head is sent (a streamed body is not counted).
    let Ok(_permit) = s.in_flight.clone().try_acquire_owned() else {
        let mut busy = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "{} requests are under way (`max_in_flight` in [proxy]); retry shortly",
                s.max_in_flight
            ),
        );
        busy.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return busy;
    };
    if let Some(bearer) = &s.bearer {
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| bearer.verify_header(v));
        if !ok {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer TOKEN` with the [proxy] token",
            );
        }
    }
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let (name, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let Some(account) = s.accounts.get(name) else {
        let mut known: Vec<&str> = s.accounts.keys().map(String::as_str).collect();
        known.sort_unstable();
        return error(
            StatusCode::NOT_FOUND,
            "unknown_account",
            format!(
                "no account {name:?}: use /{{account}}/{{path}} with one of: {}",
                known.join(", ")
            ),
        );
    };
    let Some(target) = &account.target else {
        return error(
            StatusCode::NOT_IMPLEMENTED,
            "not_supported",
            format!(
                "the {} broker has no proxy support; use a sink or `tokenctl exec`",
                account.managed.key().broker()
            ),
        );
    };
    let mut url = match token_core::net::join(target.api_base(), rest) {
        Ok(u) if u.origin() == target.api_base().origin() => u,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_path",
                "the path is not a broker API path",
            )
        }
    };
    url.set_query(req.uri().query());
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, s.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request bodies are limited to {} bytes (`max_body_bytes` in [proxy])",
                    s.max_body
                ),
            )
        }
    };
    let out = Outgoing {
        method: parts.method,
        url,
        headers: forwardable(
            &parts.headers,
            &[header::AUTHORIZATION, header::HOST, header::CONTENT_LENGTH],
        ),
        body,
    };
    match target.forward(&s.http, &out).await {
        Ok(answer) => relay(answer),
        Err(ForwardError::Token(e)) => match e {
            token_core::Error::Unavailable(Unavailable::Expired | Unavailable::NoToken)
            | token_core::Error::Rejected { .. } => {
                no_token(account.managed.as_ref(), &e.to_string())
            }
            other => error(StatusCode::BAD_GATEWAY, "token_error", other.to_string()),
        },
        Err(e @ ForwardError::Upstream(_)) => {
            error(StatusCode::BAD_GATEWAY, "broker_unreachable", e.to_string())
        }
    }
}

/// `headers` without hop-by-hop ones and without `drop`.
fn forwardable(headers: &HeaderMap, drop: &[HeaderName]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if drop.contains(name) || HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The broker's answer, status and headers as sent.
fn relay(answer: Answer) -> Response {
    let (status, headers, body) = match answer {
        Answer::Read {
            status,
            headers,
            body,
        } => (status, headers, Body::from(body)),
        Answer::Stream(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let chunks = futures::stream::unfold(Some(resp), |state| async move {
                let mut resp = state?;
                match resp.chunk().await {
                    Ok(Some(b)) => Some((Ok(b), Some(resp))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), None)),
                }
            });
            (status, headers, Body::from_stream(chunks))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = forwardable(&headers, &[]);
    response
}

/// Serves `router` on `listener` (TCP or a Unix socket) until `shutdown`,
/// within `limits` ([`ProxyConfig::serve_limits`]): the control server's
/// accept loop ([`control::serve_limited`]), so connections are capped,
/// silent, dribbling and idle clients are closed, and shutdown is bounded.
pub async fn serve<L: control::Accept>(
    listener: L,
    router: Router,
    limits: control::ServeLimits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    control::serve_limited(listener, router, limits, shutdown).await;
}
